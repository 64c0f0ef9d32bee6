import CredenceTensor
import Foundation

/// One step of an optimizer written as a transformation of the update vector (optax's
/// design): a chain of transforms turns a gradient into a parameter update, and each
/// transform owns its state (momentum, Adam moments).
///
/// `prepare` sees the whole update vector (for global statistics such as the gradient
/// norm); `apply` then transforms a range of it in place. Ranges are processed in
/// parallel, so `apply` must touch only its range of the state.
///
/// A transform that carries state from one step to the next (momentum, Adam moments)
/// exports it as named vectors of `parameterCount` elements and imports it back, so an
/// interrupted run resumes exactly (`Optimizer.exportState()`). Stateless transforms use the
/// default, which has no state; a stateful transform that keeps the default would lose its
/// state on resume.
public protocol GradientTransform {
    /// Allocates state for `parameterCount` parameters (called once before the first step).
    mutating func reset(parameterCount: Int)
    /// Whether `prepare` needs the whole summed update before `apply` (default false).
    var needsGlobalPass: Bool { get }
    /// Global pass before `apply` (default: nothing).
    mutating func prepare(updates: UnsafeBufferPointer<Float>, parameters: UnsafeBufferPointer<Float>, step: Int)
    /// Transforms `updates[range]` in place. `step` counts from 1.
    func apply(updates: UnsafeMutablePointer<Float>, parameters: UnsafePointer<Float>, range: Range<Int>, step: Int)
    /// A copy of the state carried across steps, by name (Adam: "m", "v"), each a rank-1
    /// tensor of `parameterCount` elements. Default: none.
    func exportState() -> [String: Tensor]
    /// Replaces the state with `state`, which `Optimizer.importState` has already checked
    /// holds exactly the names and shapes `exportState()` returns. Called after `reset`.
    mutating func importState(_ state: [String: Tensor])
}

public extension GradientTransform {
    var needsGlobalPass: Bool { false }
    mutating func reset(parameterCount: Int) {}
    mutating func prepare(updates: UnsafeBufferPointer<Float>, parameters: UnsafeBufferPointer<Float>, step: Int) {}
    func exportState() -> [String: Tensor] { [:] }
    mutating func importState(_ state: [String: Tensor]) {}
}

/// Optimizer state that stays at one address, so parallel workers can write disjoint ranges.
final class StateBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Float>
    let count: Int
    init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: Swift.max(count, 1))
        pointer.initialize(repeating: 0, count: count)
    }
    deinit { pointer.deallocate() }

    /// A copy of the state as a rank-1 tensor.
    var tensor: Tensor {
        var t = Tensor(uninitializedShape: [count])
        if count > 0 { t.withUnsafeMutableBufferPointer { $0.baseAddress!.update(from: pointer, count: count) } }
        return t
    }

    /// Overwrites the state with `tensor`'s values (same count; checked by the caller).
    func load(_ tensor: Tensor) {
        precondition(tensor.count == count, "state of \(count) elements loaded from \(tensor.count) values")
        if count > 0 { tensor.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: count) } }
    }
}

/// Coupled L2 weight decay: u ← u + λ·θ (what SGD's and Adam's `weight_decay` do in PyTorch;
/// the MAP estimate under a Gaussian prior with precision λ·N).
public struct AddWeightDecay: GradientTransform {
    public let decay: Float
    public init(_ decay: Float) { self.decay = decay }
    public func apply(updates u: UnsafeMutablePointer<Float>, parameters p: UnsafePointer<Float>, range: Range<Int>, step: Int) {
        let d = decay
        for i in range { u[i] += d * p[i] }
    }
}

/// Rescales the whole update so its Euclidean norm is at most `maxNorm`.
public struct ClipByGlobalNorm: GradientTransform {
    public let maxNorm: Float
    var scale: Float = 1
    public init(_ maxNorm: Float) { self.maxNorm = maxNorm }
    public var needsGlobalPass: Bool { true }
    public mutating func prepare(updates: UnsafeBufferPointer<Float>, parameters: UnsafeBufferPointer<Float>, step: Int) {
        var s: Double = 0
        for v in updates { s += Double(v) * Double(v) }
        let norm = Float(s.squareRoot())
        scale = norm > maxNorm ? maxNorm / norm : 1
    }
    public func apply(updates u: UnsafeMutablePointer<Float>, parameters: UnsafePointer<Float>, range: Range<Int>, step: Int) {
        guard scale != 1 else { return }
        let s = scale
        for i in range { u[i] *= s }
    }
}

