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
    case square, zoo
    /// AutoAttack's standard protocol (APGD-CE → APGD-T → Square), and its 'rand' version
    /// (APGD-CE → APGD-DLR with EOT) for stochastic models.
    case autoattack, autoattackRand = "autoattack-rand"

    /// Steps when none are asked for: PGD's and MIM's 10 (torchattacks'), APGD's 100 (AutoAttack's).
    public var defaultSteps: Int {
        switch self {
        case .fgsm, .square: return 1
        case .pgd, .mim: return 10
        case .apgdCE, .apgdDLR, .apgdT, .autoattack, .autoattackRand, .zoo: return 100
        }
    }

    /// Whether the attack sets its own step size (`--step-size` is refused).
    var choosesStepSize: Bool { ![.pgd, .mim].contains(self) }
    /// Whether random restarts mean something for it.
    var takesRestarts: Bool { [.pgd, .apgdCE, .apgdDLR, .apgdT, .square].contains(self) }
    var usesSteps: Bool { ![.fgsm, .square].contains(self) }
}

/// What `credence attack` (and a suite's attack evaluation) does: the attack and its budgets,
/// its settings, and how the posterior is attacked and scored.
public struct AttackSettings: Codable, Sendable, Hashable {
    public var attack: AttackKind
    public var norm: AttackNorm = .linf
    public var epsilons: [Float]
    /// nil: the attack's default (`AttackKind.defaultSteps`).
    public var steps: Int?
    /// α of PGD (default 2.5ε/steps) and MIM (ε/steps); the others choose their own.
    public var stepSize: Float?
    public var restarts = 1
    /// APGD-T's and AutoAttack's targets per example (2nd, 3rd, … most likely classes).
    public var targetClasses = 9
    /// Square's (and AutoAttack's Square's) queries per example.
    public var queries = 5000
    /// ZOO: coordinates estimated per step, and the finite-difference step h.
    public var coordinates = 128
    public var differenceStep: Float = 1e-4
    /// PGD and MIM stop attacking an example once a deterministic model misclassifies it (not
    /// in a transfer attack: an input only just across the surrogate's boundary transfers poorly).
    public var stopWhenFooled = true
    /// K posterior samples per gradient or query, and which loss they share.
    public var eotSamples = 1
    public var eotLoss: EOTLoss = .bayesModelAverage
    /// The first N test examples are attacked.
    public var examples = 1000
    /// Monte-Carlo samples of the predictive that is scored.
    public var samples = 32
    /// A stochastic posterior's adversarial inputs are scored this many times; an example is
    /// robust only if it is classified correctly every time.
    public var repeats = 5
    /// Run the gradient-masking checks (`GradientMaskingChecks`) after the evaluation (not for
    /// transfer attacks).
    public var checks = true
    /// A transfer attack: the adversarial inputs are crafted on this posterior file (a Bayesian
    /// surrogate's samples attacked with its EOT) and scored on the attacked one.
    public var surrogate: String?
    public var seed: UInt64 = 0

    public init(attack: AttackKind, epsilons: [Float]) {
        self.attack = attack
        self.epsilons = epsilons
    }

    /// The steps the attack takes.
    public var resolvedSteps: Int { attack.usesSteps ? steps ?? attack.defaultSteps : 1 }

