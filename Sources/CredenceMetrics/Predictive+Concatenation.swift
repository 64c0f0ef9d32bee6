import CredenceTensor

extension Predictive {
    /// The predictives of consecutive batches joined along the example axis, for scoring a
    /// test set evaluated batch by batch: `[S, N₁, C] ⧺ [S, N₂, C] → [S, N₁ + N₂, C]`.
    ///
    /// ```swift
    /// var parts: [Predictive] = []
    /// for batch in test.batches { parts.append(try posterior.predictive(batch.inputs, samples: 32)) }
    /// let predictive = try Predictive.concatenating(parts)
    /// ```
    /// - Throws: `MetricsError` when `parts` is empty or the parts differ in task, sample
    ///   count or output count.
    public static func concatenating(_ parts: [Predictive]) throws -> Predictive {
        guard let first = parts.first else { throw MetricsError.empty(name: "predictives to concatenate") }
        if parts.count == 1 { return first }
        for (i, p) in parts.enumerated() where p.task != first.task || p.sampleCount != first.sampleCount || p.outputCount != first.outputCount {
            throw MetricsError.invalidArgument(
                name: "parts[\(i)]",
                message: "is a \(p.task.rawValue) predictive with S = \(p.sampleCount), \(p.outputCount) outputs; part 0 is \(first.task.rawValue) with S = \(first.sampleCount), \(first.outputCount) outputs")
        }
        switch first.task {
        case .classification:
            let probabilities = try Tensor.concatenate(parts.map { $0.probabilities! }, axis: 1)
            if first.expectedEntropyIsGiven {
                guard parts.allSatisfy(\.expectedEntropyIsGiven) else {
                    throw MetricsError.invalidArgument(name: "parts", message: "mix given (distilled) and sampled expected entropies")
                }
                return try Predictive(probabilities: probabilities.reshaped(Array(probabilities.shape.dropFirst())),
                                      expectedEntropy: parts.flatMap(\.expectedEntropy))
            }
            return try Predictive(probabilities: probabilities)
        case .regression:
            return try Predictive(means: try Tensor.concatenate(parts.map { $0.means! }, axis: 1),
                                  variances: try Tensor.concatenate(parts.map { $0.variances! }, axis: 1))
        }
    }
}

extension Predictive {
    /// A regression predictive made on standardised targets `z = (y − μ) / σ`, moved back
    /// to the targets' own units: every Gaussian's mean becomes `μ + σ·m` and its variance
    /// `σ²·v`, output by output. Metrics of the result are in the original units (RMSE and
    /// CRPS ×σ, Gaussian NLL + log σ, interval coverage unchanged).
    ///
    /// ```swift
    /// let p = try posterior.predictive(test.inputs, samples: 32, rng: &rng)          // standardised
    /// let original = try p.destandardized(mean: [22.5], standardDeviation: [9.2])    // e.g. $1000s
    /// ```
    /// - Throws: `MetricsError` for a classification predictive, lists not one value per
    ///   output, or a σ that is not positive and finite.
    public func destandardized(mean: [Double], standardDeviation: [Double]) throws -> Predictive {
        try require(.regression, for: "destandardized")
        guard mean.count == outputCount, standardDeviation.count == outputCount else {
            throw MetricsError.invalidArgument(name: "mean, standardDeviation",
                                               message: "need one value per output (\(outputCount)); got \(mean.count) and \(standardDeviation.count)")
        }
        if let bad = standardDeviation.firstIndex(where: { !($0 > 0 && $0.isFinite) }) {
            throw MetricsError.invalidArgument(name: "standardDeviation", message: "output \(bad) has σ = \(standardDeviation[bad]); it must be positive and finite")
        }
        var m = means!, v = variances!
        let d = outputCount
        m.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = Float(mean[i % d] + standardDeviation[i % d] * Double(p[i])) }
        }
        v.withUnsafeMutableBufferPointer { p in
            for i in p.indices { p[i] = Float(standardDeviation[i % d] * standardDeviation[i % d] * Double(p[i])) }
        }
        return try Predictive(means: m, variances: v)
    }
}
