import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation

/// Probabilistic safety of a Bayesian network (Wicker et al. 2020): a lower bound on the
/// posterior probability that a network drawn from it gives every point of the input box
/// [x − ε, x + ε] the label y.
///
/// **Gaussian posteriors with independent weights** (`DiagonalGaussianWeights`: mean-field VI,
/// a Laplace approximation with a diagonal precision): any weight box that interval bound
/// propagation over the input box and the weight box jointly certifies safe holds posterior mass
/// Π_j (Φ(b_j) − Φ(a_j)) over the standardized Bayesian weights, exactly (products of erf
/// differences, summed in log space), and a union of safe boxes holds at least what Bonferroni's
/// inequality gives. The boxes: μ ± γσ around the mean, with γ the largest certified (bisection;
/// safety of nested boxes is monotone in γ), and optionally Wicker et al.'s boxes w ± γσ grown
/// around weight samples w, each as large as IBP certifies. The bound holds with probability 1:
/// the samples only choose which boxes are tried. The box at the mean is the heaviest box of its
/// size, so with many Bayesian weights it carries the bound; sampled boxes count where the safe
/// region lies off the mean (the mean network itself unsafe, or safe only on one side).
///
/// **Posteriors known by their samples** (ensembles, SG-MCMC, or any posterior drawn from):
/// the fraction of S sampled networks IBP verifies on the box, and its one-sided Clopper–Pearson
/// lower bound at level 1 − α — a statement about the sampling distribution that holds with
/// probability 1 − α when the draws are independent (for an ensemble's members, the fraction is
/// the exact mass of the uniform mixture). A different statement from the Gaussian one.
public enum ProbabilisticSafety {
    public struct Bound: Codable, Equatable, Sendable {
        /// The lower bound on P(safe).
        public var probability: Double
        /// Its natural log (probabilities below 1e-300 keep their size here).
        public var logProbability: Double
        /// Gaussian: the largest γ certified for the box at the mean (weights within μ ± γσ);
        /// nil for sampled posteriors.
        public var gamma: Double?
        /// Sampled: the networks verified and drawn; nil for the Gaussian bound.
        public var verifiedSamples: Int?
        public var samples: Int?
        /// Gaussian with sampled boxes: the log of the lower bound on the union of the safe boxes
        /// (the mean's and those grown around samples), and how many boxes it counts (`samples`
        /// were drawn).
        public var sampledBoxesLogProbability: Double?
        public var sampledBoxes: Int?
    }

    /// The Gaussian bound for one input (`input`: one example, label `label`) from the box at
    /// the mean alone.
    public static func gaussianLowerBound(_ weights: DiagonalGaussianWeights, input: Tensor, label: Int32, epsilon: Float,
                                          inputRange: ClosedRange<Float>?, maximumGamma: Double = 10,
                                          iterations: Int = 30) throws -> Bound {
        let boxes = try GaussianWeightBoxes(weights, input: input, label: label, epsilon: epsilon, inputRange: inputRange)
        return try meanBoxBound(boxes, maximumGamma: maximumGamma, iterations: iterations)
    }

    /// The Gaussian bound for one input from the box at the mean and boxes grown around
    /// `sampledBoxes` weight samples (Wicker et al.'s construction): Σ P(H_i) − Σ P(H_i ∩ H_k)
    /// over a set of these boxes chosen heaviest first, each joining when it adds mass — never
    /// below the mean box's own mass.
    public static func gaussianLowerBound(_ weights: DiagonalGaussianWeights, input: Tensor, label: Int32, epsilon: Float,
                                          inputRange: ClosedRange<Float>?, sampledBoxes: Int, rng: inout RandomGenerator,
                                          maximumGamma: Double = 10, iterations: Int = 30) throws -> Bound {
        let boxes = try GaussianWeightBoxes(weights, input: input, label: label, epsilon: epsilon, inputRange: inputRange)
        var bound = try meanBoxBound(boxes, maximumGamma: maximumGamma, iterations: iterations)
        guard sampledBoxes > 0 else { return bound }
        var certified: [StandardizedBox] = []
        if let gamma = bound.gamma, gamma > 0 {
            certified.append(StandardizedBox(z: [Double](repeating: 0, count: boxes.bayesianIndices.count), gamma: gamma,
                                             logMass: bound.logProbability))
        }
        for _ in 0..<sampledBoxes {
            let theta = weights.sample(rng: &rng)
            guard let gamma = try boxes.largestGamma(around: theta, maximum: maximumGamma, iterations: iterations), gamma > 0 else { continue }
            let z = boxes.standardized(theta)
            certified.append(StandardizedBox(z: z, gamma: gamma,
                                             logMass: z.reduce(0) { $0 + logStandardNormalMass(from: $1 - gamma, to: $1 + gamma) }))
        }
        // The union of a chosen set S of boxes holds at least Σ_S P(H_i) − Σ_{pairs of S} P(H_i ∩ H_k)
        // (Bonferroni); boxes join S heaviest first, when they add to it: P(H_i) minus the mass
        // they share with the boxes already in S (intersections of boxes are boxes; disjoint boxes
        // share none, which a weight whose intervals miss shows at once).
        var chosen: [StandardizedBox] = []
        var logGains: [Double] = []
        for box in certified.sorted(by: { $0.logMass > $1.logMass }) where box.logMass > -.infinity {
            let shared = chosen.reduce(0.0) { $0 + Foundation.exp(box.logIntersectionMass(with: $1) - box.logMass) }
            guard shared < 1 else { continue }
            chosen.append(box)
            logGains.append(box.logMass + Foundation.log1p(-shared))
        }
        let top = logGains.max() ?? -.infinity
        let logUnion = top == -.infinity ? top : top + Foundation.log(logGains.reduce(0) { $0 + Foundation.exp($1 - top) })
        bound.samples = sampledBoxes
        bound.sampledBoxes = chosen.count
        bound.sampledBoxesLogProbability = logUnion
        if logUnion > bound.logProbability {
            bound.logProbability = logUnion
            bound.probability = Foundation.exp(logUnion)
        }
        return bound
    }

