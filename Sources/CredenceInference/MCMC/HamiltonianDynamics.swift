import CredenceNN
import CredenceTensor
import Foundation

/// A differentiable log-density the Hamiltonian samplers (`HMCChain`) move on: log π(θ) up to
/// an additive constant and ∇log π(θ), in double precision. A non-finite value marks θ as
/// outside the support: a trajectory that reaches it ends as divergent.
public protocol HamiltonianTarget: Sendable {
    var dimension: Int { get }
    func logDensity(at position: [Double]) throws -> (value: Double, gradient: [Double])
}

/// A network's tempered log-posterior on the **whole** training set (`LogPosterior` with
/// |B| = N: the exact log p(D | θ) + log p(θ), over T): what full-batch HMC and NUTS sample.
/// The parameters are the network's flat `Float` vector; positions, momenta and energies stay
/// in `Double`.
public struct NetworkLogDensity: HamiltonianTarget, @unchecked Sendable {
    public let posterior: LogPosterior
    public let batch: TrainingBatch
    public var dimension: Int { posterior.model.parameterCount }

    /// - Parameter data: the training set, all of it (N = `posterior.datasetSize` examples).
    public init(posterior: LogPosterior, data: some BatchSource) throws {
        guard data.count == posterior.datasetSize else {
            throw InferenceError.invalidOption("full-batch HMC needs the whole data set: the log-posterior is for N = \(posterior.datasetSize) examples, the data has \(data.count)")
        }
        self.posterior = posterior
        batch = try data.trainingBatch(Array(0..<data.count))
    }

    public func logDensity(at position: [Double]) throws -> (value: Double, gradient: [Double]) {
        var rng = RandomGenerator(seed: 0)  // eval mode: no layer draws from it
        let (value, gradient) = try posterior.logDensity(parameters: Tensor(position.map { Float($0) }), batch: batch, rng: &rng)
        return (value, gradient.values.map(Double.init))
    }
}

/// A point of phase space: position θ, momentum p, and log π(θ) with its gradient (kept so a
/// leapfrog step costs one gradient).
struct PhasePoint {
    var position: [Double]
    var momentum: [Double]
    var logDensity: Double
    var gradient: [Double]
}

/// M⁻¹, the "inverse metric" of the kinetic energy ½ pᵀM⁻¹p: the posterior covariance warm-up
/// estimates (Stan's name), as its diagonal or in full.
enum InverseMetric: Equatable {
    case diagonal([Double])
    /// Σ (d×d) with its lower Cholesky factor L (Σ = L·Lᵀ), which draws the momenta.
    case dense(covariance: DenseMatrix, factor: DenseMatrix)

    /// A dense Σ, factored; throws when Σ is not positive definite.
    static func dense(_ covariance: DenseMatrix) throws -> InverseMetric {
        .dense(covariance: covariance, factor: try covariance.choleskyFactor())
    }
}

/// H(θ, p) = −log π(θ) + ½ pᵀM⁻¹p, and its leapfrog integrator.
struct Hamiltonian {
    let target: any HamiltonianTarget
    let inverseMetric: InverseMetric

    /// H at `z`; `velocity`, when the caller has it, is z's M⁻¹p (saves the dense metric a product).
    func energy(_ z: PhasePoint, velocity known: [Double]? = nil) -> Double {
        var kinetic = 0.0
        switch inverseMetric {
        case let .diagonal(m):
            for i in z.momentum.indices { kinetic += z.momentum[i] * z.momentum[i] * m[i] }
        case .dense:
            for (p, v) in zip(z.momentum, known ?? velocity(z.momentum)) { kinetic += p * v }
        }
        let h = -z.logDensity + kinetic / 2
        return h.isNaN ? .infinity : h
    }

    /// p♯ = M⁻¹p, the velocity dθ/dt (the no-U-turn criterion's direction).
    func velocity(_ momentum: [Double]) -> [Double] {
        switch inverseMetric {
        case let .diagonal(m): return zip(momentum, m).map { $0 * $1 }
        // (The shapes agree by construction: Σ is d×d for the chain's d coordinates.)
        case let .dense(covariance, _): return (try! covariance.matmul(DenseMatrix(column: momentum))).values
        }
    }

    /// p ~ N(0, M): z/√m on a diagonal; with Σ = L·Lᵀ, p = L⁻ᵀz (its covariance L⁻ᵀL⁻¹ = Σ⁻¹ = M).
    func drawMomentum(_ rng: inout RandomGenerator) -> [Double] {
        let z = standardNormals(dimension, &rng)
        switch inverseMetric {
        case let .diagonal(m): return zip(z, m).map { $0 / $1.squareRoot() }
        case let .dense(_, factor): return (try! factor.solveLowerTriangular(DenseMatrix(column: z), transpose: true)).values
        }
    }

    var dimension: Int {
        switch inverseMetric {
        case let .diagonal(m): return m.count
        case let .dense(covariance, _): return covariance.rows
        }
    }

    /// One leapfrog step of size ε (negative: backwards in time): p ← p + ε/2·∇log π(θ),
    /// θ ← θ + ε·M⁻¹p, p ← p + ε/2·∇log π(θ). Volume-preserving and reversible; H changes by
    /// O(ε³) per step on smooth targets. A position outside the support gets log π = −∞.
    func leapfrog(_ z: inout PhasePoint, stepSize epsilon: Double) throws {
        let half = epsilon / 2
        switch inverseMetric {
        case let .diagonal(m):
            for i in z.momentum.indices {
                z.momentum[i] += half * z.gradient[i]
                z.position[i] += epsilon * m[i] * z.momentum[i]
            }
        case .dense:
            for i in z.momentum.indices { z.momentum[i] += half * z.gradient[i] }
            for (i, v) in velocity(z.momentum).enumerated() { z.position[i] += epsilon * v }
        }
        let (value, gradient) = try target.logDensity(at: z.position)
        z.logDensity = value.isFinite ? value : -.infinity
        z.gradient = gradient
        guard z.logDensity.isFinite else { return }
        for i in z.momentum.indices { z.momentum[i] += half * z.gradient[i] }
    }
}

/// `count` independent standard normals in double precision (Box–Muller on `uniformDouble`).
func standardNormals(_ count: Int, _ rng: inout RandomGenerator) -> [Double] {
    var values = [Double](repeating: 0, count: count)
    var i = 0
    while i < count {
        let radius = (-2 * log(1 - rng.uniformDouble())).squareRoot(), angle = 2 * Double.pi * rng.uniformDouble()
        values[i] = radius * cos(angle)
        if i + 1 < count { values[i + 1] = radius * sin(angle) }
        i += 2
    }
    return values
}

/// log(exp(a) + exp(b)) without overflow.
func logSumExp(_ a: Double, _ b: Double) -> Double {
    if a == -.infinity { return b }
    if b == -.infinity { return a }
    let m = Swift.max(a, b)
    return m + log(exp(a - m) + exp(b - m))
}
