import CredenceNN
import CredenceTensor
import Foundation

/// A prior density p(θ) over a model's flat parameter vector θ (a rank-1 `Float` tensor).
///
/// The prior half of every explicit log-posterior (DESIGN.md, "The posterior protocol",
/// rule 4): log p(θ | D) = N · mean log-likelihood + log p(θ). Densities are normalised and
/// returned in `Double`; gradients are accumulated in place into a flat gradient buffer.
///
/// ```swift
/// let prior = try GaussianPrior.fromWeightDecay(5e-4, datasetSize: 60_000)
/// var g = Tensor.zeros([θ.count])
/// prior.addGradient(of: θ, to: &g, scale: 1)   // g = ∇θ log p(θ) = −δθ
/// ```
public protocol ParameterPrior {
    /// log p(θ), normalised, summed in `Double`.
    func logDensity(_ theta: Tensor) -> Double
    /// gradient ← gradient + scale · ∇θ log p(θ), in place. `gradient` has θ's count.
    func addGradient(of theta: Tensor, to gradient: inout Tensor, scale: Float)
    /// One draw θ ~ p of `count` elements.
    func sample(count: Int, rng: inout RandomGenerator) -> Tensor
}

/// A zero-mean Gaussian prior with a precision per contiguous window of θ:
/// log p(θ) = Σ_w [ (n_w/2) log(δ_w / 2π) − (δ_w/2) Σ_{i∈w} θᵢ² ].
///
/// Either isotropic, N(0, δ⁻¹ I) on a vector of any length, or one precision per module of
/// the parameter layout (a window per module, so the cost is per window, not per element).
///
/// ```swift
/// let isotropic = try GaussianPrior(precision: 1)
/// let perModule = try GaussianPrior(modulePrecisions: ["0": 1, "2": 100], layout: model.layout)
/// ```
public struct GaussianPrior: ParameterPrior, Equatable, Sendable {
    /// A contiguous range of θ sharing one precision.
    public struct Window: Equatable, Sendable {
        public let range: Range<Int>
        public let precision: Double
    }

    /// The windows of a per-module prior, in order, covering 0..<parameterCount; empty for
    /// the isotropic prior.
    public let windows: [Window]
    /// The length of θ a per-module prior is built for; nil for the isotropic prior (any length).
    public let parameterCount: Int?
    /// δ of the isotropic prior (nil for a per-module prior).
    public let isotropicPrecision: Double?

    /// The isotropic prior N(0, δ⁻¹ I).
    ///
    /// - Parameter precision: δ > 0, finite (prior variance 1/δ).
    public init(precision: Double) throws {
        try Self.check(precision, "the Gaussian prior precision")
        windows = []
        parameterCount = nil
        isotropicPrecision = precision
    }

    /// One precision per module of the layout: element i of θ gets the precision of the
    /// module that owns it — "3" for "3.weight" and "3.bias", "layer1.0.conv1" for
    /// "layer1.0.conv1.weight" (`ParameterLayout.moduleNames`), so the same call works for a
    /// chain of layers and a graph of blocks. `.mlp(inputShape: [2], hidden: [8], outputs: 3)`
    /// has the modules "0" and "2".
    ///
    /// - Parameters:
    ///   - modulePrecisions: δ > 0 and finite for every module of the layout, and no other.
    ///   - layout: the model's parameter layout; θ must then have `layout.count` elements
    ///     (a precondition of every method).
    public init(modulePrecisions: [String: Double], layout: ParameterLayout) throws {
        let modules = layout.moduleNames
        if let missing = modules.first(where: { modulePrecisions[$0] == nil }) {
            throw InferenceError.invalidOption(
                "per-module prior precisions: module '\(missing)' has none (the layout's modules: \(modules.joined(separator: ", ")))")
        }
        if let stray = modulePrecisions.keys.sorted().first(where: { !modules.contains($0) }) {
            throw InferenceError.invalidOption(
                "per-module prior precisions: the layout has no module '\(stray)' (its modules: \(modules.joined(separator: ", ")))")
        }
        for module in modules { try Self.check(modulePrecisions[module]!, "the prior precision of module \(module)") }
        var windows: [Window] = []
        for e in layout.entries {
            let precision = modulePrecisions[ParameterLayout.module(of: e.name)]!
            if let last = windows.last, last.precision == precision, last.range.upperBound == e.offset {
                windows[windows.count - 1] = Window(range: last.range.lowerBound..<e.range.upperBound, precision: precision)
            } else {
                windows.append(Window(range: e.range, precision: precision))
            }
        }
        self.windows = windows
        parameterCount = layout.count
        isotropicPrecision = nil
    }

