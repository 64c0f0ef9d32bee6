import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// How the Monte-Carlo samples of an evaluation's predictives are drawn.
public enum EvaluationSeeding: Sendable, Equatable {
    /// One generator per part — the test set ("test"), each OOD set ("ood:SET"), each shift
    /// ("shift:KIND:SEVERITY") — seeded by the seed and the part's name, so a part's figures
    /// do not depend on which other parts run. `credence bench` evaluates this way.
    case perPart(UInt64)
    /// One generator seeded once and drawn in order: the test set, then the OOD sets; each
    /// shift still has a generator of its own, as for `perPart`, so the shift grid can be
    /// split over MPI ranks. `credence evaluate`, `train --method` and `fit` evaluate this way,
    /// so a seed gives the figures these commands have always printed for it.
    case sequential(UInt64)

    /// The seed (also the seed of the shift transforms' noise).
    public var seed: UInt64 {
        switch self { case let .perPart(s), let .sequential(s): return s }
    }
}

/// The generators of one evaluation, handed out part by part as `seeding` says.
struct EvaluationRandomness {
    let seeding: EvaluationSeeding
    private var stream: RandomGenerator

    init(_ seeding: EvaluationSeeding) {
        self.seeding = seeding
        stream = RandomGenerator(seed: seeding.seed)
    }

    mutating func draw<T>(_ part: String, _ body: (inout RandomGenerator) throws -> T) rethrows -> T {
        switch seeding {
        case .sequential:
            return try body(&stream)
        case .perPart:
            return try Self.drawOwn(part, seed: seeding.seed, body)
        }
    }

    /// From the part's own generator, whatever the seeding.
    static func drawOwn<T>(_ part: String, seed: UInt64, _ body: (inout RandomGenerator) throws -> T) rethrows -> T {
        var rng = RandomGenerator(seed: derivedSeed(seed, part))
        return try body(&rng)
    }
}

/// The posterior's predictive on `inputs`, and its wall time per 1,000 inputs.
func timedPredictive(_ posterior: any Posterior, _ inputs: Tensor, samples: Int,
                     rng: inout RandomGenerator) throws -> (predictive: Predictive, secondsPer1000: Double) {
    let start = Date()
    let p = try posterior.predictive(inputs, samples: samples, rng: &rng)
    return (p, Date().timeIntervalSince(start) * 1000 / Double(Swift.max(inputs.shape.first ?? 0, 1)))
}

/// OOD inputs loaded when the evaluation reaches them (one set in memory at a time),
/// named as the source is written.
public func lazyOODInputs(_ sources: [OODSource], options: TrainingOptions,
                          test: InMemoryDataset) -> [(name: String, inputs: () throws -> Tensor)] {
    sources.map { source in
        (source.description, { try loadOODInputs(source, dataset: options.dataset, test: test, options: options.dataOptions) })
    }
}

