import CredenceData
import CredenceInference
import CredenceNN
import CredenceRobustness
import CredenceTensor
import Foundation

/// The certificates `credence certify` computes.
public enum CertificationMethod: String, Codable, CaseIterable, Sendable {
    /// Randomized smoothing (Cohen et al. 2019): a class and a certified L2 radius per input.
    case smoothing
    /// Interval bound propagation (Gowal et al. 2018): verified accuracy at each L∞ ε of a
    /// deterministic network.
    case ibp
    /// Probabilistic safety of a Bayesian network (Wicker et al. 2020): per L∞ ε, the mean over
    /// the examples of a lower bound on the posterior probability that every point of the ε-box
    /// keeps the true class (exact Gaussian mass for mean-field VI and diagonal Laplace; a
    /// Clopper–Pearson bound on the fraction of sampled networks IBP verifies otherwise).
    case probabilisticSafety = "probabilistic-safety"
}

/// Settings of one certification run; every field has the CLI's default.
public struct CertificationSettings: Codable, Hashable, Sendable {
    public var method: CertificationMethod = .smoothing
    /// σ of the smoothing noise.
    public var sigma: Float = 0.25
    /// Noise samples that choose the class (n₀) and that estimate its probability (n).
    public var selectionSamples = 100
    public var estimationSamples = 100_000
    /// 1 − α is the confidence of every certificate.
    public var alpha = 0.001
    /// Test examples certified: indices 0, skip, 2·skip, … (the first `examples` of them).
    public var examples = 100
    public var skip = 1
    /// Posterior samples whose mean probabilities make the base classifier.
    public var posteriorSamples = 1
    /// Noisy copies per forward pass.
    public var batchSize = 1000
    /// Smoothing: draw the noise in input space even where it could be drawn after a narrowing
    /// first dense layer (`RandomizedSmoothing.noiseInInputSpace`: same distribution, more
    /// work); nil: false (and the key absent from stored settings).
    public var noiseInInputSpace: Bool?
    /// Probabilistic safety of a diagonal Gaussian posterior: weight boxes grown around this many
    /// samples besides the box at the mean (Wicker et al.'s construction); nil: none (and the
    /// key absent from stored settings).
    public var weightBoxes: Int?
    /// The radii at which certified accuracy is reported (smoothing: L2).
    public var radii: [Double] = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5]
    /// The L∞ budgets IBP verifies.
    public var epsilons: [Float] = [0.01, 0.03, 0.05, 0.1]
    public var seed: UInt64 = 0

    public init() {}

    enum CodingKeys: String, CodingKey {
        case method, sigma, selectionSamples, estimationSamples, alpha, examples, skip, posteriorSamples, batchSize, noiseInInputSpace,
             weightBoxes, radii, epsilons, seed
    }

    /// Missing keys take their defaults, so settings stored by an older Credence still decode.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        method = try c.decodeIfPresent(CertificationMethod.self, forKey: .method) ?? method
        sigma = try c.decodeIfPresent(Float.self, forKey: .sigma) ?? sigma
        selectionSamples = try c.decodeIfPresent(Int.self, forKey: .selectionSamples) ?? selectionSamples
        estimationSamples = try c.decodeIfPresent(Int.self, forKey: .estimationSamples) ?? estimationSamples
        alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? alpha
        examples = try c.decodeIfPresent(Int.self, forKey: .examples) ?? examples
        skip = try c.decodeIfPresent(Int.self, forKey: .skip) ?? skip
        posteriorSamples = try c.decodeIfPresent(Int.self, forKey: .posteriorSamples) ?? posteriorSamples
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        noiseInInputSpace = try c.decodeIfPresent(Bool.self, forKey: .noiseInInputSpace)
        weightBoxes = try c.decodeIfPresent(Int.self, forKey: .weightBoxes)
        radii = try c.decodeIfPresent([Double].self, forKey: .radii) ?? radii
        epsilons = try c.decodeIfPresent([Float].self, forKey: .epsilons) ?? epsilons
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? seed
    }

    /// Names the certificate for progress lines and the report ("smoothing σ 0.25", "ibp L∞").
    public var label: String {
        switch method {
        case .smoothing: return "smoothing σ \(sigma)" + (posteriorSamples > 1 ? ", \(posteriorSamples) samples" : "")
        case .ibp: return "ibp L∞"
        case .probabilisticSafety: return "probabilistic safety L∞"
        }
    }

    /// The test examples worked on: indices 0, skip, 2·skip, … (the first `examples` of them).
    func exampleIndices(in test: InMemoryDataset) -> [Int] {
        Array(stride(from: 0, to: test.count, by: skip).prefix(examples))
    }

    /// The smoothed classifier of `posterior` (its networks drawn from the seed's first stream)
    /// and one noise stream per example, so an example's numbers do not depend on the others'.
    func smoothing(of posterior: any Posterior, examples count: Int) throws -> (RandomizedSmoothing, [RandomGenerator]) {
        var root = RandomGenerator(seed: seed)
        var networkStream = root.split()
        let streams = root.split(into: count)
        var smoothing = try RandomizedSmoothing(posterior: posterior, sigma: sigma, posteriorSamples: posteriorSamples,
                                                batchSize: batchSize, rng: &networkStream)
        smoothing.noiseInInputSpace = noiseInInputSpace ?? false
        return (smoothing, streams)
    }

    public func validate() throws {
        func bad(_ m: String) -> InferenceError { .invalidOption(m) }
        guard sigma > 0, sigma.isFinite else { throw bad("--sigma must be > 0, got \(sigma)") }
        guard selectionSamples >= 1, estimationSamples >= 1 else { throw bad("--n0 and --n must be ≥ 1, got \(selectionSamples) and \(estimationSamples)") }
        guard alpha > 0, alpha < 1 else { throw bad("--alpha must be in (0, 1), got \(alpha)") }
        guard examples >= 1, skip >= 1 else { throw bad("--examples and --skip must be ≥ 1, got \(examples) and \(skip)") }
        guard posteriorSamples >= 1, batchSize >= 1 else { throw bad("--posterior-samples and --batch-size must be ≥ 1, got \(posteriorSamples) and \(batchSize)") }
        guard (weightBoxes ?? 0) >= 0 else { throw bad("--weight-boxes must be ≥ 0, got \(weightBoxes ?? 0)") }
        guard !radii.isEmpty, radii.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw bad("--radii must be numbers ≥ 0, got \(radii)") }
        guard !epsilons.isEmpty, epsilons.allSatisfy({ $0 >= 0 && $0.isFinite }) else { throw bad("--eps must be numbers ≥ 0, got \(epsilons)") }
    }
}