    public func validate() throws {
        guard !epsilons.isEmpty, epsilons.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw InferenceError.invalidOption("--eps needs one or more budgets ≥ 0, got \(epsilons)")
        }
        guard examples >= 1, samples >= 1, eotSamples >= 1, targetClasses >= 1, queries >= 1, restarts >= 1, repeats >= 1, coordinates >= 1 else {
            throw InferenceError.invalidOption("--examples, --samples, --eot-samples, --target-classes, --queries, --restarts, --repeats and --coordinates must be ≥ 1")
        }
        guard differenceStep > 0, differenceStep.isFinite else {
            throw InferenceError.invalidOption("--difference-step must be > 0, got \(differenceStep)")
        }
        if attack.choosesStepSize, stepSize != nil {
            throw InferenceError.invalidOption("\(attack.rawValue) chooses its own step size; drop --step-size (it is for pgd and mim)")
        }
        if !attack.takesRestarts, restarts != 1 {
            throw InferenceError.invalidOption("\(attack.rawValue) takes no restarts; drop --restarts")
        }
        if let steps, !attack.usesSteps || steps < 1 {
            throw InferenceError.invalidOption(attack.usesSteps ? "--steps must be ≥ 1, got \(steps)" : "\(attack.rawValue) takes no --steps")
        }
    }

    /// The attack at budget ε on inputs in `inputRange`.
    func attacker(epsilon: Float, inputRange: ClosedRange<Float>) -> any Attack {
        let steps = resolvedSteps
        let apgd = { (loss: AttackLoss) in
            APGD(norm: norm, epsilon: epsilon, steps: steps, restarts: restarts, loss: loss, targetClasses: targetClasses, inputRange: inputRange)
        }
        switch attack {
        case .fgsm: return PGD.fgsm(norm: norm, epsilon: epsilon, inputRange: inputRange)
        case .pgd:
            return PGD(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, randomStart: true, restarts: restarts,
                       inputRange: inputRange, stopWhenFooled: stopWhenFooled)
        case .mim:
            var mim = PGD.mim(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, inputRange: inputRange)
            mim.stopWhenFooled = stopWhenFooled
            return mim
        case .apgdCE: return apgd(.crossEntropy)
        case .apgdDLR: return apgd(.dlr)
        case .apgdT: return apgd(.targetedDLR)
        case .square: return Square(norm: norm, epsilon: epsilon, queries: queries, restarts: restarts, inputRange: inputRange)
        case .zoo:
            return ZOO(norm: norm, epsilon: epsilon, steps: steps, coordinates: coordinates, differenceStep: differenceStep, inputRange: inputRange)
        case .autoattack, .autoattackRand:
            return AutoAttack(version: attack == .autoattack ? .standard : .randomized, norm: norm, epsilon: epsilon, steps: steps,
                              targetClasses: targetClasses, queries: queries, inputRange: inputRange)
        }
    }
}

/// What `attackPosteriorFile` measured.
public struct AttackResult: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var epsilon: Float
        public var robustAccuracy: Double
        /// AutoAttack: the fraction still classified correctly after each of its attacks, in order.
        public var stages: [Stage]?
        /// A stochastic posterior: the fraction classified correctly in every one of `repeats` scorings.
        public var robustInEveryRepeat: Double?
        /// Does the posterior know it is being fooled? The mean predictive entropy and mutual
        /// information (sampled posteriors) on the adversarial inputs, and the AUROC of telling
        /// them from the clean ones by each uncertainty score.
        public var meanEntropy: Double
        public var meanMutualInformation: Double?
        public var detectionAUROC: [String: Double]
        /// The ROC curve of detection by predictive entropy (for the report's chart).
        public var entropyROC: [ROCPoint]?
    }
    public struct Stage: Codable, Sendable, Equatable {
        public var attack: String
        public var robustAccuracy: Double
    }
    public var method: String
    public var dataset: String
    public var examples: Int
    /// The surrogate a transfer attack crafted its inputs on (its method and file).
    public var surrogate: String?
    public var attack: AttackKind
    public var norm: AttackNorm
    public var steps: Int
    /// α per step; nil: 2.5ε/steps (PGD), ε/steps (MIM) or ε (FGSM), per ε; the others choose their own.
    public var stepSize: Float?
    public var restarts: Int
    /// APGD-T's and AutoAttack's targets per example.
    public var targetClasses: Int?
    /// Square's and AutoAttack's queries per example.
    public var queries: Int?
    /// ZOO's coordinates per step and difference step.
    public var coordinates: Int?
    public var differenceStep: Float?
    /// PGD and MIM stopped attacking an example once a deterministic model misclassified it.
    public var stopWhenFooled: Bool
    /// K posterior samples per gradient, and which loss they share.
    public var eotSamples: Int
    public var eotLoss: EOTLoss
    /// The valid input range the perturbations are clipped to (the test inputs' own range).
    public var inputRange: [Float]
    public var cleanAccuracy: Double
    public var cleanMeanEntropy: Double
    public var cleanMeanMutualInformation: Double?
    public var points: [Point]
    /// The gradient-masking checks (nil when turned off).
    public var checks: [MaskingCheck]?
    public var seconds: Double
    /// Set when a stochastic posterior was attacked with one sample per gradient (no EOT).
    public var warning: String?
}

