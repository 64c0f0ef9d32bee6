import CredenceTensor

/// The optimizers users pick by name.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    /// SGD with optional (Nesterov) momentum and coupled weight decay.
    case sgd
    /// Adam with optional coupled (L2) weight decay, as PyTorch's `Adam(weight_decay=)`.
    case adam
    /// Adam with decoupled weight decay.
    case adamw
}

/// A chain of gradient transforms applied to a flat parameter vector.
///
/// ```swift
/// var opt = Optimizer.adam(learningRate: .constant(1e-3), parameterCount: θ.count)
/// opt.update(&θ, gradient: g)   // θ ← θ − η·m̂/(√v̂+ε)
/// ```
public struct Optimizer {
    public private(set) var transforms: [any GradientTransform]
    /// Number of updates applied so far.
    public private(set) var step = 0
    let parameterCount: Int
    /// The update vector, reused every step.
    let scratch: StateBuffer
    /// Elements per parallel chunk (fits in L2 with all state vectors).
    static let chunk = 16384
    /// Whether Adam's chain may run as one AVX2 kernel (`fusedAdam`; tests turn it off to compare).
    var vectorKernels = FastMath.hasVectorKernels

    public init(_ transforms: [any GradientTransform], parameterCount: Int) {
        self.transforms = transforms
        self.parameterCount = parameterCount
        scratch = StateBuffer(count: parameterCount)
        for i in self.transforms.indices { self.transforms[i].reset(parameterCount: parameterCount) }
    }

    public static func sgd(learningRate: LearningRateSchedule, momentum: Float = 0, nesterov: Bool = false,
                           weightDecay: Float = 0, clipNorm: Float? = nil, parameterCount: Int) -> Optimizer {
        var chain: [any GradientTransform] = clipNorm.map { [ClipByGlobalNorm($0)] } ?? []
        if weightDecay > 0 { chain.append(AddWeightDecay(weightDecay)) }
        if momentum > 0 { chain.append(Momentum(momentum, nesterov: nesterov)) }
        chain.append(ScaleByLearningRate(learningRate))
        return Optimizer(chain, parameterCount: parameterCount)
    }

    public static func adam(learningRate: LearningRateSchedule, beta1: Float = 0.9, beta2: Float = 0.999,
                            epsilon: Float = 1e-8, weightDecay: Float = 0, clipNorm: Float? = nil,
                            parameterCount: Int) -> Optimizer {
        var chain: [any GradientTransform] = clipNorm.map { [ClipByGlobalNorm($0)] } ?? []
        if weightDecay > 0 { chain.append(AddWeightDecay(weightDecay)) }
        chain.append(ScaleByAdam(beta1: beta1, beta2: beta2, epsilon: epsilon))
        chain.append(ScaleByLearningRate(learningRate))
        return Optimizer(chain, parameterCount: parameterCount)
    }

    public static func adamW(learningRate: LearningRateSchedule, beta1: Float = 0.9, beta2: Float = 0.999,
                             epsilon: Float = 1e-8, weightDecay: Float = 0.01, clipNorm: Float? = nil,
                             parameterCount: Int) -> Optimizer {
        var chain: [any GradientTransform] = clipNorm.map { [ClipByGlobalNorm($0)] } ?? []
        chain.append(ScaleByAdam(beta1: beta1, beta2: beta2, epsilon: epsilon))
        if weightDecay > 0 { chain.append(DecoupledWeightDecay(weightDecay)) }
        chain.append(ScaleByLearningRate(learningRate))
        return Optimizer(chain, parameterCount: parameterCount)
    }

    /// An optimizer by kind with common settings (momentum applies to SGD only).
    public static func make(_ kind: OptimizerKind, learningRate: LearningRateSchedule, momentum: Float = 0.9,
                            weightDecay: Float = 0, clipNorm: Float? = nil, parameterCount: Int) -> Optimizer {
        switch kind {
        case .sgd: return sgd(learningRate: learningRate, momentum: momentum, weightDecay: weightDecay,
                              clipNorm: clipNorm, parameterCount: parameterCount)
        case .adam: return adam(learningRate: learningRate, weightDecay: weightDecay, clipNorm: clipNorm,
                                parameterCount: parameterCount)
        case .adamw: return adamW(learningRate: learningRate, weightDecay: weightDecay, clipNorm: clipNorm,
                                  parameterCount: parameterCount)
        }
    }

