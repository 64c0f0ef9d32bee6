import Foundation

/// The Laplace approximation of the log marginal likelihood (evidence; MacKay 1992,
/// laplace-torch's `log_marginal_likelihood`):
///
///     log p(D | δ) ≈ log p(D | θ̂) − ½ [log det P − log det P₀ + θ̂ᵀ P₀ θ̂],
///
/// with P = s·H + P₀ the posterior precision and P₀ = diag(δ) the prior precision (prior
/// mean 0). θ̂ is the subset's MAP value, held fixed while δ varies.
public func laplaceLogMarginalLikelihood(logLikelihood: Double, posteriorLogDeterminant: Double,
                                         prior: PriorPrecision, groups: [Range<Int>], mean: [Double]) -> Double {
    var priorLogDet = 0.0, scatter = 0.0
    for (g, r) in groups.enumerated() {
        let d = prior.value(group: g)
        priorLogDet += Double(r.count) * Foundation.log(d)
        for i in r { scatter += d * mean[i] * mean[i] }
    }
    return logLikelihood - 0.5 * (posteriorLogDeterminant - priorLogDet + scatter)
}

/// Maximises the Laplace log marginal likelihood over log δ — a 1-D Brent search for a
/// scalar δ (the objective is concave in log δ: its derivative ½(γ(δ) − δ‖θ̂‖²) decreases,
/// γ = Σ sλᵢ/(sλᵢ + δ) the effective number of parameters). Each evaluation reuses the
/// curvature's decomposition (`logDeterminantFunction`), so a search over 10⁴ weights with
/// KFAC costs milliseconds.
///
/// A layerwise prior starts from the scalar optimum and iterates MacKay's fixed point
/// δ_g ← γ_g/‖θ̂_g‖², γ_g = n_g − δ_g Σ_{i∈g} (P⁻¹)ᵢᵢ (the stationarity condition of each
/// group; one factorization per iteration), accepting only steps that raise the evidence,
/// then polishes with cyclic 1-D Brent searches per group until no log δ moves by 1e-4.
struct PriorPrecisionSearch {
    var logLikelihood: Double
    var groups: [Range<Int>]
    var mean: [Double]
    var logDeterminant: (PriorPrecision) throws -> Double
    /// log det P and diag(P⁻¹) at a prior (one factorization), for the layerwise fixed point.
    var factorized: ((PriorPrecision) throws -> (logDeterminant: Double, variances: [Double]))? = nil
    /// Search interval for log δ.
    var bounds: ClosedRange<Double> = Foundation.log(1e-8)...Foundation.log(1e8)

    func objective(_ prior: PriorPrecision) throws -> Double {
        laplaceLogMarginalLikelihood(logLikelihood: logLikelihood, posteriorLogDeterminant: try logDeterminant(prior),
                                     prior: prior, groups: groups, mean: mean)
    }

    func maximize(_ structure: PriorStructure) throws -> (prior: PriorPrecision, logMarginalLikelihood: Double) {
        var error: Error?
        let scalar = Self.brentMaximize(bounds) { t in
            do { return try objective(PriorPrecision(Foundation.exp(t))) } catch let e { error = e; return -.infinity }
        }
        if let error { throw error }
        guard structure == .layerwise, groups.count > 1 else {
            return (PriorPrecision(Foundation.exp(scalar.x)), scalar.value)
        }
        var t = [Double](repeating: scalar.x, count: groups.count)
        var best = scalar.value
        if let factorized {
            let squares = groups.map { r in r.reduce(0.0) { $0 + mean[$1] * mean[$1] } }
            for _ in 0..<100 {
                let (_, variances) = try factorized(PriorPrecision(values: t.map(Foundation.exp)))
                var next = t
                for (g, r) in groups.enumerated() {
                    let d = Foundation.exp(t[g])
                    let gamma = Double(r.count) - d * r.reduce(0.0) { $0 + variances[$1] }
                    next[g] = squares[g] > 0 && gamma > 0
                        ? Swift.min(Swift.max(Foundation.log(gamma / squares[g]), bounds.lowerBound), bounds.upperBound)
                        : (squares[g] > 0 ? bounds.lowerBound : bounds.upperBound)
                }
                let prior = PriorPrecision(values: next.map(Foundation.exp))
                let value = laplaceLogMarginalLikelihood(logLikelihood: logLikelihood,
                                                         posteriorLogDeterminant: try factorized(prior).logDeterminant,
                                                         prior: prior, groups: groups, mean: mean)
                guard value >= best else { break }
                let moved = zip(next, t).map { abs($0 - $1) }.max() ?? 0
                (t, best) = (next, value)
                if moved < 1e-7 { return (prior, best) }
            }
        }
        for _ in 0..<20 {
            var moved = 0.0
            for g in groups.indices {
                let result = Self.brentMaximize(bounds) { x in
                    var trial = t
                    trial[g] = x
                    do { return try objective(PriorPrecision(values: trial.map(Foundation.exp))) } catch let e { error = e; return -.infinity }
                }
                if let error { throw error }
                if result.value >= best {
                    moved = Swift.max(moved, abs(result.x - t[g]))
                    t[g] = result.x
                    best = result.value
                }
            }
            if moved < 1e-4 { break }
        }
        return (PriorPrecision(values: t.map(Foundation.exp)), best)
    }

    /// Brent's method (golden section with parabolic interpolation; Brent 1973) for the
    /// maximum of `f` on `interval`, to 1e-7 in x.
    static func brentMaximize(_ interval: ClosedRange<Double>, tolerance: Double = 1e-7,
                              _ f: (Double) -> Double) -> (x: Double, value: Double) {
        let golden = 0.381_966_011_250_105_1
        var a = interval.lowerBound, b = interval.upperBound
        var x = a + golden * (b - a), w = x, v = x
        var fx = -f(x), fw = fx, fv = fx
        var d = 0.0, e = 0.0
        for _ in 0..<200 {
            let m = 0.5 * (a + b)
            let tol1 = tolerance * abs(x) + 1e-10, tol2 = 2 * tol1
            if abs(x - m) <= tol2 - 0.5 * (b - a) { break }
            var useGolden = true
            if abs(e) > tol1 {
                var r = (x - w) * (fx - fv), q = (x - v) * (fx - fw)
                var p = (x - v) * q - (x - w) * r
                q = 2 * (q - r)
                if q > 0 { p = -p } else { q = -q }
                r = e
                e = d
                if abs(p) < abs(0.5 * q * r), p > q * (a - x), p < q * (b - x) {
                    d = p / q
                    let u = x + d
                    if u - a < tol2 || b - u < tol2 { d = x < m ? tol1 : -tol1 }
                    useGolden = false
                }
            }
            if useGolden {
                e = (x < m ? b : a) - x
                d = golden * e
            }
            let u = abs(d) >= tol1 ? x + d : x + (d > 0 ? tol1 : -tol1)
            let fu = -f(u)
            if fu <= fx {
                if u < x { b = x } else { a = x }
                (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu)
            } else {
                if u < x { a = u } else { b = u }
                if fu <= fw || w == x {
                    (v, fv, w, fw) = (w, fw, u, fu)
                } else if fu <= fv || v == x || v == w {
                    (v, fv) = (u, fu)
                }
            }
        }
        return (x, -fx)
    }
}