/// What a certification run found.
public struct CertificationResult: Codable, Sendable, Equatable {
    public struct Example: Codable, Sendable, Equatable {
        /// Index in the test set.
        public var index: Int
        public var label: Int
        /// The certified class; nil: abstained.
        public var prediction: Int?
        public var radius: Double
        public var probabilityLowerBound: Double
        /// The class the n₀ selection samples chose (also when abstaining), and its count n_A
        /// among the n noisy inputs.
        public var topClass: Int
        public var topCount: Int
        public var seconds: Double
        public var correct: Bool { prediction == label }
    }
    public struct Point: Codable, Sendable, Equatable {
        /// The L2 radius (smoothing) or the L∞ ε (IBP).
        public var radius: Double
        /// The fraction of examples certified with the true class at a radius ≥ `radius` (IBP:
        /// classified correctly with every point of the ε-box verified).
        public var certifiedAccuracy: Double
    }
    public var file: String
    public var method: String
    public var dataset: String
    public var settings: CertificationSettings
    /// Posterior samples actually used (a point network: 1; an ensemble: at most its members).
    public var baseClassifierSamples: Int
    public var points: [Point]
    public var abstentionRate: Double
    /// Mean certified radius over the examples (0 for abstentions and wrong classes).
    public var meanRadius: Double
    /// Per example (smoothing; IBP reports the counts only).
    public var perExample: [Example]
    /// Probabilistic safety: the bound per example and ε.
    public struct SafetyBound: Codable, Sendable, Equatable {
        public var index: Int
        public var epsilon: Float
        /// The lower bound on P(every point of the ε-box keeps the true class), and its natural
        /// log (which keeps bounds below 1e-308 apart).
        public var probability: Double
        public var logProbability: Double
        /// A diagonal Gaussian posterior: the largest γ certified around the mean, and the boxes
        /// (the mean's and those grown around samples) the bound counts with --weight-boxes.
        public var gamma: Double?
        public var sampledBoxes: Int?
        public var seconds: Double
    }
    public var safetyBounds: [SafetyBound]?
    /// Seconds certifying (over every resumed attempt).
    public var seconds: Double
    /// Noisy inputs classified per second, (n₀ + n)·examples / seconds.
    public var noiseSamplesPerSecond: Double
}

