import CredenceTensor

// The axes of the Laplace approximation (Daxberger et al. 2021, "Laplace Redux"): which
// weights are treated probabilistically × how their curvature is structured × how the
// predictive is formed. Every combination goes through `Laplace(...)`, which rejects the
// illegal ones before any work starts.

/// Which weights the Laplace approximation is over; the rest stay at their MAP values.
public enum WeightSubset: String, Codable, CaseIterable, Sendable {
    /// Every weight of the network (its layers with parameters must all be dense).
    case all
    /// The last dense layer (weights and bias): features φ(x) from the fixed prefix. Under a
    /// homoscedastic noise head (`HomoscedasticNoise`), that layer and the head's noise level.
    case lastLayer = "last-layer"
    /// The first dense layer (the STF-BNN subset).
    case firstLayer = "first-layer"
    /// A chosen set of weights of the dense layers (Daxberger et al. 2021, subnetwork inference).
    case subnetwork
}

/// How the curvature (generalized Gauss–Newton) of the selected weights is represented.
public enum HessianStructure: String, Codable, CaseIterable, Sendable {
    /// Only the diagonal: one precision per weight.
    case diagonal
    /// Kronecker-factored per layer (KFAC, Ritter et al. 2018): G ⊗ A for weights, G for biases.
    case kronecker
    /// The dense matrix over the selected weights (Cholesky in double precision).
    case full
    /// The top-k eigenpairs of the dense matrix, plus the prior.
    case lowRank = "low-rank"
}

/// How predictions integrate over the posterior.
public enum PredictiveKind: String, Codable, CaseIterable, Sendable {
    /// Monte-Carlo average of the network at sampled weights.
    case monteCarlo = "monte-carlo"
    /// Linearised network (generalized linear model, Immer et al. 2021): f ≈ f(θ̂) + J(θ − θ̂).
    case glm
}

/// How the GLM predictive turns the Gaussian over logits into class probabilities.
///
/// The probit scales each logit by its own variance (laplace-torch's formula), ignoring the
/// correlations between logits. Softmax is blind to a common shift of all logits, but with a
/// small prior precision that direction carries most of each logit's variance, and probit
/// then under-states confidence (two moons, δ ≈ 1.5: test NLL 0.11 against 0.035 for the
/// MAP and 0.038 for the Monte-Carlo link). The Monte-Carlo link is exact up to sampling error.
public enum LinkApproximation: String, Codable, CaseIterable, Sendable {
    /// softmax(f / √(1 + π/8·diag Σ)) (MacKay 1992; laplace-torch's 'probit'); S = 1.
    case probit
    /// Average softmax over logit samples f ~ N(f̂, Σ); S = samples.
    case monteCarlo = "monte-carlo"
}

/// How many prior precisions the marginal likelihood tunes.
public enum PriorStructure: String, Codable, CaseIterable, Sendable {
    /// One precision δ for every weight.
    case scalar
    /// One precision per parameter tensor (each weight matrix and each bias: laplace-torch's 'layerwise').
    case layerwise
}

/// Whether the prior precision is tuned after the curvature is collected.
public enum PriorOptimization: String, Codable, CaseIterable, Sendable {
    /// Keep the given prior precision.
    case none
    /// Maximise the Laplace approximation of the log marginal likelihood over log δ.
    case marginalLikelihood = "marginal-likelihood"
    /// Minimise the predictive's NLL on held-out examples over a grid of δ
    /// (`HeldOutPriorSearch`; the registry's `laplace` with `--holdout N`). `Laplace` itself
    /// has no held-out data: fit with `.none`, then tune with `HeldOutPriorSearch`.
    case heldOut = "held-out"
}

/// The observation model of a regression network.
public enum RegressionLikelihood: String, Codable, CaseIterable, Sendable {
    /// The network outputs D means; one noise variance σ² for all examples (given or fitted).
    case homoscedastic
    /// The network outputs D means then D raw variances (σ² = softplus(raw) + 1e-6), as `Loss.meanAndVariance`.
    case heteroscedastic
}

/// Errors of the Laplace approximation: rejected option combinations (raised before any
/// work starts) and unusable models or curvature.
public enum LaplaceError: Error, CustomStringConvertible, Equatable {
    /// Two options that do not go together (the message says which and what to use instead).
    case illegalCombination(String)
    /// The dense curvature would not fit: `parameters` weights need `bytes` bytes per matrix.
    case tooLarge(parameters: Int, bytes: Int, limit: Int, message: String)
    /// The model does not have what the chosen subset needs (e.g. no dense layer).
    case unsupportedModel(String)
    /// A value out of range.
    case invalidValue(String)

    public var description: String {
        switch self {
        case let .illegalCombination(m): return "illegal Laplace options: \(m)"
        case let .tooLarge(parameters, bytes, limit, m):
            let gb = Double(bytes) / 1e9
            return "a dense \(parameters)×\(parameters) curvature needs \(String(format: "%.1f", gb)) GB "
                + "(limit \(limit) weights); \(m)"
        case let .unsupportedModel(m): return "unsupported model for Laplace: \(m)"
        case let .invalidValue(m): return "invalid Laplace setting: \(m)"
        }
    }
}