/// Attacks the posterior (or plain checkpoint, as MAP) at `path` on the first
/// `settings.examples` test images of its data set, at each ε, and reports clean and robust
/// accuracy (the posterior's predictive with `settings.samples` Monte-Carlo samples on the
/// adversarial inputs). `saveAdversarials`: a `.npy` path for the adversarial inputs (with
/// several ε, one file each, "-eps<ε>" before the extension).
public func attackPosteriorFile(at path: String, settings: AttackSettings, dataset: DatasetName? = nil,
                                dataDirectory: String? = nil, saveAdversarials: String? = nil) throws -> AttackResult {
    try settings.validate()
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    guard posterior.task == .classification else {
        throw InferenceError.invalidOption("\(path) holds a regression posterior; the attacks are for classifiers")
    }
    let (test, _) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset,
                                        dataDirectory: dataDirectory, inputShape: posterior.model.spec.inputShape)
    // A transfer attack crafts on the surrogate, which must read the same inputs and classes.
    var surrogate: (any Posterior)?
    if let surrogatePath = settings.surrogate {
        let crafting = try loadPosterior(from: surrogatePath)
        guard crafting.model.spec.inputShape == posterior.model.spec.inputShape,
              crafting.model.outputShape == posterior.model.outputShape, crafting.task == .classification else {
            throw InferenceError.invalidOption(
                "the surrogate \(surrogatePath) takes inputs \(crafting.model.spec.inputShape) to \(crafting.model.outputShape), the attacked posterior \(posterior.model.spec.inputShape) to \(posterior.model.outputShape): they must match")
        }
        surrogate = crafting
    }
    return try attackPosterior(posterior, test: test, settings: settings, surrogate: surrogate, saveAdversarials: saveAdversarials)
}

