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
    /// Elements per parallel chunk (fits in L2 with all state vectors).
    static let chunk = 16_384

    public init(_ transforms: [any GradientTransform], parameterCount: Int) {
        self.transforms = transforms
        self.parameterCount = parameterCount
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

    /// θ ← θ + T(g): runs the chain on a copy of the gradient, then adds it to θ.
    /// `gradient` is consumed as scratch space when uniquely referenced.
    public mutating func update(_ parameters: inout Tensor, gradient: Tensor) {
        precondition(parameters.count == parameterCount && gradient.count == parameterCount,
                     "optimizer built for \(parameterCount) parameters got \(parameters.count) / \(gradient.count)")
        step += 1
        var updates = gradient
        let step = self.step
        updates.withUnsafeMutableBufferPointer { u in
            parameters.withUnsafeMutableBufferPointer { p in
                for i in transforms.indices {
                    transforms[i].prepare(updates: UnsafeBufferPointer(u), parameters: UnsafeBufferPointer(p), step: step)
                }
                let chunks = Parallel.ranges(parameterCount, parts: (parameterCount + Self.chunk - 1) / Self.chunk)
                let groups = Parallel.ranges(chunks.count, parts: Parallel.workerCount)
                nonisolated(unsafe) let up = u.baseAddress!, pp = p.baseAddress!
                let chain = transforms
                Parallel.forEach(groups.count) { g in
                    for c in groups[g] {
                        let r = chunks[c]
                        for t in chain { t.apply(updates: up, parameters: pp, range: r, step: step) }
                        for i in r { pp[i] += up[i] }
                    }
                }
            }
        }
    }
}