    /// The step count and a copy of every transform's state, named `"optimizer.<index>.<name>"`
    /// (index into `transforms`), so that `importState` on a fresh optimizer of the same
    /// construction continues bit for bit as this one would.
    public func exportState() -> OptimizerState {
        var tensors: [String: Tensor] = [:]
        for (i, transform) in transforms.enumerated() {
            for (name, value) in transform.exportState() {
                tensors[OptimizerState.tensorName(transform: i, state: name)] = value
            }
        }
        return OptimizerState(step: step, transforms: transformKinds, tensors: tensors)
    }

    /// Restores state exported by an optimizer built the same way. Everything is checked
    /// before anything changes: the transform chain (by type), that every state vector the
    /// transforms need is present with shape `[parameterCount]`, and that there are no others;
    /// a mismatch throws `OptimizerStateError` and leaves this optimizer as it was.
    public mutating func importState(_ state: OptimizerState) throws {
        guard state.transforms == transformKinds else {
            throw OptimizerStateError.transformMismatch(expected: transformKinds, found: state.transforms)
        }
        guard state.step >= 0 else { throw OptimizerStateError.invalidStep(state.step) }
        // A transform's own export names its state vectors and their shapes.
        var perTransform: [[String: Tensor]] = []
        var expectedNames: [String] = []
        for (i, transform) in transforms.enumerated() {
            var slice: [String: Tensor] = [:]
            for (name, template) in transform.exportState().sorted(by: { $0.key < $1.key }) {
                let full = OptimizerState.tensorName(transform: i, state: name)
                expectedNames.append(full)
                guard let value = state.tensors[full] else { continue }
                guard value.shape == template.shape else {
                    throw OptimizerStateError.stateShape(name: full, expected: template.shape, found: value.shape)
                }
                slice[name] = value
            }
            perTransform.append(slice)
        }
        let missing = expectedNames.filter { state.tensors[$0] == nil }
        guard missing.isEmpty else { throw OptimizerStateError.missingState(names: missing) }
        let expected = Set(expectedNames)
        let unexpected = state.orderedNames.filter { !expected.contains($0) }
        guard unexpected.isEmpty else { throw OptimizerStateError.unexpectedState(names: unexpected) }
        for i in transforms.indices where !perTransform[i].isEmpty {
            transforms[i].importState(perTransform[i])
        }
        step = state.step
    }

    /// The type name of each transform in the chain.
    var transformKinds: [String] { transforms.map { String(describing: type(of: $0)) } }

    /// θ ← θ + T(g): runs the chain on the gradient, then adds the result to θ.
    public mutating func update(_ parameters: inout Tensor, gradient: Tensor) {
        update(&parameters, gradientParts: [gradient])
    }

    /// θ ← θ + T(Σₖ gₖ): the gradient is the sum of `gradientParts` (e.g. one per worker
    /// thread's shard of the batch), summed chunk by chunk inside the update so the
    /// parts are read once and nothing parameter-sized is allocated. With `clearingThem`, each
    /// chunk of every part is set to 0 once the chunk is done, while it is in cache — for
    /// parts the next step's tapes write into again (`Trainer.update(_:gradientParts:)`).
    public mutating func update(_ parameters: inout Tensor, gradientParts: [Tensor], clearingThem: Bool = false) {
        precondition(gradientParts.allSatisfy { $0.count == parameterCount },
                     "optimizer built for \(parameterCount) parameters got gradient parts of \(gradientParts.map(\.count))")
        let parts = gradientParts.map { g in g.withUnsafeBufferPointer { $0.baseAddress! } }
        update(&parameters, formingGradient: { _, _, _, _ in .sum(parts: parts, plusScaledParameters: 0, sumOfSquares: nil) },
               afterEachChunk: clearingThem ? { range in Self.clear(parts, range) } : nil)
        withExtendedLifetime(gradientParts) {}
    }

