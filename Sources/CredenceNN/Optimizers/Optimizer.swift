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
    /// parts are read once and nothing parameter-sized is allocated.
    public mutating func update(_ parameters: inout Tensor, gradientParts: [Tensor]) {
        precondition(parameters.count == parameterCount && gradientParts.allSatisfy { $0.count == parameterCount },
                     "optimizer built for \(parameterCount) parameters got \(parameters.count) / \(gradientParts.map(\.count))")
        step += 1
        let step = self.step
        let scratch = self.scratch
        parameters.withUnsafeMutableBufferPointer { p in
            nonisolated(unsafe) let up = scratch.pointer, pp = p.baseAddress!
            let parts = gradientParts.map { g in g.withUnsafeBufferPointer { $0.baseAddress! } }
            nonisolated(unsafe) let partPointers = parts
            // One pass for the first two parts (a copy then an add was two); the same sums in the same order.
            let sumInto: (Range<Int>) -> Void = { r in
                guard partPointers.count > 1 else {
                    up.advanced(by: r.lowerBound).update(from: partPointers[0] + r.lowerBound, count: r.count)
                    return
                }
                let first = partPointers[0], second = partPointers[1]
                for i in r { up[i] = first[i] + second[i] }
                for g in partPointers.dropFirst(2) { for i in r { up[i] += g[i] } }
            }
            if transforms.contains(where: \.needsGlobalPass) {
                // Sum everything first so `prepare` sees the whole gradient.
                Parallel.forEach(Parallel.workerCount) { w in sumInto(Parallel.ranges(parameterCount, parts: Parallel.workerCount)[w]) }
                for i in transforms.indices {
                    transforms[i].prepare(updates: UnsafeBufferPointer(start: up, count: parameterCount),
                                          parameters: UnsafeBufferPointer(p), step: step)
                }
            }
            let summed = transforms.contains(where: \.needsGlobalPass)
            let chunks = Parallel.ranges(parameterCount, parts: (parameterCount + Self.chunk - 1) / Self.chunk)
            let groups = Parallel.ranges(chunks.count, parts: Parallel.workerCount)
            let chain = transforms
            Parallel.forEach(groups.count) { g in
                for c in groups[g] {
                    let r = chunks[c]
                    if !summed { sumInto(r) }
                    for t in chain { t.apply(updates: up, parameters: pp, range: r, step: step) }
                    for i in r { pp[i] += up[i] }
                }
            }
        }
        withExtendedLifetime(gradientParts) {}
    }
}