/// Heavy-ball momentum, b ← μ·b + u; u ← b (or u + μ·b with Nesterov), as PyTorch's SGD.
public struct Momentum: GradientTransform {
    public let momentum: Float
    public let nesterov: Bool
    var velocity = StateBuffer(count: 0)
    public init(_ momentum: Float, nesterov: Bool = false) {
        self.momentum = momentum
        self.nesterov = nesterov
    }
    public mutating func reset(parameterCount: Int) { velocity = StateBuffer(count: parameterCount) }
    public func exportState() -> [String: Tensor] { ["velocity": velocity.tensor] }
    public mutating func importState(_ state: [String: Tensor]) { velocity.load(state["velocity"]!) }
    public func apply(updates u: UnsafeMutablePointer<Float>, parameters: UnsafePointer<Float>, range: Range<Int>, step: Int) {
        let b = velocity.pointer, mu = momentum
        if step == 1 {  // PyTorch initialises the buffer with the first gradient
            for i in range { b[i] = u[i] }
        } else {
            for i in range { b[i] = mu * b[i] + u[i] }
        }
        if nesterov { for i in range { u[i] += mu * b[i] } } else { for i in range { u[i] = b[i] } }
    }
}

/// Adam's rescaling (Kingma & Ba, 2015): m ← β₁m + (1−β₁)u, v ← β₂v + (1−β₂)u²,
/// u ← m̂ / (√v̂ + ε) with bias-corrected m̂, v̂.
public struct ScaleByAdam: GradientTransform {
    public let beta1: Float, beta2: Float, epsilon: Float
    var m = StateBuffer(count: 0), v = StateBuffer(count: 0)
    public init(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8) {
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
    }
    public mutating func reset(parameterCount: Int) {
        m = StateBuffer(count: parameterCount)
        v = StateBuffer(count: parameterCount)
    }
    public func exportState() -> [String: Tensor] { ["m": m.tensor, "v": v.tensor] }
    public mutating func importState(_ state: [String: Tensor]) {
        m.load(state["m"]!)
        v.load(state["v"]!)
    }
    /// 1/(1 − β₁ᵗ) and 1/√(1 − β₂ᵗ) for step t (from 1).
    func biasCorrections(step: Int) -> (c1: Float, sqrtC2: Float) {
        (1 / (1 - Foundation.pow(beta1, Float(step))), 1 / (1 - Foundation.pow(beta2, Float(step))).squareRoot())
    }

    public func apply(updates u: UnsafeMutablePointer<Float>, parameters: UnsafePointer<Float>, range: Range<Int>, step: Int) {
        let mp = m.pointer, vp = v.pointer, b1 = beta1, b2 = beta2
        let (c1, sqrtC2) = biasCorrections(step: step)
        let eps = epsilon
        for i in range {
            let g = u[i]
            let mi = b1 * mp[i] + (1 - b1) * g
            let vi = b2 * vp[i] + (1 - b2) * g * g
            mp[i] = mi
            vp[i] = vi
            // max(·, 0).squareRoot() vectorises; a bare squareRoot() becomes a libm call on Linux.
            u[i] = (mi * c1) / (Swift.max(vi, 0).squareRoot() * sqrtC2 + eps)
        }
    }
}

/// Decoupled weight decay (AdamW, Loshchilov & Hutter 2019): u ← u + λ·θ applied after the
/// adaptive rescaling, so the decay is not divided by √v.
public struct DecoupledWeightDecay: GradientTransform {
    public let decay: Float
    public init(_ decay: Float) { self.decay = decay }
    public func apply(updates u: UnsafeMutablePointer<Float>, parameters p: UnsafePointer<Float>, range: Range<Int>, step: Int) {
        let d = decay
        for i in range { u[i] += d * p[i] }
    }
}

/// u ← −η(step)·u: the last link of every optimizer chain.
public struct ScaleByLearningRate: GradientTransform {
    public let schedule: LearningRateSchedule
    public init(_ schedule: LearningRateSchedule) { self.schedule = schedule }
    public func apply(updates u: UnsafeMutablePointer<Float>, parameters: UnsafePointer<Float>, range: Range<Int>, step: Int) {
        let s = -schedule.rate(at: step - 1)
        for i in range { u[i] *= s }
    }
}