    /// Sets `parts[j][range]` to 0 for every j (buffers whose storage the caller owns: raw writes).
    public static func clear(_ parts: [UnsafePointer<Float>], _ range: Range<Int>) {
        for part in parts { (UnsafeMutablePointer(mutating: part) + range.lowerBound).update(repeating: 0, count: range.count) }
    }

    /// How a chunk's gradient reaches `update(_:formingGradient:)`.
    public enum ChunkGradient {
        /// Written by the closure to the scratch it was handed.
        case formed
        /// Σⱼ parts[j] + λ·θ over the chunk (each part a whole gradient-sized vector, indexed
        /// like θ; θ as before the step; λ = 0 adds nothing), left to the optimizer: where
        /// Adam's kernel runs it reads the parts itself and adds λθ as it goes, so this
        /// gradient is never written. With `sumOfSquares`, Σθ² over the chunk before the step
        /// is stored there (a Gaussian prior's value, from the pass that reads θ anyway).
        case sum(parts: [UnsafePointer<Float>], plusScaledParameters: Float, sumOfSquares: UnsafeMutablePointer<Double>?)
    }

    /// The coordinate ranges `update(_:formingGradient:)` hands its closure, in order: chunks
    /// of about `chunk` parameters.
    public var gradientChunks: [Range<Int>] { Parallel.ranges(parameterCount, parts: (parameterCount + Self.chunk - 1) / Self.chunk) }

    /// Adam's chain as one kernel (`FastMath.adamStep`, the chain's numbers bit for bit): the
    /// chain is exactly `ScaleByAdam` then `ScaleByLearningRate`, optionally after
    /// `AddWeightDecay` (`Optimizer.adam` without clipping — the default training, with or
    /// without `--weight-decay`), and the CPU has the AVX2 kernels. It reads the gradient's parts
    /// itself, so a `.sum` chunk writes nothing to the scratch; its λθ is added as the kernel's
    /// weight decay when the chain has none of its own (otherwise the sum is formed first).
    private func fusedAdam(step: Int) -> ((_ gradient: ChunkGradient, _ range: Range<Int>, _ parameters: UnsafeMutablePointer<Float>) -> Void)? {
        let decay = transforms.first as? AddWeightDecay, adamAt = decay == nil ? 0 : 1
        guard vectorKernels, transforms.count == adamAt + 2, let adam = transforms[adamAt] as? ScaleByAdam,
              let rate = transforms[adamAt + 1] as? ScaleByLearningRate else { return nil }
        let corrections = adam.biasCorrections(step: step), scale = -rate.schedule.rate(at: step - 1)
        let m = adam.m.pointer, v = adam.v.pointer, scratch = scratch.pointer
        // The scratch as Adam's one gradient part, made once per step rather than once per chunk.
        let formed = [UnsafePointer(scratch)]
        return { gradient, range, theta in
            var parts = formed, lambda: Float? = decay?.decay, squares: UnsafeMutablePointer<Double>?
            if case let .sum(summed, plus, sumOfSquares) = gradient {
                squares = sumOfSquares
                if plus == 0 {
                    parts = summed
                } else if decay == nil {
                    (parts, lambda) = (summed, plus)
                } else {
                    // The chain's own decay comes after this λθ: the sum is written out first (with its Σθ²).
                    Self.formSum(gradient, range: range, parameters: theta, into: scratch)
                    squares = nil
                }
            }
            let done = FastMath.adamStep(theta: theta, m: m, v: v, gradientParts: parts, range: range, beta1: adam.beta1, beta2: adam.beta2,
                                         biasCorrections: corrections, epsilon: adam.epsilon, scale: scale, weightDecay: lambda,
                                         sumOfSquares: squares)
            assert(done, "the AVX2 kernels were found, so Adam's kernel runs")
        }
    }