    /// The mass of the largest box μ ± γσ IBP certifies: log Π_j (2Φ(γ) − 1) = B·log(1 − erfc(γ/√2)).
    static func meanBoxBound(_ boxes: GaussianWeightBoxes, maximumGamma: Double, iterations: Int) throws -> Bound {
        guard let gamma = try boxes.largestGamma(around: boxes.mean, maximum: maximumGamma, iterations: iterations) else {
            return Bound(probability: 0, logProbability: -.infinity, gamma: 0)
        }
        let logP = Double(boxes.bayesianIndices.count) * Foundation.log1p(-Foundation.erfc(gamma / 2.0.squareRoot()))
        return Bound(probability: Foundation.exp(logP), logProbability: logP, gamma: gamma)
    }

    /// A weight box z ± γ in standardized coordinates (z = (θ − μ)/σ over the Bayesian weights)
    /// and its log posterior mass.
    struct StandardizedBox {
        var z: [Double]
        var gamma: Double
        var logMass: Double

        /// The log mass of the intersection with `other` (−∞ when the two are disjoint).
        func logIntersectionMass(with other: StandardizedBox) -> Double {
            if zip(z, other.z).contains(where: { abs($0 - $1) >= gamma + other.gamma }) { return -.infinity }
            return zip(z, other.z).reduce(0) { sum, pair in
                sum + ProbabilisticSafety.logStandardNormalMass(from: Swift.max(pair.0 - gamma, pair.1 - other.gamma),
                                                                to: Swift.min(pair.0 + gamma, pair.1 + other.gamma))
            }
        }
    }

    /// log(Φ(b) − Φ(a)) for a ≤ b, from the tail that keeps the difference accurate.
    static func logStandardNormalMass(from a: Double, to b: Double) -> Double {
        let r = 1 / 2.0.squareRoot()
        let mass: Double
        if a >= 0 {
            mass = 0.5 * (Foundation.erfc(a * r) - Foundation.erfc(b * r))
        } else if b <= 0 {
            mass = 0.5 * (Foundation.erfc(-b * r) - Foundation.erfc(-a * r))
        } else {
            mass = 1 - 0.5 * (Foundation.erfc(-a * r) + Foundation.erfc(b * r))
        }
        return mass > 0 ? Foundation.log(mass) : -.infinity
    }

    /// The sampled bound for one input: `samples` networks drawn from `posterior` (an
    /// ensemble: its members), each verified by IBP on the box.
    public static func sampledLowerBound(_ posterior: any Posterior, input: Tensor, label: Int32, epsilon: Float,
                                         inputRange: ClosedRange<Float>?, samples: Int, alpha: Double,
                                         rng: inout RandomGenerator) throws -> Bound {
        let count = posterior.sampleCount(requested: samples)
        let x = try input.reshaped([1] + posterior.model.inputShape)
        var verified = 0
        for s in 0..<count {
            let network = try posterior.sample(s, of: count, rng: &rng)
            guard !network.mode.isStochastic, network.outputScale == nil else {
                throw InferenceError.invalidOption("probabilistic safety verifies fixed networks; \(posterior.method)'s samples keep randomness or rescale their outputs")
            }
            let ibp = try IntervalBoundPropagation(model: network.model, inputRange: inputRange)
            if try ibp.verified(x, labels: [label], epsilon: epsilon, parameters: network.parameters)[0] { verified += 1 }
        }
        let exact = posterior.sampleCount(requested: count + 1) == count   // a finite mixture: every member was checked
        let bound = exact ? Double(verified) / Double(count) : clopperPearsonLowerBound(successes: verified, trials: count, alpha: alpha)
        return Bound(probability: bound, logProbability: Foundation.log(bound), gamma: nil, verifiedSamples: verified, samples: count)
    }
}