/// Certifies the first `settings.examples` test examples (every `skip`-th) of the posterior
/// (or plain checkpoint, as MAP) at `path` on its recorded data set (`certifyPosterior`).
public func certifyPosteriorFile(at path: String, settings: CertificationSettings, dataset: DatasetName? = nil,
                                 dataDirectory: String? = nil, out: String? = nil, world: MPIWorld? = nil,
                                 onProgress: (_ done: Int, _ total: Int, _ result: CertificationResult) -> Void = { _, _, _ in })
    throws -> CertificationResult {
    try settings.validate()
    let (posterior, test) = try loadPosteriorAndTestSet(at: path, dataset: dataset, dataDirectory: dataDirectory)
    return try certifyPosterior(posterior, test: test, settings: settings, file: path, out: out, world: world, onProgress: onProgress)
}

/// The posterior (or plain checkpoint, as MAP) at `path` and the test split of its recorded
/// data set (or of `dataset`).
func loadPosteriorAndTestSet(at path: String, dataset: DatasetName?, dataDirectory: String?) throws -> (any Posterior, InMemoryDataset) {
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    let (test, _) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset,
                                        dataDirectory: dataDirectory, inputShape: posterior.model.spec.inputShape)
    return (posterior, test)
}

/// Certifies the first `settings.examples` test examples (every `skip`-th) of `posterior` —
/// randomized smoothing per example, or IBP's verified accuracy or the probabilistic-safety bound
/// per ε. `file` names the posterior in the result. With `out`, the result is written there
/// (JSON, atomically) — smoothing's after every example, and a file already there from the same
/// posterior and settings is continued — a killed run loses at most the example in progress. Each example draws its
/// noise from a stream of its own, so a resumed run gives the numbers an uninterrupted one would.
///
/// With `world` (an MPI job of several ranks, every rank calling this alike), smoothing's
/// examples are dealt out over the ranks (the j-th example still to do goes to rank j mod
/// ranks); each sends its certificates to rank 0, which alone writes `out` and reports
/// progress, and returns the whole result — the same certificates as one process, since each
/// example has its own stream; `seconds` is then rank 0's wall time, so the noise samples per
/// second are the job's. The other ranks return only their own examples.
public func certifyPosterior(_ posterior: any Posterior, test: InMemoryDataset, settings: CertificationSettings, file path: String,
                             out: String? = nil, world: MPIWorld? = nil,
                             onProgress: (_ done: Int, _ total: Int, _ result: CertificationResult) -> Void = { _, _, _ in })
    throws -> CertificationResult {
    try settings.validate()
    guard test.task.classCount != nil, posterior.task == .classification else {
        throw InferenceError.invalidOption("\(path) holds a regression model; certification is for classifiers")
    }
    let indices = settings.exampleIndices(in: test)
    let inputRange: ClosedRange<Float>? = test.inputShape.count == 3 ? 0...1 : nil   // images: pixels
    func write(_ result: CertificationResult) throws {
        guard let out else { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(result), to: out, failure: DataError.unwritableFile)
    }
    switch settings.method {
    case .ibp, .probabilisticSafety:  // a single pass over the examples: written when done
        let result = settings.method == .ibp
            ? try verifyWithIntervalBounds(posterior, path: path, test: test, indices: indices, inputRange: inputRange, settings: settings)
            : try boundProbabilisticSafety(posterior, path: path, test: test, indices: indices, inputRange: inputRange, settings: settings)
        try write(result)
        return result
    case .smoothing: break
    }
    let (smoothing, streams) = try settings.smoothing(of: posterior, examples: indices.count)
    var result = CertificationResult(
        file: path, method: posterior.method, dataset: test.name, settings: settings,
        baseClassifierSamples: posterior.sampleCount(requested: settings.posteriorSamples), points: [], abstentionRate: 0,
        meanRadius: 0, perExample: [], seconds: 0, noiseSamplesPerSecond: 0)
    if let out, FileManager.default.fileExists(atPath: out) {
        let earlier: CertificationResult
        do {
            earlier = try JSONDecoder().decode(CertificationResult.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        } catch {
            throw InferenceError.invalidOption("\(out) exists but is not a certification result (\(readableDecodingError(error))); remove it or pass another --out")
        }
        guard earlier.settings == settings, earlier.file == path, earlier.dataset == test.name else {
            throw InferenceError.invalidOption("\(out) holds a certification of \(earlier.file) on \(earlier.dataset) with other settings; remove it or pass another --out")
        }
        result.perExample = earlier.perExample
        result.seconds = earlier.seconds
    }
    func summarise() {
        let n = Double(Swift.max(result.perExample.count, 1))
        result.points = settings.radii.map { r in
            .init(radius: r, certifiedAccuracy: Double(result.perExample.filter { $0.correct && $0.radius >= r }.count) / n)
        }
        result.abstentionRate = Double(result.perExample.filter { $0.prediction == nil }.count) / n
        result.meanRadius = result.perExample.reduce(0) { $0 + ($1.correct ? $1.radius : 0) } / n
        result.noiseSamplesPerSecond = Double(result.perExample.count * (settings.selectionSamples + settings.estimationSamples))
            / Swift.max(result.seconds, 1e-9)
    }
    Parallel.flushSubnormalsToZero()
    func certify(_ k: Int) throws -> CertificationResult.Example {
        let start = Date(), index = indices[k]
        var rng = streams[k]
        let certificate = try smoothing.certify(try test.inputs.row(index), n0: settings.selectionSamples, n: settings.estimationSamples,
                                                alpha: settings.alpha, rng: &rng)
        return .init(index: index, label: Int(test.labels[index]), prediction: certificate.prediction,
                     radius: certificate.radius, probabilityLowerBound: certificate.probabilityLowerBound,
                     topClass: certificate.topClass, topCount: certificate.topCount, seconds: Date().timeIntervalSince(start))
    }
    func record(_ example: CertificationResult.Example) throws {
        result.perExample.append(example)
        result.perExample.sort { $0.index < $1.index }  // the examples' order, whichever rank finished first
        summarise()
        try write(result)
        onProgress(result.perExample.count, indices.count, result)
    }
    guard let world, world.size > 1 else {
        for k in indices.indices.dropFirst(result.perExample.count) {
            let example = try certify(k)
            result.seconds += example.seconds
            try record(example)
        }
        summarise()
        return result
    }

    // Over ranks: rank 0's view of what is done decides what every rank does.
    let doneIndices = try JSONDecoder().decode([Int].self, from: world.broadcast(
        try JSONEncoder().encode(result.perExample.map(\.index)), from: 0))
    let done = Set(doneIndices)
    let pending = indices.indices.filter { !done.contains(indices[$0]) }
    let start = Date(), earlierSeconds = result.seconds
    var own: [CertificationResult.Example] = []
    try world.dealOut(pending.count, tag: MPITag.certificates.rawValue, { j in
        let example = try certify(pending[j])
        own.append(example)
        return try JSONEncoder().encode(example)
    }, received: { j, bytes in
        guard let example = try? JSONDecoder().decode(CertificationResult.Example.self, from: bytes) else {
            throw MPIError.unexpectedMessage(from: j % world.size, message: "not a certificate")
        }
        result.seconds = earlierSeconds + Date().timeIntervalSince(start)
        try record(example)
    })
    guard world.rank == 0 else {
        result.perExample = own
        return result
    }
    summarise()
    return result
}

/// IBP's verified accuracy at each ε on the chosen test examples of a deterministic network.
func verifyWithIntervalBounds(_ posterior: any Posterior, path: String, test: InMemoryDataset, indices: [Int],
                              inputRange: ClosedRange<Float>?, settings: CertificationSettings) throws -> CertificationResult {
    guard let network = posterior as? PointPosterior else {
        throw InferenceError.invalidOption("IBP verifies one deterministic network; \(path) holds a \(posterior.method) posterior (use --method smoothing, or a MAP checkpoint)")
    }
    let start = Date()
    let ibp = try IntervalBoundPropagation(model: network.model, inputRange: inputRange)
    let inputs = try test.inputs.selectingRows(indices), labels = indices.map { test.labels[$0] }
    let predicted = try network.model.predictBatched(inputs, parameters: network.parameters).argmaxLastAxis()
    var points: [CertificationResult.Point] = []
    for epsilon in settings.epsilons {
        var hits = 0
        for chunk in rowChunks(indices.count, batchSize: settings.batchSize) {
            let verified = try ibp.verified(try inputs.rows(chunk), labels: Array(labels[chunk]), epsilon: epsilon, parameters: network.parameters)
            hits += chunk.indices.filter { verified[$0 - chunk.lowerBound] && predicted[$0] == Int(labels[$0]) }.count
        }
        points.append(.init(radius: Double(epsilon), certifiedAccuracy: Double(hits) / Double(Swift.max(indices.count, 1))))
    }
    return CertificationResult(file: path, method: posterior.method, dataset: test.name, settings: settings, baseClassifierSamples: 1,
                               points: points, abstentionRate: 0, meanRadius: 0, perExample: [],
                               seconds: Date().timeIntervalSince(start), noiseSamplesPerSecond: 0)
}

/// Probabilistic safety per ε: the mean over the chosen examples of the lower bound on
/// P(every point of the box keeps the true class) (`ProbabilisticSafety`).
func boundProbabilisticSafety(_ posterior: any Posterior, path: String, test: InMemoryDataset, indices: [Int],
                              inputRange: ClosedRange<Float>?, settings: CertificationSettings) throws -> CertificationResult {
    let start = Date()
    var rng = RandomGenerator(seed: settings.seed)
    var points: [CertificationResult.Point] = []
    var perExample: [CertificationResult.SafetyBound] = []
    for epsilon in settings.epsilons {
        var total = 0.0
        for index in indices {
            let exampleStart = Date()
            let x = try test.inputs.row(index), y = test.labels[index]
            let bound = try DiagonalGaussianWeights(posterior).map {
                try ProbabilisticSafety.gaussianLowerBound($0, input: x, label: y, epsilon: epsilon, inputRange: inputRange,
                                                           sampledBoxes: settings.weightBoxes ?? 0, rng: &rng)
            } ?? ProbabilisticSafety.sampledLowerBound(posterior, input: x, label: y, epsilon: epsilon, inputRange: inputRange,
                                                       samples: settings.posteriorSamples, alpha: settings.alpha, rng: &rng)
            total += bound.probability
            perExample.append(.init(index: index, epsilon: epsilon, probability: bound.probability, logProbability: bound.logProbability,
                                    gamma: bound.gamma, sampledBoxes: bound.sampledBoxes, seconds: Date().timeIntervalSince(exampleStart)))
        }
        points.append(.init(radius: Double(epsilon), certifiedAccuracy: total / Double(Swift.max(indices.count, 1))))
    }
    var result = CertificationResult(file: path, method: posterior.method, dataset: test.name, settings: settings,
                                     baseClassifierSamples: posterior.sampleCount(requested: settings.posteriorSamples),
                                     points: points, abstentionRate: 0, meanRadius: 0, perExample: [],
                                     seconds: Date().timeIntervalSince(start), noiseSamplesPerSecond: 0)
    result.safetyBounds = perExample
    return result
}

/// What randomized smoothing's PREDICT gave on the chosen test examples.
public struct SmoothedPredictionResult: Codable, Sendable {
    public var file: String
    public var dataset: String
    public var settings: CertificationSettings
    /// The class per example (nil: abstained), in test-set order of `indices`.
    public var predictions: [Int?]
    public var indices: [Int]
    /// The fraction of examples predicted with the true class (abstentions count as errors).
    public var accuracy: Double
    public var abstentionRate: Double
    public var seconds: Double
}

/// PREDICT (Cohen et al. 2019) on the posterior file at `path`: the smoothed classifier's class
/// for each chosen test example from `settings.estimationSamples` noisy copies, or an abstention
/// when a two-sided binomial test cannot separate the top two classes at level α — an answer
/// that differs from the smoothed classifier's with probability at most α.
public func predictSmoothedPosteriorFile(at path: String, settings: CertificationSettings, dataset: DatasetName? = nil,
                                         dataDirectory: String? = nil) throws -> SmoothedPredictionResult {
    try settings.validate()
    let (posterior, test) = try loadPosteriorAndTestSet(at: path, dataset: dataset, dataDirectory: dataDirectory)
    let indices = settings.exampleIndices(in: test)
    var (smoothing, streams) = try settings.smoothing(of: posterior, examples: indices.count)
    let start = Date()
    Parallel.flushSubnormalsToZero()
    let predictions = try indices.enumerated().map { k, index in
        try smoothing.predict(try test.inputs.row(index), n: settings.estimationSamples, alpha: settings.alpha, rng: &streams[k])
    }
    let n = Double(Swift.max(indices.count, 1))
    return SmoothedPredictionResult(
        file: path, dataset: test.name, settings: settings, predictions: predictions, indices: indices,
        accuracy: Double(zip(predictions, indices).filter { $0 == Int(test.labels[$1]) }.count) / n,
        abstentionRate: Double(predictions.filter { $0 == nil }.count) / n, seconds: Date().timeIntervalSince(start))
}