/// Evaluates a posterior — the one path of `credence evaluate`, `train --method`, `fit`
/// and `bench`: its predictive on the test set (timed), each OOD set's and, for each shift,
/// the predictive on the shifted test inputs, all scored by `evaluationMetrics`.
///
/// `scalability` holds the prediction time per 1,000 test inputs, the stored floats, the
/// parameter count and the process's peak resident memory; `fitSeconds` is 0 (the caller
/// that fitted the posterior sets it).
///
/// With `world` (an MPI job of several ranks, every rank calling this alike) the shifts are
/// dealt out over the ranks (`MPIWorld.dealOut`) while rank 0 also scores the test and OOD
/// sets; every rank returns the whole result, the same as one process's — each shift draws
/// from a generator of its own.
///
/// ```swift
/// let metrics = try evaluatePosterior(posterior, on: test, samples: 32, seeding: .sequential(0))
/// print(metrics.classification?.accuracy ?? .nan)
/// ```
public func evaluatePosterior(_ posterior: any Posterior, on test: InMemoryDataset,
                              ood: [(name: String, inputs: () throws -> Tensor)] = [], shifts: [Shift] = [],
                              samples: Int, seeding: EvaluationSeeding, world: MPIWorld? = nil,
                              onStage: (String) -> Void = { _ in }) throws -> EvaluationMetrics {
    func shifted(_ i: Int, onStage: (String) -> Void) throws -> Predictive {
        let shift = shifts[i]
        onStage("evaluating shift \(i + 1)/\(shifts.count): \(shift.kind.rawValue) \(shift.severity)")
        let images = try applyShift(shift, to: test.inputs, seed: seeding.seed)
        return try EvaluationRandomness.drawOwn("shift:\(shift.kind.rawValue):\(shift.severity)", seed: seeding.seed) {
            try posterior.predictive(images, samples: samples, rng: &$0)
        }
    }
    let split = world.map { $0.size > 1 } ?? false
    if split, !shifts.isEmpty, test.task.classCount == nil {
        throw MetricsError.invalidArgument(name: "shifts", message: "dataset shift is evaluated for classifiers only")
    }
    let shiftTag = MPITag.shiftFigures.rawValue
    func shiftFigures(_ i: Int) throws -> Data {
        try JSONEncoder().encode(try ShiftPoint(shifts[i], predictive: try shifted(i, onStage: onStage), labels: test.labels, binCount: 15))
    }
    if let world, split, world.rank != 0 {  // only shifts to do here
        try world.dealOut(shifts.count, tag: shiftTag, shiftFigures, received: { _, _ in })
        return try ResultStore.decoder.decode(EvaluationMetrics.self, from: try world.broadcast(Data(), from: 0))
    }

    var randomness = EvaluationRandomness(seeding)
    let (p, secondsPer1000) = try randomness.draw("test") { try timedPredictive(posterior, test.inputs, samples: samples, rng: &$0) }
    var metrics = try withoutActuallyEscaping(onStage) { onStage in
        try evaluationMetrics(
            p, truth: try GroundTruth(test),
            ood: ood.map { set in
                (set.name, {
                    onStage("evaluating OOD set \(set.name)")
                    let inputs = try set.inputs()
                    return try randomness.draw("ood:\(set.name)") { try posterior.predictive(inputs, samples: samples, rng: &$0) }
                })
            },
            shifts: split ? [] : shifts.indices.map { i in (shifts[i], { try shifted(i, onStage: onStage) }) })
    }
    if let world, split {
        var points = [ShiftPoint?](repeating: nil, count: shifts.count)
        try world.dealOut(shifts.count, tag: shiftTag, shiftFigures, received: { i, bytes in
            guard let point = try? JSONDecoder().decode(ShiftPoint.self, from: bytes) else {
                throw MPIError.unexpectedMessage(from: i % world.size, message: "not a shift's figures")
            }
            points[i] = point
        })
        metrics.shift = points.compactMap { $0 }
    }
    if p.task == .classification, p.meanProbabilities.count <= EvaluationMetrics.testProbabilityLimit {
        metrics.testProbabilities = p.meanProbabilities
    }
    let cells = RegressionAgreement.defaultCells
    if p.task == .regression, p.exampleCount * p.outputCount * cells <= EvaluationMetrics.testQuantileCellMeansLimit {
        metrics.testQuantileCellMeans = try inOriginalUnits(p, of: test).predictive.quantileCellMeans(cells: cells).map(Float.init)
    }
    metrics.scalability = Scalability(fitSeconds: 0, predictionSecondsPer1000: secondsPer1000, peakResidentBytes: PeakMemory.bytes(),
                                      storedFloats: posterior.storedFloatCount, parameterCount: posterior.model.parameterCount)
    if let (chain, features) = samplerChains(posterior), chain.members.count >= 4 {
        onStage("diagnosing the chain")
        let points = try test.inputs.rows(0..<Swift.min(5, test.count))
        metrics.chain = try diagnoseChain(chain, points: try features?.features(points) ?? points, projections: 8, seed: seeding.seed)
    }
    if let world, split { _ = try world.broadcast(try ResultStore.encoder.encode(metrics), from: 0) }
    return metrics
}

