import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): the smoothed classifier
/// g(x) = argmax_c P(f(x + δ) = c), δ ~ N(0, σ²I), its Monte-Carlo `predict` (abstains when a
/// binomial test cannot tell the top two classes apart) and `certify` (a class and an L2 radius
/// σ·Φ⁻¹(p̲_A) within which g provably does not change, with probability ≥ 1 − α over the
/// sampling).
///
/// The base classifier f is the posterior's predictive: the most probable class of the mean
/// probabilities of `posteriorSamples` of its samples, drawn once (an ensemble's members, a
/// point network itself). Samples that keep randomness at test time (MC dropout) are redrawn
/// for every batch of noise, so each noisy input meets its own masks — f is then a randomized
/// classifier, for which the guarantee holds as it stands (Cohen et al.'s bound needs only
/// that the draws be independent). The noise goes through the networks in batches of
/// `batchSize` copies of the input (large GEMMs). A network that begins with a narrowing dense
/// layer gets its noise drawn after that layer, in the same distribution (`FirstLayerNoise`).
///
/// ```swift
/// let smoothing = try RandomizedSmoothing(posterior: map, sigma: 0.25, rng: &rng)
/// let certificate = try smoothing.certify(image, n0: 100, n: 100_000, alpha: 0.001, rng: &rng)
/// print(certificate.prediction ?? "abstain", certificate.radius)
/// ```
public struct RandomizedSmoothing {
    public let posterior: any Posterior
    /// σ, the standard deviation of the Gaussian noise (in input units; pixels in 0…1).
    public let sigma: Float
    /// Noisy copies of the input per forward pass.
    public var batchSize: Int
    /// Draw the noise in input space and send it through the first layer even where it could
    /// be drawn after it (`FirstLayerNoise`; same distribution, more work) — for checks.
    public var noiseInInputSpace = false
    /// Whether the noise is drawn after the first layer (a narrowing dense layer shared by the
    /// networks of the base classifier).
    public var drawsNoiseAfterFirstLayer: Bool { firstLayerNoise != nil && !noiseInInputSpace }
    /// The networks of the base classifier (drawn once); `redrawn` when they keep randomness.
    let networks: [PosteriorSample]
    let redrawn: Bool
    let firstLayerNoise: FirstLayerNoise?

    public init(posterior: any Posterior, sigma: Float, posteriorSamples: Int = 1, batchSize: Int = 1000,
                rng: inout RandomGenerator) throws {
        guard posterior.task == .classification else {
            throw InferenceError.invalidOption("randomized smoothing certifies classifiers; this posterior is a regression model")
        }
        guard sigma > 0, sigma.isFinite else { throw InferenceError.invalidOption("the smoothing noise σ is \(sigma); it must be > 0") }
        guard posteriorSamples >= 1, batchSize >= 1 else {
            throw InferenceError.invalidOption("randomized smoothing needs ≥ 1 posterior sample and a batch size ≥ 1 (got \(posteriorSamples), \(batchSize))")
        }
        self.posterior = posterior
        self.sigma = sigma
        self.batchSize = batchSize
        let count = posterior.sampleCount(requested: posteriorSamples)
        networks = try (0..<count).map { try posterior.sample($0, of: count, rng: &rng) }
        redrawn = networks.contains { $0.mode.isStochastic }
        firstLayerNoise = FirstLayerNoise(networks: networks)
    }

    /// What `certify` found for one input.
    public struct Certificate: Codable, Equatable, Sendable {
        /// The class certified; nil: abstained (p̲_A < ½).
        public var prediction: Int?
        /// The certified L2 radius σ·Φ⁻¹(p̲_A) (0 when abstaining).
        public var radius: Double
        /// p̲_A, the lower confidence bound on the top class's probability under noise.
        public var probabilityLowerBound: Double
        /// The class the n₀ selection samples chose (also when abstaining).
        public var topClass: Int
        /// How many of the n noisy inputs the base classifier gave it.
        public var topCount: Int
    }

    /// CERTIFY: the class the base classifier gives most often among `n0` noisy copies of
    /// `input` (one example, with or without a leading batch axis of 1), its count among `n`
    /// fresh ones, the one-sided Clopper–Pearson bound p̲_A at level 1 − α, and the radius
    /// σ·Φ⁻¹(p̲_A) — or an abstention when p̲_A < ½. The reference code's defaults are
    /// n₀ = 100, n = 100,000, α = 0.001.
    public func certify(_ input: Tensor, n0: Int = 100, n: Int = 100_000, alpha: Double = 0.001,
                        rng: inout RandomGenerator) throws -> Certificate {
        try check(n: n, alpha: alpha)
        guard n0 >= 1 else { throw InferenceError.invalidOption("CERTIFY needs n₀ ≥ 1 selection samples, got \(n0)") }
        let selection = try classCounts(input, samples: n0, rng: &rng)
        let top = selection.indices.max { selection[$0] < selection[$1] }!
        let counts = try classCounts(input, samples: n, rng: &rng)
        let bound = clopperPearsonLowerBound(successes: counts[top], trials: n, alpha: alpha)
        guard bound >= 0.5 else {
            return Certificate(prediction: nil, radius: 0, probabilityLowerBound: bound, topClass: top, topCount: counts[top])
        }
        return Certificate(prediction: top, radius: Double(sigma) * standardNormalQuantile(bound),
                           probabilityLowerBound: bound, topClass: top, topCount: counts[top])
    }

