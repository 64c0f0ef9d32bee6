import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// The experiment STF-BNN rests on: retrain one layer of a trained network from several
/// fresh initialisations with every other layer fixed, and look at the solutions — their
/// losses, how far apart they are, and the training loss along the straight line between two
/// of them. Distinct solutions of similar loss with a barrier between them mean the layer's
/// posterior is multi-modal given the rest (the first layer, by the STF-BNN argument); one
/// solution, or solutions joined by a flat path, mean it is not (the last layer, whose
/// problem given the features is convex: softmax regression).
public struct LayerOptimaReport: Codable, Sendable {
    public struct Solution: Codable, Sendable {
        /// Seed of the re-initialisation (nil: the trained network's own layer).
        public var seed: UInt64?
        public var trainLoss: Double
        public var testAccuracy: Double
    }

    public struct PathPoint: Codable, Sendable {
        /// θ(a) = (1 − a)·θ₁ + a·θ₂ on the layer.
        public var alpha: Double
        public var trainLoss: Double
    }

    /// The layer's module name ("1", the first parameterized layer of the MLP) and its parameter count.
    public var layer: String
    public var parameters: Int
    public var original: Solution
    public var restarts: [Solution]
    /// ‖θᵢ − θⱼ‖ / ((‖θᵢ‖ + ‖θⱼ‖)/2) for every pair of restarts, row-major.
    public var relativeDistances: [[Double]]
    /// Each restart's relative distance to the trained network's layer.
    public var relativeDistanceToOriginal: [Double]
    /// The training loss on the line between the first two restarts.
    public var path: [PathPoint]
    /// max over the path of the training loss, minus the mean of its two ends.
    public var barrier: Double
}

/// Which layer `layerOptimaExperiment` retrains.
public enum RetrainedLayer: String, CaseIterable, Codable, Sendable {
    /// the first layer with parameters
    case first
    /// the last layer with parameters
    case last
}

/// Runs the experiment on the network in `path`: `restarts` fresh initialisations of `layer`
/// (PyTorch's, from seeds 1…restarts), each trained for `epochs` epochs of Adam at
/// `learningRate` on the run's training data with the other layers fixed. Losses are the mean
/// cross-entropy on the whole training set.
public func layerOptimaExperiment(checkpoint path: String, layer: RetrainedLayer, restarts: Int = 3, epochs: Int = 5,
                                  learningRate: Float = 1e-3, dataDirectory: String? = nil,
                                  log: (String) -> Void = { _ in }) throws -> LayerOptimaReport {
    guard restarts >= 2 else { throw TrainingError.invalidConfiguration("the experiment compares solutions: it needs ≥ 2 restarts, got \(restarts)") }
    guard epochs >= 1 else { throw TrainingError.invalidConfiguration("retraining needs ≥ 1 epoch, got \(epochs)") }
    let archive = try PosteriorArchive.load(from: path)
    let point = try loadPointPosterior(from: archive, path: path)
    var options = try recordedRunOptions(archive, path: path, need: "layer-optima retrains on the run's data")
    options.dataDirectory = dataDirectory ?? options.dataDirectory
    let (train, _, test) = try loadRunData(options)
    guard case .classification = train.task else {
        throw TrainingError.invalidConfiguration("the layer-optima experiment measures cross-entropy; \(train.name) is a regression set")
    }
    let model = point.model
    let modules = model.layout.moduleNames
    let module = layer == .first ? modules.first! : modules.last!
    let entries = model.layout.entries.filter { ParameterLayout.module(of: $0.name) == module }
    let range = entries.first!.offset..<entries.last!.range.upperBound

    func trainLoss(_ theta: Tensor) throws -> Double {
        try negativeLogLikelihood(try Predictive(logits: try model.predictBatched(train.inputs, parameters: theta)), labels: train.labels)
    }
    func solution(_ theta: Tensor, seed: UInt64?) throws -> LayerOptimaReport.Solution {
        let accuracy = try CredenceMetrics.accuracy(try Predictive(logits: try model.predictBatched(test.inputs, parameters: theta)),
                                                    labels: test.labels)
        return .init(seed: seed, trainLoss: try trainLoss(theta), testAccuracy: accuracy)
    }
    func window(_ theta: Tensor) -> [Double] { theta.values[range].map(Double.init) }

    var solutions: [Tensor] = []
    var report = LayerOptimaReport(layer: module, parameters: range.count, original: try solution(point.parameters, seed: nil),
                                   restarts: [], relativeDistances: [], relativeDistanceToOriginal: [], path: [], barrier: 0)
    let trainer = Trainer(model: model, optimizer: .adam(learningRate: .constant(learningRate), parameterCount: model.parameterCount),
                          configuration: TrainingConfiguration(epochs: epochs))
    for seed in 1...UInt64(restarts) {
        var rng = RandomGenerator(seed: seed)
        let fresh = model.initialParameters(rng: &rng)
        var theta = point.parameters
        theta.withUnsafeMutableBufferPointer { t in fresh.withUnsafeBufferPointer { f in for i in range { t[i] = f[i] } } }
        var optimizer = trainer.optimizer
        // Every other parameter gets a zero gradient, which Adam leaves where it is.
        try EpochLoop(epochs: epochs, batchSize: options.batchSize, seed: seed).run(data: train, step: { batch, rng in
            let (loss, _, g0) = try trainer.lossAndGradient(parameters: theta, batch: batch, rng: &rng, mode: .eval)
            try EpochLoop.requireFinite(loss)
            var gradient = g0
            gradient.withUnsafeMutableBufferPointer { g in
                for i in 0..<range.lowerBound { g[i] = 0 }
                for i in range.upperBound..<g.count { g[i] = 0 }
            }
            optimizer.update(&theta, gradient: gradient)
            return StepReport(loss: loss)
        })
        solutions.append(theta)
        report.restarts.append(try solution(theta, seed: seed))
        log(String(format: "layer %@, restart %d: train loss %.4f, test accuracy %.4f", module as NSString, Int(seed),
                   report.restarts.last!.trainLoss, report.restarts.last!.testAccuracy))
    }
    func norm(_ v: [Double]) -> Double { v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
    func relative(_ a: [Double], _ b: [Double]) -> Double { norm(zip(a, b).map { $0 - $1 }) / ((norm(a) + norm(b)) / 2) }
    let windows = solutions.map(window), original = window(point.parameters)
    report.relativeDistances = windows.map { a in windows.map { b in relative(a, b) } }
    report.relativeDistanceToOriginal = windows.map { relative($0, original) }
    for k in 0...10 {
        let alpha = Double(k) / 10
        var theta = solutions[0]
        theta.withUnsafeMutableBufferPointer { t in
            solutions[1].withUnsafeBufferPointer { b in for i in range { t[i] = Float(1 - alpha) * t[i] + Float(alpha) * b[i] } }
        }
        report.path.append(.init(alpha: alpha, trainLoss: try trainLoss(theta)))
    }
    let ends = (report.path.first!.trainLoss + report.path.last!.trainLoss) / 2
    report.barrier = (report.path.map(\.trainLoss).max() ?? ends) - ends
    return report
}