    /// g[i] = Σⱼ parts[j][i] + λ·θ[i] over `range` (λ = 0: the sum alone) — a `.sum` chunk
    /// written out, with Adam's kernel's operations in its order — and its Σθ² where asked.
    private static func formSum(_ gradient: ChunkGradient, range: Range<Int>, parameters theta: UnsafePointer<Float>,
                                into g: UnsafeMutablePointer<Float>) {
        guard case let .sum(parts, lambda, sumOfSquares) = gradient else { return }
        FastMath.sum(parts, range: range, into: g)
        if lambda != 0 { for i in range { g[i] = g[i] + lambda * theta[i] } }
        sumOfSquares?.pointee = FastMath.sum(range.count) { theta[range.lowerBound &+ $0] * theta[range.lowerBound &+ $0] }
    }

    /// θ ← θ + T(g), with g formed chunk by chunk by `formGradient(c, r, g, θ)`: it writes
    /// g[i] for i in r = `gradientChunks[c]` and returns `.formed`, reading θ[r] as it was before
    /// this step — or returns `.sum(parts:plusScaledParameters:)` for a gradient that is parts
    /// plus λθ, which Adam's kernel reads without the gradient being written (`fusedAdam`;
    /// other chains get it formed). Each chunk's gradient is formed, transformed and added to θ
    /// while it is in cache, so a gradient that needs passes of its own (a sum of parts, a chain
    /// rule, a prior's term) costs no parameter-sized array and no extra trip through memory.
    /// Chunks run on the worker threads, so `formGradient` writes only to its own chunk
    /// (per-chunk results go in slots indexed by c). Transforms that need the whole gradient
    /// (`needsGlobalPass`, e.g. clipping by its norm) get it formed in full first.
    /// `afterEachChunk(r)` runs on the chunk's thread once θ[r] is updated (e.g. to clear what
    /// the gradient was read from, while it is in cache).
    public mutating func update(_ parameters: inout Tensor,
                                formingGradient formGradient: (_ chunk: Int, _ range: Range<Int>, _ gradient: UnsafeMutablePointer<Float>,
                                                               _ parameters: UnsafePointer<Float>) -> ChunkGradient,
                                afterEachChunk: ((_ range: Range<Int>) -> Void)? = nil) {
        precondition(parameters.count == parameterCount, "optimizer built for \(parameterCount) parameters got \(parameters.count)")
        step += 1
        let step = self.step
        let up = scratch.pointer
        let chunks = gradientChunks
        let groups = Parallel.ranges(chunks.count, parts: Parallel.workerCount)
        let formedFirst = transforms.contains(where: \.needsGlobalPass)
        let fused = fusedAdam(step: step)
        /// The chunk's gradient in the scratch, whichever way the closure gave it.
        func written(_ c: Int, _ r: Range<Int>, _ theta: UnsafePointer<Float>) {
            Self.formSum(formGradient(c, r, up, theta), range: r, parameters: theta, into: up)
        }
        parameters.withUnsafeMutableBufferPointer { p in
            let pp = p.baseAddress!
            if formedFirst {
                // Form everything first so `prepare` sees the whole gradient.
                Parallel.forEach(groups.count) { g in for c in groups[g] { written(c, chunks[c], pp) } }
                for i in transforms.indices {
                    transforms[i].prepare(updates: UnsafeBufferPointer(start: up, count: parameterCount),
                                          parameters: UnsafeBufferPointer(p), step: step)
                }
            }
            let chain = transforms
            Parallel.forEach(groups.count) { g in
                for c in groups[g] {
                    let r = chunks[c]
                    if let fused {
                        fused(formGradient(c, r, up, pp), r, pp)
                    } else {
                        if !formedFirst { written(c, r, pp) }
                        for t in chain { t.apply(updates: up, parameters: pp, range: r, step: step) }
                        for i in r { pp[i] += up[i] }
                    }
                    afterEachChunk?(r)
                }
            }
        }
    }
}
