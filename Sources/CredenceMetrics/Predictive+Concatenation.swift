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
            return try Predictive(probabilities: try Tensor.concatenate(parts.map { $0.probabilities! }, axis: 1))
        case .regression:
            return try Predictive(means: try Tensor.concatenate(parts.map { $0.means! }, axis: 1),
                                  variances: try Tensor.concatenate(parts.map { $0.variances! }, axis: 1))
        }
    }
}
