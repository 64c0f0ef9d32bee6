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
        // A suffix that opens with dropout gets its stacked input with the masks already applied,
        // or, when a dense layer follows and few of its inputs are dropped, that layer's outputs.
        var leading = StackedLeadingLayers.none
        var suffix = split..<layers.count
        if split < layers.count, let rate = (layers[split] as? Dropout)?.rate, rate > 0 {
            leading = .dropout(rate: rate)
            suffix = split + 1..<layers.count
            if split + 1 < layers.count, let dense = layers[split + 1] as? Dense,
               Self.dropsFewEnough(prefix, rate: rate, into: dense) {
                let parameters = try layerParameters(split + 1, of: theta)
                let base = try forwardLayer(split + 1, Variable(constant: prefix * DropoutNoise.scale(rate: rate)),
                                            parameters: parameters, context: &context).value
                leading = .dropoutThenDense(rate: rate, transposedWeight: Self.paddedTransposed(parameters[0].value), base: base)
                suffix = split + 2..<layers.count
            }
        }
        return try stackedMonteCarloProbabilities(prefix, samples: samples, samplesPerBlock: perBlock, leading: leading,
                                                  rng: &rng) { input, context in
            try self(input, parameters: theta, context: &context, layers: suffix)
        }
    }

    /// Whether the dense layer after dropout at `rate` is faster done as its product without
    /// dropout less the dropped units' terms (`StackedLeadingLayers.dropoutThenDense`): for an
    /// input [B, in] with `in` even (the patterns' windows), a layer of at least 64 inputs and
    /// 16 outputs (below that the GEMM is cheap and the subtraction's bookkeeping per row is
    /// not), when the expected share of terms to subtract — rate × the share of nonzero inputs
    /// (after a ReLU about half) — is at most `droppedTermsLimit`, and every input is finite
    /// (dropout zeroes a dropped infinity or NaN; a product that holds it cannot take it back out).
    static func dropsFewEnough(_ prefix: Tensor, rate: Float, into dense: Dense) -> Bool {
        guard prefix.rank == 2, prefix.shape[1] == dense.inputs, dense.inputs % 2 == 0, dense.inputs >= 64, dense.outputs >= 16,
              prefix.count > 0 else { return false }
        var nonzero = 0, finite = true
        prefix.withUnsafeBufferPointer { v in
            for x in v {
                nonzero += x != 0 ? 1 : 0
                finite = finite && x.isFinite
            }
        }
        return finite && Double(rate) * Double(nonzero) / Double(prefix.count) <= droppedTermsLimit
    }

    /// The largest expected share of a dense layer's terms subtracted rather than multiplied.
    /// A subtracted term costs about four of the GEMM's (each reads a row of the weight from L2
    /// instead of reusing it from registers): on a 4,000×512×512 layer, one core (AMD Zen 3),
    /// 5 % of the terms took 0.3× the GEMM's time, 15 % 0.6×, 25 % 1.0×.
    static let droppedTermsLimit = 0.2

    /// A dense weight [out, in] as [in, stride]: rows padded to a multiple of 16 floats and, where
    /// that is a multiple of 128 (512 bytes, every row in the same few cache sets), 16 more.
    static func paddedTransposed(_ weight: Tensor) -> Tensor {
        let (outputs, inputs) = (weight.shape[0], weight.shape[1])
        var stride = (outputs + 15) / 16 * 16
        if stride % 128 == 0 { stride += 16 }
        var t = Tensor(shape: [inputs, stride], repeating: 0)
        t.withUnsafeMutableBufferPointer { dst in
            weight.withUnsafeBufferPointer { w in
                for o in 0..<outputs { for u in 0..<inputs { dst[u * stride + o] = w[o * inputs + u] } }
            }
        }
        return t
    }
}

/// What the stacked block's first layers are, done as the copies of the prefix are made
/// (`stackedMonteCarloProbabilities`).
enum StackedLeadingLayers {
    /// None: the copies of the prefix.
    case none
    /// Dropout at `rate`: the copies written with the masks applied.
    case dropout(rate: Float)
    /// Dropout at `rate`, then a dense layer with this weight as [in, stride ≥ out]
    /// (`Sequential.paddedTransposed`) over a prefix [B, in]:
    /// each copy's outputs are `base` — the layer's outputs without dropout (its input scaled by
    /// `DropoutNoise.scale(rate:)`), [B, out] — less the dropped units' terms
    /// (`DropoutNoise.denseOutputs`).
    case dropoutThenDense(rate: Float, transposedWeight: Tensor, base: Tensor)
}

extension NetworkModel {
    /// `[S, B, C]` softmax outputs of `samples` stochastic passes of `stochasticPart` over the
    /// same `prefix` ([B, …]). Samples are split over the workers; each worker runs its samples
    /// `samplesPerBlock` at a time, stacked into one batch (one GEMM per layer per block; the
    /// caller keeps a block small enough to stay in the allocator's reusable heap).
    ///
    /// With `leading` layers, `stochasticPart` is what follows them. Dropout: each block's
    /// copies of `prefix` are written with the dropout masks applied — one pass instead of a
    /// copy and a dropout pass, the same numbers (the dropout layer's draw from the context's
    /// generator, its pattern over the stacked block) — or, for a prefix of odd size, copied and
    /// then dropped out. Dropout then a dense layer: the same draw and pattern, and the dense
    /// layer's outputs up to rounding.
    func stackedMonteCarloProbabilities(_ prefix: Tensor, samples: Int, samplesPerBlock: Int, leading: StackedLeadingLayers = .none,
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
                switch leading {
                case .none:
                    input = Tensor(tiling: prefix, times: n)
                case let .dropout(rate):
                    input = Tensor(tiling: prefix, times: n, droppingOutWith: try DropoutNoise(rate: rate, rng: &context.rng))
                case let .dropoutThenDense(rate, weightT, base):
                    input = Tensor(denseOutputsOf: prefix, times: n, droppingOutWith: try DropoutNoise(rate: rate, rng: &context.rng),
                                   transposedWeight: weightT, base: base)
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

    /// A dense layer's outputs on `times` copies of `h` ([B, in]) stacked along the first axis
    /// with `noise`'s dropout pattern over the stack: [times·B, out], copy by copy
    /// `DropoutNoise.denseOutputs` from `base`, the outputs without dropout.
    init(denseOutputsOf h: Tensor, times: Int, droppingOutWith noise: DropoutNoise, transposedWeight weightT: Tensor, base: Tensor) {
        let (rows, inputs, outputs) = (h.shape[0], h.shape[1], base.shape[1])
        self.init(uninitializedShape: [times * rows, outputs])
        withUnsafeMutableBufferPointer { z in
            h.withUnsafeBufferPointer { hp in
                weightT.withUnsafeBufferPointer { w in
                    base.withUnsafeBufferPointer { b in
                        for k in 0..<times {
                            noise.denseOutputs(droppingFrom: hp.baseAddress!, rows: rows, inputs: inputs, start: k * h.count,
                                               transposedWeight: w.baseAddress!, stride: weightT.shape[1], outputs: outputs,
                                               base: b.baseAddress!, into: z.baseAddress! + k * rows * outputs)
                        }
                    }
                }
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
