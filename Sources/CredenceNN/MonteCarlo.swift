import CredenceTensor

extension Sequential {
    /// Stacked rows per block in `monteCarloProbabilities`.
    static let rowsPerBlock = 4096

    /// Index of the first stochastic layer (dropout, ...), or nil for a deterministic model.
    public var firstStochasticLayer: Int? { layers.firstIndex { $0.isStochastic } }

    /// Mean softmax over `samples` stochastic forward passes (MC dropout, Gal &
    /// Ghahramani 2016): p(y|x) ≈ (1/S) Σₛ softmax(f(x; θ, εₛ)).
    ///
    /// The deterministic prefix (every layer before the first stochastic one) runs once;
    /// the S passes through the rest are stacked into batches of many rows so each layer
    /// is one large GEMM, and the samples are spread over the worker threads.
    ///
    /// - Returns: `[S, B, C]` per-sample probabilities.
    public func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int,
                                        rng: inout RandomGenerator) throws -> Tensor {
        guard samples >= 1 else { throw ModelError.invalidSpecification("Monte-Carlo samples must be ≥ 1, got \(samples)") }
        let split = firstStochasticLayer ?? layers.count
        let theta = Variable(constant: parameters)
        var context = ForwardContext(mode: .mcSample, rng: rng.split())
        let prefix = try self(Variable(constant: x), parameters: theta, context: &context, layers: 0..<split).value
        let perBlock = Swift.max(1, Self.rowsPerBlock / Swift.max(x.shape.first ?? 0, 1))
        // A suffix that opens with dropout gets its stacked input with the masks already applied.
        let leadingDropout = split < layers.count ? (layers[split] as? Dropout)?.rate : nil
        let suffix = (leadingDropout == nil ? split : split + 1)..<layers.count
        return try stackedMonteCarloProbabilities(prefix, samples: samples, samplesPerBlock: perBlock, leadingDropout: leadingDropout,
                                                  rng: &rng) { input, context in
            try self(input, parameters: theta, context: &context, layers: suffix)
        }
    }
}

extension NetworkModel {
    /// `[S, B, C]` softmax outputs of `samples` stochastic passes of `stochasticPart` over the
    /// same `prefix` ([B, …]). Samples are split over the workers; each worker runs its samples
    /// `samplesPerBlock` at a time, stacked into one batch (one GEMM per layer per block; the
    /// caller keeps a block small enough to stay in the allocator's reusable heap).
    ///
    /// With `leadingDropout` (a rate > 0) the stochastic part's first layer is dropout at that
    /// rate, and `stochasticPart` is the rest: each block's copies of `prefix` are written
    /// with the dropout masks applied — one pass instead of a copy and a dropout pass, the
    /// same numbers (the dropout layer's draw from the context's generator, its pattern over
    /// the stacked block) — or, for a prefix of odd size, copied and then dropped out.
    func stackedMonteCarloProbabilities(_ prefix: Tensor, samples: Int, samplesPerBlock: Int, leadingDropout: Float? = nil,
                                        rng: inout RandomGenerator,
                                        stochasticPart: (Variable, inout ForwardContext) throws -> Variable) throws -> Tensor {
        let b = prefix.shape.first ?? 0
        let groups = Parallel.ranges(samples, parts: Parallel.workerCount)
        let rngs = rng.split(into: groups.count)
        let outputs = try Parallel.map(groups.count) { g -> [Tensor] in
            var context = ForwardContext(mode: .mcSample, rng: rngs[g])
            var blocks: [Tensor] = []
            var s = groups[g].lowerBound
            while s < groups[g].upperBound {
                let n = Swift.min(samplesPerBlock, groups[g].upperBound - s)
                let input: Tensor
                if let rate = leadingDropout, rate > 0 {
                    input = Tensor(tiling: prefix, times: n, droppingOutWith: try DropoutNoise(rate: rate, rng: &context.rng))
                } else {
                    input = Tensor(tiling: prefix, times: n)
                }
                let logits = try stochasticPart(Variable(constant: input), &context).value
                blocks.append(logits.softmaxLastAxis())
                s += n
            }
            return blocks
        }
        let probs = try Tensor.concatenate(outputs.flatMap { $0 }, axis: 0)
        return try probs.reshaped([samples, b, probs.shape.last ?? 1])
    }
}

extension Tensor {
    /// `times` copies of `t` stacked along the first axis, then `noise`'s dropout pattern over
    /// the stack (`Variable.dropout`'s numbers): each copy written once with its window of the
    /// pattern when `t` has an even size (windows start at even positions), else in two passes.
    init(tiling t: Tensor, times: Int, droppingOutWith noise: DropoutNoise) {
        guard t.count % 2 == 0 else {
            self.init(tiling: t, times: times)
            withUnsafeMutableBufferPointer { noise.apply(to: $0.baseAddress!, into: $0.baseAddress!, count: $0.count) }
            return
        }
        self.init(uninitializedShape: Self.shape(stacking: t, times: times))
        let n = t.count
        withUnsafeMutableBufferPointer { dst in
            t.withUnsafeBufferPointer { src in
                for k in 0..<times { noise.apply(to: src.baseAddress!, into: dst.baseAddress! + k * n, count: n, start: k * n) }
            }
        }
    }

    /// `times` copies of `t` stacked along the first axis.
    init(tiling t: Tensor, times: Int) {
        self.init(uninitializedShape: Self.shape(stacking: t, times: times))
        let n = t.count
        withUnsafeMutableBufferPointer { dst in
            t.withUnsafeBufferPointer { src in
                for k in 0..<times { (dst.baseAddress! + k * n).update(from: src.baseAddress!, count: n) }
            }
        }
    }

    /// The shape of `times` copies of `t` along the first axis (a scalar counts as [1]).
    static func shape(stacking t: Tensor, times: Int) -> [Int] {
        var s = t.shape.isEmpty ? [1] : t.shape
        s[0] *= times
        return s
    }
}