    /// PREDICT: the top class among `n` noisy copies of `input` when a two-sided binomial test
    /// of its count against the runner-up's rejects equality at level α; nil (abstain) otherwise.
    /// The answer differs from g(x) with probability at most α.
    public func predict(_ input: Tensor, n: Int = 100_000, alpha: Double = 0.001, rng: inout RandomGenerator) throws -> Int? {
        try check(n: n, alpha: alpha)
        let counts = try classCounts(input, samples: n, rng: &rng)
        let order = counts.indices.sorted { counts[$0] > counts[$1] }
        let (a, b) = (counts[order[0]], order.count > 1 ? counts[order[1]] : 0)
        return binomialTestPValue(successes: a, trials: a + b) <= alpha ? order[0] : nil
    }

    func check(n: Int, alpha: Double) throws {
        guard n >= 1 else { throw InferenceError.invalidOption("randomized smoothing needs n ≥ 1 noise samples, got \(n)") }
        guard alpha > 0, alpha < 1 else { throw InferenceError.invalidOption("the confidence level's α is \(alpha); it must be in (0, 1)") }
    }

    /// How often the base classifier gives each class over `samples` noisy copies of `input`.
    public func classCounts(_ input: Tensor, samples: Int, rng: inout RandomGenerator) throws -> [Int] {
        let shape = posterior.model.spec.inputShape
        let perExample = shape.reduce(1, *)
        guard input.count == perExample else {
            throw InferenceError.invalidOption("randomized smoothing takes one input of shape \(shape); got \(input.shape)")
        }
        var counts: [Int] = []
        var done = 0
        var firstLayerCenter: Tensor?
        while done < samples {
            let b = Swift.min(batchSize, samples - done)
            let batchNetworks = redrawn
                ? try (0..<networks.count).map { try posterior.sample($0, of: networks.count, rng: &rng) } : networks
            let classes: (labels: [Int], classCount: Int)
            if drawsNoiseAfterFirstLayer, let first = firstLayerNoise, !redrawn || first.applies(to: batchNetworks) {
                if firstLayerCenter == nil { firstLayerCenter = try first.center(of: input, parameters: batchNetworks[0].parameters) }
                let hidden = first.noisyOutputs(center: firstLayerCenter!, count: b, sigma: sigma, rng: &rng)
                classes = try baseClassifications(batchNetworks) { try first.outputs(fromFirstLayer: hidden, of: $0) }
            } else {
                let noisy = noisyCopies(of: input, count: b, shape: shape, rng: &rng)
                classes = try baseClassifications(batchNetworks) { try $0.outputs(noisy) }
            }
            if counts.isEmpty { counts = [Int](repeating: 0, count: classes.classCount) }
            for c in classes.labels { counts[c] += 1 }
            done += b
        }
        return counts
    }

    /// `count` copies of `input` plus σ·N(0, I), filled in parallel (`parallelNormalRows`).
    func noisyCopies(of input: Tensor, count: Int, shape: [Int], rng: inout RandomGenerator) -> Tensor {
        let perExample = input.count, s = sigma
        return input.withUnsafeBufferPointer { x in
            parallelNormalRows(count: count, rowShape: shape, rng: &rng) { rows, region in
                for r in 0..<rows.count {
                    let row = r * perExample
                    for j in 0..<perExample { region[row + j] = x[j] + s * region[row + j] }
                }
            }
        }
    }

    /// The base classifier's class for each row of the `outputs` of `networks`: the argmax of one
    /// network's logits, or of the mean probabilities of several.
    func baseClassifications(_ networks: [PosteriorSample],
                             outputs: (PosteriorSample) throws -> Tensor) throws -> (labels: [Int], classCount: Int) {
        if networks.count == 1 {
            let logits = try outputs(networks[0])
            return (logits.argmaxLastAxis(), logits.shape.last ?? 1)
        }
        var mean: Tensor?
        for network in networks {
            let p = try outputs(network).softmaxLastAxis()
            if mean == nil { mean = p } else { mean!.addInPlace(p, scale: 1) }
        }
        return (mean!.argmaxLastAxis(), mean!.shape.last ?? 1)
    }
}

/// `count` rows of shape `rowShape` of standard normals, filled in parallel — one stream of `rng`
/// per worker part — each part then finished by `finish(rows, values)` on the thread that filled it.
func parallelNormalRows(count: Int, rowShape: [Int], rng: inout RandomGenerator,
                        finish: (Range<Int>, UnsafeMutableBufferPointer<Float>) -> Void) -> Tensor {
    let width = rowShape.reduce(1, *)
    var out = Tensor(uninitializedShape: [count] + rowShape)
    let parts = Parallel.ranges(count, parts: Swift.min(Parallel.workerCount, count))
    let streams = rng.split(into: parts.count)
    out.withUnsafeMutableBufferPointer { o in
        let base = o.baseAddress!
        Parallel.forEach(parts.count) { p in
            let region = UnsafeMutableBufferPointer(start: base + parts[p].lowerBound * width, count: parts[p].count * width)
            var stream = streams[p]
            FastMath.fillNormalNoise(region, rng: &stream)
            finish(parts[p], region)
        }
    }
    return out
}
