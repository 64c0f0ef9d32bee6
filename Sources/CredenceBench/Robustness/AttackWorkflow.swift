import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceRobustness
import CredenceTensor
import Foundation

/// The attacks `credence attack` runs.
public enum AttackKind: String, Codable, Sendable, CaseIterable {
    case fgsm, pgd
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
    /// α per step; nil: 2.5ε/steps (PGD) or ε (FGSM), per ε.
    public var stepSize: Float?
    public var restarts: Int
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
public func attackPosteriorFile(at path: String, dataset: DatasetName? = nil, attack: AttackKind, norm: AttackNorm,
                                epsilons: [Float], steps: Int = 10, stepSize: Float? = nil, restarts: Int = 1,
                                eotSamples: Int = 1, eotLoss: EOTLoss = .bayesModelAverage, examples: Int = 1000,
                                samples: Int = 32, seed: UInt64 = 0, dataDirectory: String? = nil) throws -> AttackResult {
    guard !epsilons.isEmpty, epsilons.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
        throw InferenceError.invalidOption("--eps needs one or more budgets ≥ 0, got \(epsilons)")
    }
    guard examples >= 1, samples >= 1, eotSamples >= 1 else {
        throw InferenceError.invalidOption("--examples, --samples and --eot-samples must be ≥ 1")
    }
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
        let pgd = attack == .fgsm ? PGD.fgsm(norm: norm, epsilon: epsilon, inputRange: range)
            : PGD(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, randomStart: true, restarts: restarts, inputRange: range)
        points.append(.init(epsilon: epsilon, robustAccuracy: try robustAccuracy(pgd, target: target, inputs: inputs, labels: labels,
                                                                                  samples: samples, rng: &rng)))
    }
    let warning = target.isStochastic && eotSamples == 1
        ? "\(posterior.method) is stochastic and was attacked with one sample per gradient (no EOT): its robust accuracy is overstated; pass --eot-samples K"
        : nil
    return AttackResult(method: posterior.method, dataset: test.name, examples: n, attack: attack, norm: norm,
                        steps: attack == .fgsm ? 1 : steps, stepSize: stepSize, restarts: attack == .fgsm ? 1 : restarts,
                        eotSamples: eotSamples, eotLoss: eotLoss, inputRange: [range.lowerBound, range.upperBound],
                        cleanAccuracy: clean, points: points, seconds: Date().timeIntervalSince(start), warning: warning)
}