/// A Gaussian over a network's weights with independent coordinates, N(μ, diag(σ²)), σ in the
/// network's layout (0 for the weights it keeps fixed) — what probabilistic safety's exact box
/// masses need.
public struct DiagonalGaussianWeights {
    public let model: any NetworkModel
    public let mean: Tensor
    public let standardDeviations: Tensor

    public init(model: any NetworkModel, mean: Tensor, standardDeviations: Tensor) throws {
        guard mean.count == model.parameterCount, standardDeviations.count == mean.count else {
            throw ModelError.parameterCount(got: Swift.min(mean.count, standardDeviations.count), expected: model.parameterCount)
        }
        self.model = model
        self.mean = mean
        self.standardDeviations = standardDeviations
    }

    /// The weight posterior of mean-field VI, or of a Laplace approximation with a diagonal
    /// precision (whatever its predictive); nil for any other posterior.
    public init?(_ posterior: any Posterior) {
        if let meanField = posterior as? MeanFieldPosterior {
            try? self.init(model: meanField.model, mean: meanField.mean, standardDeviations: meanField.standardDeviationsInLayout)
        } else if let laplace = posterior as? LaplacePosterior, let diagonal = laplace.precision as? DiagonalPrecision {
            let zero = Tensor(shape: [laplace.model.parameterCount], repeating: 0)
            try? self.init(model: laplace.model, mean: laplace.parameters,
                           standardDeviations: laplace.subset.adding(diagonal.precision.map { 1 / $0.squareRoot() }, to: zero))
        } else {
            return nil
        }
    }

    /// One draw μ + σ ⊙ ε.
    public func sample(rng: inout RandomGenerator) -> Tensor {
        var theta = mean
        theta.withUnsafeMutableBufferPointer { t in
            standardDeviations.withUnsafeBufferPointer { s in
                for i in t.indices where s[i] > 0 { t[i] += s[i] * rng.normalFloat() }
            }
        }
        return theta
    }
}

/// One input box and the weight boxes of a diagonal Gaussian that IBP checks over it.
struct GaussianWeightBoxes {
    let mean: Tensor
    let ibp: IntervalBoundPropagation
    let sigma: Tensor
    /// The weights with σ > 0.
    let bayesianIndices: [Int]
    let input: Tensor
    let label: Int32
    let epsilon: Float

    init(_ weights: DiagonalGaussianWeights, input: Tensor, label: Int32, epsilon: Float, inputRange: ClosedRange<Float>?) throws {
        mean = weights.mean
        ibp = try IntervalBoundPropagation(model: weights.model, inputRange: inputRange)
        sigma = weights.standardDeviations
        let values = sigma.values
        bayesianIndices = values.indices.filter { values[$0] > 0 }
        self.input = try input.reshaped([1] + weights.model.inputShape)
        self.label = label
        self.epsilon = epsilon
    }

    /// Whether every network with weights in center ± γσ gives every point of the input box the label.
    func safe(_ center: Tensor, gamma: Double) throws -> Bool {
        try ibp.verified(input, labels: [label], epsilon: epsilon, parameters: center, parameterRadius: sigma.map { $0 * Float(gamma) })[0]
    }

    /// The largest γ ≤ `maximum` (to the bisection's resolution) for which center ± γσ is safe;
    /// nil when the network at the centre itself is not.
    func largestGamma(around center: Tensor, maximum: Double, iterations: Int) throws -> Double? {
        guard try safe(center, gamma: 0) else { return nil }
        if try safe(center, gamma: maximum) { return maximum }
        var (lo, hi) = (0.0, maximum)
        for _ in 0..<iterations {
            let mid = 0.5 * (lo + hi)
            if try safe(center, gamma: mid) { lo = mid } else { hi = mid }
        }
        return lo
    }

    /// (θ − μ)/σ over the weights with σ > 0.
    func standardized(_ theta: Tensor) -> [Double] {
        let t = theta.values, m = mean.values, s = sigma.values
        return bayesianIndices.map { Double(t[$0] - m[$0]) / Double(s[$0]) }
    }
}