    /// The Gaussian prior that coupled L2 weight decay λ on the *mean* training loss
    /// implies for a data set of N examples: δ = λN.
    ///
    /// Why: with U(θ) = −N · mean log-likelihood − log N(θ; 0, (λN)⁻¹ I) the potential
    /// (negative log posterior up to a constant), ∇U(θ)/N = ∇(mean loss) + λθ — exactly the
    /// update direction of SGD/Adam with `weightDecay: λ` (`AddWeightDecay`, PyTorch's
    /// `weight_decay`). So training with weight decay λ finds the MAP under this prior.
    /// Forgetting the factor N (δ = λ) gives a prior N times too weak.
    ///
    /// ```swift
    /// let prior = try GaussianPrior.fromWeightDecay(5e-4, datasetSize: 60_000)  // δ = 30
    /// ```
    ///
    /// - Parameters:
    ///   - λ: the weight decay, > 0 and finite (λ = 0 would be a flat, improper prior).
    ///   - datasetSize: N ≥ 1, the number of training examples.
    public static func fromWeightDecay(_ weightDecay: Float, datasetSize: Int) throws -> GaussianPrior {
        guard datasetSize >= 1 else {
            throw InferenceError.invalidOption("the data-set size for a weight-decay prior must be ≥ 1, got \(datasetSize)")
        }
        guard weightDecay > 0, weightDecay.isFinite else {
            throw InferenceError.invalidOption(
                "weight decay \(weightDecay) has no Gaussian prior: it must be > 0 and finite (0 is a flat, improper prior)")
        }
        return try GaussianPrior(precision: Double(weightDecay) * Double(datasetSize))
    }

    static func check(_ precision: Double, _ what: String) throws {
        guard precision > 0, precision.isFinite else {
            throw InferenceError.invalidOption("\(what) is \(precision); it must be > 0 and finite")
        }
    }

    /// The windows covering a vector of `count` elements.
    func windows(count: Int) -> [Window] {
        if let precision = isotropicPrecision { return [Window(range: 0..<count, precision: precision)] }
        precondition(count == parameterCount, "a per-layer Gaussian prior for \(parameterCount!) parameters got \(count)")
        return windows
    }

    public func logDensity(_ theta: Tensor) -> Double {
        theta.withUnsafeBufferPointer { p in
            var total = 0.0
            for w in windows(count: p.count) {
                var squares = 0.0
                for i in w.range { squares += Double(p[i]) * Double(p[i]) }
                total += Double(w.range.count) / 2 * Foundation.log(w.precision / (2 * Double.pi)) - w.precision / 2 * squares
            }
            return total
        }
    }

    /// gradient ← gradient − scale·δ_w·θ on each window (the same `g += c·θ` as `AddWeightDecay`).
    public func addGradient(of theta: Tensor, to gradient: inout Tensor, scale: Float) {
        precondition(gradient.count == theta.count, "gradient of \(gradient.count) elements for θ of \(theta.count)")
        theta.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                for w in windows(count: p.count) {
                    let c = Float(-Double(scale) * w.precision)
                    for i in w.range { g[i] += c * p[i] }
                }
            }
        }
    }

    public func sample(count: Int, rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: [count])
        t.withUnsafeMutableBufferPointer { p in
            for w in windows(count: count) {
                let sd = Float(1 / w.precision.squareRoot())
                for i in w.range { p[i] = sd * rng.normalFloat() }
            }
        }
        return t
    }
}