/// One posterior scored on one test set: what `credence evaluate` prints, and the
/// evaluation of `train --method` and `fit`.
public struct PosteriorEvaluation: Codable, Sendable {
    public var method: String
    /// The test set's name, e.g. "fashion-mnist/test".
    public var dataset: String
    public var metrics: EvaluationMetrics
}

/// Loads a posterior file (or plain checkpoint) and evaluates it on a data set's test
/// split (by default the data set recorded in the file, with the classes it was trained
/// on), the given OOD sources and, for image data, the `shifts` (nil: none). `world` and
/// `onStage`: as for `evaluatePosterior`.
public func evaluatePosteriorFile(at path: String, dataset: DatasetName?, ood: [OODSource], shifts: ShiftSelection? = nil,
                                  samples: Int, dataDirectory: String? = nil, seed: UInt64 = 0, world: MPIWorld? = nil,
                                  onStage: (String) -> Void = { _ in }) throws -> PosteriorEvaluation {
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    let (test, options) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset,
                                              dataDirectory: dataDirectory, inputShape: posterior.model.spec.inputShape)
    if shifts != nil, test.inputShape.count != 3 || test.task.classCount == nil {
        throw InferenceError.invalidOption("--shifts transform images of a classification test set; \(test.name) has inputs \(test.inputShape)")
    }
    let metrics = try evaluatePosterior(posterior, on: test, ood: lazyOODInputs(ood, options: options, test: test),
                                        shifts: shifts.map(\.shifts) ?? [], samples: samples, seeding: .sequential(seed), world: world,
                                        onStage: onStage)
    return PosteriorEvaluation(method: posterior.method, dataset: test.name, metrics: metrics)
}

/// The test split a saved model or posterior belongs to: `dataset`, or the data set its
/// metadata records, drawn with the recorded seed (synthetic test sets depend on it) and
/// without the classes its training held out; with the run's options as far as recorded.
/// Throws when neither names a data set, or when the model does not fit the data.
func recordedTestSet(of path: String, metadata: [String: String], dataset: DatasetName?, dataDirectory: String?,
                     inputShape: [Int]) throws -> (test: InMemoryDataset, options: TrainingOptions) {
    let recorded = metadata["credence.training_options"].flatMap { try? JSONDecoder().decode(TrainingOptions.self, from: Data($0.utf8)) }
    guard let name = dataset ?? metadata["credence.dataset"].flatMap(DatasetName.init(rawValue:)) else {
        throw TrainingError.invalidConfiguration("\(path) does not say which data set it belongs to; pass --dataset")
    }
    var options = recorded ?? TrainingOptions()
    if name != options.dataset { options.heldOutClasses = nil }  // another data set: its own classes
    options.dataset = name
    options.dataDirectory = dataDirectory
    options.trainLimit = nil
    options.seed = metadata["credence.seed"].flatMap(UInt64.init) ?? options.seed
    let (_, test) = try loadDataset(name, options: options.dataOptions)
    guard inputShape == test.inputShape else {
        throw ModelError.inputShape(layer: "\(path)", got: test.inputShape,
                                    expected: "\(inputShape) — it was trained on other data")
    }
    return (test, options)
}

/// Loads a checkpoint and evaluates it on the test split of a data set (by default the
/// one it was trained on, read from its metadata).
public func evaluateCheckpoint(at path: String, dataset: DatasetName?, dataDirectory: String? = nil) throws -> EvaluationSummary {
    let checkpoint = try Checkpoint.load(from: path)
    let (test, _) = try recordedTestSet(of: path, metadata: checkpoint.metadata, dataset: dataset,
                                        dataDirectory: dataDirectory, inputShape: checkpoint.spec.inputShape)
    return try evaluate(model: checkpoint.model(), parameters: checkpoint.parameters, on: test)  // with its buffers
}
