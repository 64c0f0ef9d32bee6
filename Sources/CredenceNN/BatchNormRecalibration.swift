import CredenceTensor

extension NetworkModel {
    /// Whether some layer keeps running statistics (batch normalization).
    public var hasRunningStatistics: Bool { !buffers.isEmpty }

    /// The model with every batch-norm layer's running statistics recomputed for `parameters`
    /// from `inputs` — SWA and SWAG's `bn_update` (Izmailov et al. 2018; Maddox et al. 2019):
    /// training-mode passes over `inputs` in batches of `batchSize`, and, as PyTorch with
    /// `momentum=None`, running_mean = the mean of the batch means, running_var = the mean of
    /// the batches' unbiased variances, num_batches_tracked = the number of batches. A network
    /// whose weights were averaged or sampled needs this: the statistics training left belong to
    /// other weights. Batches run on the worker threads; the result does not depend on how many.
    ///
    /// ```swift
    /// let sampled = try model.recomputingRunningStatistics(parameters: θ̃, inputs: trainImages)
    /// ```
    public func recomputingRunningStatistics(parameters: Tensor, inputs: Tensor, batchSize: Int = 128,
                                             rng: RandomGenerator = RandomGenerator(seed: 0)) throws -> any NetworkModel {
        guard hasRunningStatistics else { return self }
        let n = inputs.shape.first ?? 0
        guard n >= 2, batchSize >= 2 else {
            throw ModelError.invalidSpecification("recomputing running statistics needs at least two inputs and batches of ≥ 2; got \(n) inputs, batch \(batchSize)")
        }
        let batches = stride(from: 0, to: n, by: batchSize).map { $0..<Swift.min($0 + batchSize, n) }.filter { $0.count >= 2 }
        var base = rng
        let rngs = base.split(into: batches.count)
        let theta = Variable(constant: parameters)
        let perWorker = Parallel.ranges(batches.count, parts: Parallel.workerCount)
        let measured = try Parallel.map(perWorker.count) { w in
            try perWorker[w].map { b -> [String: [BatchNormStatistics]] in
                var context = ForwardContext(mode: .train, rng: rngs[b])
                _ = try self(Variable(constant: try inputs.rows(batches[b])), parameters: theta, context: &context)
                return context.batchStatistics
            }
        }.flatMap { $0 }
        var sums: [String: (mean: [Double], variance: [Double], count: Int)] = [:]
        for statistics in measured {
            for (module, passes) in statistics {
                for pass in passes {
                    let correction = Double(pass.count) / Double(Swift.max(pass.count - 1, 1))
                    var entry = sums[module] ?? (Array(repeating: 0, count: pass.mean.count), Array(repeating: 0, count: pass.mean.count), 0)
                    for (c, (m, v)) in zip(pass.mean.values, pass.variance.values).enumerated() {
                        entry.mean[c] += Double(m)
                        entry.variance[c] += Double(v) * correction
                    }
                    entry.count += 1
                    sums[module] = entry
                }
            }
        }
        var values = bufferValues
        for (module, entry) in sums {
            let k = Double(entry.count)
            values["\(module).running_mean"] = Tensor(entry.mean.map { Float($0 / k) })
            values["\(module).running_var"] = Tensor(entry.variance.map { Float($0 / k) })
            values["\(module).num_batches_tracked"] = Tensor(Float(entry.count))
        }
        return try replacingBuffers(values)
    }
}
