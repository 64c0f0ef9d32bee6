import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceRobustness
import CredenceTensor
import Foundation

/// The attacks `credence attack` runs.
public enum AttackKind: String, Codable, Sendable, CaseIterable {
    case fgsm, pgd, mim
    case apgdCE = "apgd-ce", apgdDLR = "apgd-dlr", apgdT = "apgd-t"

    /// Steps when none are asked for: PGD's and MIM's 10 (torchattacks'), APGD's 100 (AutoAttack's).
    public var defaultSteps: Int {
        switch self {
        case .fgsm: return 1
        case .pgd, .mim: return 10
        case .apgdCE, .apgdDLR, .apgdT: return 100
        }
    }

    public var isAPGD: Bool { [.apgdCE, .apgdDLR, .apgdT].contains(self) }

    /// The attack at budget ε.
    func attack(norm: AttackNorm, epsilon: Float, steps: Int, stepSize: Float?, restarts: Int, targetClasses: Int,
                stopWhenFooled: Bool, inputRange: ClosedRange<Float>) -> any Attack {
        switch self {
        case .fgsm: return PGD.fgsm(norm: norm, epsilon: epsilon, inputRange: inputRange)
        case .pgd:
            return PGD(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, randomStart: true, restarts: restarts,
                       inputRange: inputRange, stopWhenFooled: stopWhenFooled)
        case .mim:
            var mim = PGD.mim(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, inputRange: inputRange)
            mim.stopWhenFooled = stopWhenFooled
            return mim
        case .apgdCE, .apgdDLR, .apgdT:
            let loss: AttackLoss = self == .apgdCE ? .crossEntropy : self == .apgdDLR ? .dlr : .targetedDLR
            return APGD(norm: norm, epsilon: epsilon, steps: steps, restarts: restarts, loss: loss, targetClasses: targetClasses,
                        inputRange: inputRange)
        }
    }
}

/// What `attackPosteriorFile` measured.
public struct AttackResult: Codable, Sendable {
    public struct Point: Codable, Sendable {
        public var epsilon: Float
        public var robustAccuracy: Double
    }
    public var method: String
    public var dataset: String
    public var examples: Int
    public var attack: AttackKind
    public var norm: AttackNorm
    public var steps: Int
    /// α per step; nil: 2.5ε/steps (PGD), ε/steps (MIM) or ε (FGSM), per ε; APGD chooses its own.
    public var stepSize: Float?
    public var restarts: Int
    /// APGD-T: the targets tried per example (its 2nd, 3rd, … most likely classes).
    public var targetClasses: Int?
    /// PGD and MIM stopped attacking an example once a deterministic model misclassified it.
    public var stopWhenFooled: Bool
    /// K posterior samples per gradient, and which loss they share.
    public var eotSamples: Int
    public var eotLoss: EOTLoss
    /// The valid input range the perturbations are clipped to (the test inputs' own range).
    public var inputRange: [Float]
    public var cleanAccuracy: Double
    public var points: [Point]
    public var seconds: Double
    /// Set when a stochastic posterior was attacked with one sample per gradient (no EOT).
    public var warning: String?
}

/// Attacks the posterior (or plain checkpoint, as MAP) at `path` on the first `examples`
/// test images of its data set, at each ε, and reports clean and robust accuracy (the
/// posterior's predictive with `samples` Monte-Carlo samples on the adversarial inputs).
/// `steps` nil: the attack's default (`AttackKind.defaultSteps`).
public func attackPosteriorFile(at path: String, dataset: DatasetName? = nil, attack: AttackKind, norm: AttackNorm,
                                epsilons: [Float], steps: Int? = nil, stepSize: Float? = nil, restarts: Int = 1,
                                targetClasses: Int = 9, stopWhenFooled: Bool = true, eotSamples: Int = 1,
                                eotLoss: EOTLoss = .bayesModelAverage,
                                examples: Int = 1000, samples: Int = 32, seed: UInt64 = 0,
                                dataDirectory: String? = nil) throws -> AttackResult {
    guard !epsilons.isEmpty, epsilons.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
        throw InferenceError.invalidOption("--eps needs one or more budgets ≥ 0, got \(epsilons)")
    }
    guard examples >= 1, samples >= 1, eotSamples >= 1, targetClasses >= 1 else {
        throw InferenceError.invalidOption("--examples, --samples, --eot-samples and --target-classes must be ≥ 1")
    }
    if attack.isAPGD, stepSize != nil {
        throw InferenceError.invalidOption("APGD chooses its own step size (2ε, halved at checkpoints); drop --step-size")
    }
    if attack == .fgsm || attack == .mim, restarts != 1 {
        throw InferenceError.invalidOption("\(attack.rawValue) starts from the clean input, so restarts would repeat it; drop --restarts")
    }
    let steps = attack == .fgsm ? 1 : steps ?? attack.defaultSteps
    guard steps >= 1 else { throw InferenceError.invalidOption("--steps must be ≥ 1, got \(steps)") }
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    guard posterior.task == .classification else {
        throw InferenceError.invalidOption("\(path) holds a regression posterior; the attacks are for classifiers")
    }
    let (test, _) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset,
                                        dataDirectory: dataDirectory, inputShape: posterior.model.spec.inputShape)
    let n = Swift.min(examples, test.count)
    let inputs = try test.inputs.rows(0..<n), labels = Array(test.labels[0..<n])
    let values = inputs.values
    let range = (values.min() ?? 0)...(values.max() ?? 1)
    let target = AttackTarget(posterior: posterior, eotSamples: eotSamples, loss: eotLoss)
    let start = Date()
    var rng = RandomGenerator(seed: seed)
    let clean = try accuracy(try posterior.predictive(inputs, samples: samples, rng: &rng), labels: labels)
    var points: [AttackResult.Point] = []
    for epsilon in epsilons {
        let attacker = attack.attack(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, restarts: restarts,
                                     targetClasses: targetClasses, stopWhenFooled: stopWhenFooled, inputRange: range)
        points.append(.init(epsilon: epsilon, robustAccuracy: try robustAccuracy(attacker, target: target, inputs: inputs, labels: labels,
                                                                                  samples: samples, rng: &rng)))
    }
    let warning = target.isStochastic && eotSamples == 1
        ? "\(posterior.method) is stochastic and was attacked with one sample per gradient (no EOT): its robust accuracy is overstated; pass --eot-samples K"
        : nil
    return AttackResult(method: posterior.method, dataset: test.name, examples: n, attack: attack, norm: norm,
                        steps: steps, stepSize: stepSize, restarts: restarts, targetClasses: attack == .apgdT ? targetClasses : nil,
                        stopWhenFooled: stopWhenFooled && (attack == .pgd || attack == .mim) && !target.isStochastic,
                        eotSamples: eotSamples, eotLoss: eotLoss, inputRange: [range.lowerBound, range.upperBound],
                        cleanAccuracy: clean, points: points, seconds: Date().timeIntervalSince(start), warning: warning)
}
