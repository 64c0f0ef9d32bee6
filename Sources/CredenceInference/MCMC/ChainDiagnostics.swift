import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation

/// Convergence diagnostics of MCMC chains of one scalar quantity (a parameter, a random
/// projection of the parameters, or a predictive probability at a test point), as Vehtari,
/// Gelman, Simpson, Carpenter & Bürkner (2021) define them and ArviZ and Stan compute them:
///
/// - `rHat`: rank-normalised split-R̂ — each chain split in halves, the draws replaced by the
///   normal scores of their pooled ranks, Gelman–Rubin's R̂ of those; the larger of that and the
///   same for the draws folded around the median (which sees differing scales). Values above
///   1.01 say the chains have not mixed.
/// - `bulkEffectiveSampleSize`: the effective sample size of the rank-normalised split chains,
///   from their autocorrelations truncated by Geyer's initial monotone sequence.
/// - `tailEffectiveSampleSize`: the smaller of the effective sample sizes of the indicators
///   I(θ ≤ q₅%) and I(θ ≤ q₉₅%) — how well the 5 % and 95 % quantiles are estimated.
///
/// `chains` holds one array of draws per chain, all of the same length ≥ 4. Checked against
/// ArviZ 0.23 on the same draws (tests).
public enum ChainDiagnostics {
    public static func rHat(_ chains: [[Double]]) throws -> Double {
        try validate(chains, minimumChains: 2)
        let split = splitChains(chains)
        let median = quantile(split.flatMap { $0 }, 0.5)
        let bulk = gelmanRubin(rankNormalized(split))
        let folded = gelmanRubin(rankNormalized(split.map { $0.map { Swift.abs($0 - median) } }))
        return Swift.max(bulk, folded)
    }

    public static func bulkEffectiveSampleSize(_ chains: [[Double]]) throws -> Double {
        try validate(chains, minimumChains: 1)
        return effectiveSampleSize(rankNormalized(splitChains(chains)))
    }

    public static func tailEffectiveSampleSize(_ chains: [[Double]]) throws -> Double {
        try validate(chains, minimumChains: 1)
        let all = chains.flatMap { $0 }
        return [0.05, 0.95].map { p -> Double in
            let q = quantile(all, p)
            return effectiveSampleSize(splitChains(chains.map { $0.map { $0 <= q ? 1 : 0 } }))
        }.min()!
    }

    static func validate(_ chains: [[Double]], minimumChains: Int) throws {
        guard chains.count >= minimumChains else {
            throw InferenceError.invalidOption("the diagnostic needs at least \(minimumChains) chains, got \(chains.count)")
        }
        let n = chains.first?.count ?? 0
        guard n >= 4, chains.allSatisfy({ $0.count == n }) else {
            throw InferenceError.invalidOption("chains must be equally long with at least 4 draws each; got lengths \(chains.map(\.count))")
        }
        guard chains.allSatisfy({ $0.allSatisfy(\.isFinite) }) else {
            throw InferenceError.invalidOption("the chains hold a non-finite draw (NaN or ±∞): the sampler diverged")
        }
    }

    /// Each chain's first and last ⌊n/2⌋ draws as two chains (the middle draw of an odd length dropped).
    static func splitChains(_ chains: [[Double]]) -> [[Double]] {
        let half = (chains.first?.count ?? 0) / 2
        return chains.map { Array($0.prefix(half)) } + chains.map { Array($0.suffix(half)) }
    }

    /// The draws replaced by Φ⁻¹((r − 3/8)/(S + 1/4)), r their average rank among all S draws (Blom).
    static func rankNormalized(_ chains: [[Double]]) -> [[Double]] {
        let all = chains.flatMap { $0 }, count = all.count
        let order = all.indices.sorted { all[$0] < all[$1] }
        var ranks = [Double](repeating: 0, count: count)
        var i = 0
        while i < count {
            var j = i
            while j + 1 < count, all[order[j + 1]] == all[order[i]] { j += 1 }
            let average = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = average }
            i = j + 1
        }
        let n = chains.first?.count ?? 0
        return chains.indices.map { c in
            (0..<n).map { k in standardNormalQuantile((ranks[c * n + k] - 0.375) / (Double(count) + 0.25)) }
        }
    }

    /// Gelman–Rubin: √((B/W + n − 1)/n) with B = n·Var(chain means), W the mean within-chain variance.
    static func gelmanRubin(_ chains: [[Double]]) -> Double {
        let n = Double(chains[0].count)
        let means = chains.map { $0.reduce(0, +) / n }
        let within = zip(chains, means).map { chain, m in chain.reduce(0) { $0 + ($1 - m) * ($1 - m) } / (n - 1) }.reduce(0, +)
            / Double(chains.count)
        let between = n * sampleVariance(means)
        return ((between / within + n - 1) / n).squareRoot()
    }

    /// ESS = M·N/τ, τ = −1 + 2 Σ ρ̂ₜ over Geyer's initial monotone sequence of the multi-chain
    /// autocorrelations ρ̂ₜ = 1 − (W − mean autocovariance at lag t)/var⁺ (ArviZ's `_ess`).
    static func effectiveSampleSize(_ chains: [[Double]]) -> Double {
        let all = chains.flatMap { $0 }
        let total = Double(all.count)
        guard let lo = all.min(), let hi = all.max(), hi - lo >= 1e-15 else { return total }
        let m = chains.count, n = chains[0].count
        let centred = chains.map { chain -> [Double] in
            let mean = chain.reduce(0, +) / Double(n)
            return chain.map { $0 - mean }
        }
        // The chains' mean autocovariance at `lag` (divided by n), computed as the sequence needs it.
        func autocovariance(_ lag: Int) -> Double {
            centred.map { c in (0..<(n - lag)).reduce(0.0) { $0 + c[$1] * c[$1 + lag] } / Double(n) }.reduce(0, +) / Double(m)
        }
        let meanVariance = autocovariance(0) * Double(n) / Double(n - 1)
        var varPlus = meanVariance * Double(n - 1) / Double(n)
        if m > 1 { varPlus += sampleVariance(chains.map { $0.reduce(0, +) / Double(n) }) }
        var rho = [Double](repeating: 0, count: n)
        var even = 1.0, odd = 1 - (meanVariance - autocovariance(1)) / varPlus
        rho[0] = even
        rho[1] = odd
        var t = 1
        while t < n - 3, even + odd > 0 {
            even = 1 - (meanVariance - autocovariance(t + 1)) / varPlus
            odd = 1 - (meanVariance - autocovariance(t + 2)) / varPlus
            if even + odd >= 0 {
                rho[t + 1] = even
                rho[t + 2] = odd
            }
            t += 2
        }
        let maxT = t - 2
        if even > 0 { rho[maxT + 1] = even }
        t = 1
        while t <= maxT - 2 {
            if rho[t + 1] + rho[t + 2] > rho[t - 1] + rho[t] {
                rho[t + 1] = (rho[t - 1] + rho[t]) / 2
                rho[t + 2] = rho[t + 1]
            }
            t += 2
        }
        // Half-open: a chain of 4 or fewer draws ends the sequence at once (maxT = −1, an empty sum).
        var tau = -1 + 2 * rho[0..<(maxT + 1)].reduce(0, +) + (maxT + 1 < n ? rho[maxT + 1] : 0)
        tau = Swift.max(tau, 1 / Foundation.log10(total))
        return total / tau
    }

    static func sampleVariance(_ values: [Double]) -> Double {
        let mean = values.reduce(0, +) / Double(values.count)
        return values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
    }

    /// The p-quantile with linear interpolation between order statistics (NumPy's default).
    static func quantile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let position = p * Double(sorted.count - 1)
        let lower = Int(position.rounded(.down)), upper = Swift.min(lower + 1, sorted.count - 1)
        return sorted[lower] + (position - Double(lower)) * (sorted[upper] - sorted[lower])
    }
}