/// The scale-mixture prior of Bayes by Backprop, independently per element:
/// p(θᵢ) = π N(θᵢ; 0, σ₁²) + (1 − π) N(θᵢ; 0, σ₂²).
///
/// Blundell, Cornebise, Kavukcuoglu & Wierstra (2015), "Weight Uncertainty in Neural
/// Networks", eq. 7: a wide component σ₁ and a narrow σ₂ ≪ 1 give a heavy-tailed prior
/// with mass concentrated at zero (their grid: −log σ₁ ∈ {0, 1, 2}, −log σ₂ ∈ {6, 7, 8}).
/// The log density is a log-sum-exp of the two components, finite for any θ; the gradient
/// is ∂/∂θᵢ log p = −θᵢ (r₁/σ₁² + r₂/σ₂²) with the responsibilities r₁ = sigmoid(a₁ − a₂),
/// r₂ = 1 − r₁, aₖ the log of component k's weighted density.
///
/// ```swift
/// let prior = try ScaleMixtureGaussianPrior(mixtureWeight: 0.5, standardDeviation1: 1, standardDeviation2: exp(-6))
/// ```
public struct ScaleMixtureGaussianPrior: ParameterPrior, Equatable, Sendable {
    /// π, the weight of the first component, in (0, 1).
    public let mixtureWeight: Double
    /// σ₁ > 0.
    public let standardDeviation1: Double
    /// σ₂ > 0.
    public let standardDeviation2: Double

    public init(mixtureWeight: Double, standardDeviation1: Double, standardDeviation2: Double) throws {
        guard mixtureWeight > 0, mixtureWeight < 1 else {
            throw InferenceError.invalidOption("the scale-mixture weight π is \(mixtureWeight); it must lie strictly between 0 and 1")
        }
        for (name, sd) in [("σ₁", standardDeviation1), ("σ₂", standardDeviation2)] {
            guard sd > 0, sd.isFinite else {
                throw InferenceError.invalidOption("the scale-mixture standard deviation \(name) is \(sd); it must be > 0 and finite")
            }
        }
        self.mixtureWeight = mixtureWeight
        self.standardDeviation1 = standardDeviation1
        self.standardDeviation2 = standardDeviation2
    }

    /// log p(θᵢ) for one element, in `Double` (log-sum-exp of the two components).
    public func logDensity(element theta: Double) -> Double {
        let (s1, s2) = (standardDeviation1, standardDeviation2)
        let a1 = Foundation.log(mixtureWeight) - Foundation.log(s1) - theta * theta / (2 * s1 * s1)
        let a2 = Foundation.log1p(-mixtureWeight) - Foundation.log(s2) - theta * theta / (2 * s2 * s2)
        let m = Swift.max(a1, a2)
        return m + Foundation.log1p(Foundation.exp(-Swift.abs(a1 - a2))) - 0.5 * Foundation.log(2 * Double.pi)
    }

    public func logDensity(_ theta: Tensor) -> Double {
        theta.withUnsafeBufferPointer { p in p.reduce(0.0) { $0 + logDensity(element: Double($1)) } }
    }

    public func addGradient(of theta: Tensor, to gradient: inout Tensor, scale: Float) {
        precondition(gradient.count == theta.count, "gradient of \(gradient.count) elements for θ of \(theta.count)")
        let (s1, s2) = (standardDeviation1, standardDeviation2)
        // a₁ − a₂ = c + θ² k, so r₁ = 1 / (1 + exp(−c − θ²k)); exp over/underflow gives r₁ = 0 or 1.
        let c = Float(Foundation.log(mixtureWeight / (1 - mixtureWeight)) + Foundation.log(s2 / s1))
        let k = Float((1 / (s2 * s2) - 1 / (s1 * s1)) / 2)
        let p1 = Float(1 / (s1 * s1)), p2 = Float(1 / (s2 * s2))
        theta.withUnsafeBufferPointer { p in
            gradient.withUnsafeMutableBufferPointer { g in
                for i in p.indices {
                    let x = p[i]
                    let r1 = 1 / (1 + Foundation.exp(-(c + x * x * k)))
                    g[i] -= scale * x * (r1 * p1 + (1 - r1) * p2)
                }
            }
        }
    }

    public func sample(count: Int, rng: inout RandomGenerator) -> Tensor {
        var t = Tensor(uninitializedShape: [count])
        let weight = Float(mixtureWeight), s1 = Float(standardDeviation1), s2 = Float(standardDeviation2)
        t.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = (rng.uniformFloat() < weight ? s1 : s2) * rng.normalFloat() }
        }
        return t
    }
}