/// Attacks `posterior` on the first `settings.examples` examples of `test` (the workflow of
/// `attackPosteriorFile`, and of a suite's `attacks` evaluation); `surrogate`, when given,
/// is the posterior the inputs are crafted on.
public func attackPosterior(_ posterior: any Posterior, test: InMemoryDataset, settings: AttackSettings, surrogate: (any Posterior)? = nil,
                            saveAdversarials: String? = nil) throws -> AttackResult {
    try settings.validate()
    var settings = settings
    if surrogate != nil { settings.stopWhenFooled = false }
    let crafting = surrogate ?? posterior
    let n = Swift.min(settings.examples, test.count)
    let inputs = try test.inputs.rows(0..<n), labels = Array(test.labels[0..<n])
    let values = inputs.values
    let range = (values.min() ?? 0)...(values.max() ?? 1)
    let target = AttackTarget(posterior: crafting, eotSamples: settings.eotSamples, loss: settings.eotLoss)
    let start = Date()
    var rng = RandomGenerator(seed: settings.seed)
    let cleanPredictive = try posterior.predictive(inputs, samples: settings.samples, rng: &rng)
    let clean = try accuracy(cleanPredictive, labels: labels)
    let sampled = posterior.sampleCount(requested: 2) > 1
    let scores: [UncertaintyScore] = sampled ? [.maxProbability, .entropy, .mutualInformation] : [.maxProbability, .entropy]
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(Swift.max(values.count, 1)) }
    var points: [AttackResult.Point] = []
    for epsilon in settings.epsilons {
        let attacker = settings.attacker(epsilon: epsilon, inputRange: range)
        let evaluation: RobustEvaluation
        var stages: [AttackResult.Stage]?
        if let protocolRun = attacker as? AutoAttack {
            // AutoAttack in batches of 500, keeping its count after each attack.
            var adversarial = inputs
            var remaining: [(name: String, robust: Int)] = []
            for batch in stride(from: 0, to: n, by: 500) {
                let rows = batch..<Swift.min(batch + 500, n)
                let run = try protocolRun.run(try inputs.rows(rows), labels: Array(labels[rows]), target: target, rng: &rng)
                try adversarial.setRows(Array(rows), from: run.adversarial)
                remaining = remaining.isEmpty ? run.robustAfter : zip(remaining, run.robustAfter).map { ($0.name, $0.robust + $1.robust) }
            }
            stages = remaining.map { .init(attack: $0.name, robustAccuracy: Double($0.robust) / Double(n)) }
            evaluation = try scoreRobustness(adversarial, labels: labels, posterior: posterior, samples: settings.samples,
                                             repeats: settings.repeats, rng: &rng)
        } else {
            evaluation = try evaluateRobustness(attacker, target: target, inputs: inputs, labels: labels, victim: posterior,
                                                samples: settings.samples, repeats: settings.repeats, rng: &rng)
        }
        if let saveAdversarials {
            try NumPy.write(evaluation.adversarial, to: settings.epsilons.count == 1 ? saveAdversarials
                                : adversarialsPath(saveAdversarials, epsilon: epsilon))
        }
        var detection: [String: Double] = [:], entropyROC: [ROCPoint]?
        for score in scores {
            let scored = try oodDetection(inDistribution: cleanPredictive, outOfDistribution: evaluation.predictive, score: score,
                                          maxROCPoints: 100)
            detection[score.rawValue] = scored.auroc
            if score == .entropy { entropyROC = scored.rocCurve }
        }
        points.append(.init(epsilon: epsilon, robustAccuracy: evaluation.robustAccuracy, stages: stages,
                            robustInEveryRepeat: evaluation.robustInEveryRepeat, meanEntropy: mean(evaluation.predictive.totalEntropy),
                            meanMutualInformation: sampled ? mean(evaluation.predictive.mutualInformation) : nil, detectionAUROC: detection,
                            entropyROC: entropyROC))
    }
    let checks = settings.checks && surrogate == nil
        ? try GradientMaskingChecks(samples: settings.samples).run(target: target, inputs: inputs, labels: labels, norm: settings.norm,
                                                                  inputRange: range,
                                                                  robustByEpsilon: points.map { ($0.epsilon, $0.robustAccuracy) }, rng: &rng)
        : nil
    let warning = target.isStochastic && settings.eotSamples == 1
        ? "\(crafting.method) is stochastic and was attacked with one sample per gradient (no EOT): the attack is weakened; pass --eot-samples K"
        : nil
    let attack = settings.attack
    return AttackResult(method: posterior.method, dataset: test.name, examples: n,
                        surrogate: surrogate.map { _ in crafting.method + (settings.surrogate.map { " (\($0))" } ?? "") },
                        attack: attack, norm: settings.norm,
                        steps: settings.resolvedSteps, stepSize: settings.stepSize, restarts: settings.restarts,
                        targetClasses: [.apgdT, .autoattack].contains(attack) ? settings.targetClasses : nil,
                        queries: [.square, .autoattack].contains(attack) ? settings.queries : nil,
                        coordinates: attack == .zoo ? settings.coordinates : nil, differenceStep: attack == .zoo ? settings.differenceStep : nil,
                        stopWhenFooled: settings.stopWhenFooled && (attack == .pgd || attack == .mim) && !target.isStochastic,
                        eotSamples: settings.eotSamples, eotLoss: settings.eotLoss, inputRange: [range.lowerBound, range.upperBound],
                        cleanAccuracy: clean, cleanMeanEntropy: mean(cleanPredictive.totalEntropy),
                        cleanMeanMutualInformation: sampled ? mean(cleanPredictive.mutualInformation) : nil, points: points,
                        checks: checks, seconds: Date().timeIntervalSince(start), warning: warning)
}

/// `path` with "-eps<ε>" before its extension (adversarial inputs of one budget).
func adversarialsPath(_ path: String, epsilon: Float) -> String {
    let url = URL(fileURLWithPath: path)
    let ext = url.pathExtension.isEmpty ? "npy" : url.pathExtension
    return url.deletingPathExtension().path + "-eps\(epsilon)." + ext
}