/// The diagnostics of one scalar quantity along a chain of posterior samples.
public struct ChainQuantityDiagnostics: Codable, Sendable, Equatable {
    /// What was followed: "projection k" (θ onto a random unit direction), "p(class c | test
    /// point i)" or "predicted mean at test point i".
    public var quantity: String
    /// Split-R̂ across the chains, or over one chain's halves taken as two chains (nil with
    /// fewer than 8 samples in one chain, or 4 per chain).
    public var rHat: Double?
    public var bulkEffectiveSampleSize: Double
    public var tailEffectiveSampleSize: Double
}

extension ChainDiagnostics {
    /// Diagnostics of chains of parameter samples (each oldest first, as the samplers keep
    /// them): `projections` random projections of θ (unit directions from `rng`) and, at each
    /// of `inputs`' examples, the probability of the class the samples' average predicts
    /// (classification) or the first predicted mean (regression). Several chains: split-R̂ and
    /// ESS across them. One chain: R̂ treats its two halves as two chains (so it is split-R̂
    /// over quarters); ESS is over the whole chain.
    public static func diagnose(chains: [[Tensor]], model: any NetworkModel, task: Predictive.Task, inputs: Tensor, projections: Int,
                                rng: inout RandomGenerator) throws -> [ChainQuantityDiagnostics] {
        guard let length = chains.first?.count, chains.allSatisfy({ $0.count == length }) else {
            throw InferenceError.invalidOption("chain diagnostics need chains of equal length, got \(chains.map(\.count))")
        }
        guard length * chains.count >= 4 else {
            throw InferenceError.invalidOption("chain diagnostics need at least 4 samples in the chain, got \(length * chains.count)")
        }
        guard projections >= 0 else { throw InferenceError.invalidOption("projections must be ≥ 0, got \(projections)") }
        /// A scalar per sample, chain by chain.
        var series: [(String, [[Double]])] = []
        let p = model.parameterCount
        for k in 0..<projections {
            let direction = Tensor.randomNormal(shape: [p], rng: &rng).values
            let norm = direction.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            series.append(("projection \(k + 1)", chains.map { chain in
                chain.map { theta in zip(theta.values, direction).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / norm }
            }))
        }
        let points = inputs.shape.first ?? 0
        if points > 0 {
            let outputs = try chains.map { chain in
                try chain.map { theta -> [Float] in
                    let out = try model.predictBatched(inputs, parameters: theta)
                    return task == .classification ? out.softmaxLastAxis().values : out.values
                }
            }
            let width = outputs[0][0].count / points
            for i in 0..<points {
                let column: Int, name: String
                if task == .classification {
                    let mean = (0..<width).map { k in outputs.joined().reduce(0.0) { $0 + Double($1[i * width + k]) } }
                    column = mean.indices.max { mean[$0] < mean[$1] }!
                    name = "p(class \(column) | test point \(i))"
                } else {
                    (column, name) = (0, "predicted mean at test point \(i)")
                }
                series.append((name, outputs.map { chain in chain.map { Double($0[i * width + column]) } }))
            }
        }
        return try series.map { name, values in
            let split = values.count > 1 ? values : [Array(values[0].prefix(length / 2)), Array(values[0].suffix(length / 2))]
            let enough = values.count > 1 ? length >= 4 : length >= 8
            return ChainQuantityDiagnostics(quantity: name, rHat: enough ? try rHat(split) : nil,
                                            bulkEffectiveSampleSize: try bulkEffectiveSampleSize(values),
                                            tailEffectiveSampleSize: try tailEffectiveSampleSize(values))
        }
    }
}
