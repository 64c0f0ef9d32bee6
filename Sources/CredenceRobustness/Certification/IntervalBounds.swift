import CredenceInference
import CredenceNN
import CredenceTensor

/// Interval bound propagation (Gowal et al. 2018): bounds on a network's outputs over the L∞
/// box [x − ε, x + ε] (within the input range), propagated layer by layer — affine layers
/// (dense, convolution) in centre–radius form, μ′ = Wμ + b and r′ = |W| r, and monotone ones
/// (ReLU, tanh, sigmoid, softplus, max and average pooling, flatten, dropout at test time) on
/// the lower and upper ends. An example is **verified** at ε when the lower bound of every margin
/// z_y − z_c is positive: no point of the box changes its class. The last dense layer is elided
/// into the margins (its rows' differences w_y − w_c meet the penultimate bounds directly), which
/// is tighter than subtracting the logits' bounds.
///
/// Everything is built from differentiable primitives, so the same bounds train (`AdversarialObjective`
/// with `.ibp`). Chains of layers only; batch and layer normalization, GELU and graphs of
/// blocks are refused.
///
/// ```swift
/// let ibp = try IntervalBoundPropagation(model: model)
/// let verified = try ibp.verified(images, labels: labels, epsilon: 0.1, parameters: theta)
/// ```
public struct IntervalBoundPropagation {
    public let chain: Sequential
    /// Pixels stay in here (images: 0…1); nil: unbounded features.
    public var inputRange: ClosedRange<Float>?

    public init(model: any NetworkModel, inputRange: ClosedRange<Float>? = 0...1) throws {
        guard let chain = model.layerChain else {
            throw InferenceError.incompatibleModel("interval bound propagation runs on chains of layers; this model is a graph of blocks")
        }
        for (i, spec) in chain.spec.layers.enumerated() {
            switch spec {
            case .dense, .conv2d, .maxPool2d, .avgPool2d, .globalAveragePool, .flatten, .dropout: continue
            case let .activation(kind) where kind != .gelu: continue
            default:
                throw InferenceError.incompatibleModel(
                    "interval bound propagation takes dense, convolution, pooling, flatten, dropout and monotone activations (relu, tanh, sigmoid, softplus); layer \(i) is \(spec)")
            }
        }
        guard case .dense = chain.spec.layers.last! else {
            throw InferenceError.incompatibleModel("interval bound propagation needs a network that ends in a dense layer (its logits)")
        }
        self.chain = chain
        self.inputRange = inputRange
    }

    /// The box's ends: x ∓ ε clipped to the input range.
    func box(_ inputs: Tensor, epsilon: Float) -> (lower: Variable, upper: Variable) {
        let lo = inputRange?.lowerBound ?? -.infinity, hi = inputRange?.upperBound ?? .infinity
        return (Variable(constant: inputs.map { Swift.min(Swift.max($0 - epsilon, lo), hi) }),
                Variable(constant: inputs.map { Swift.min(Swift.max($0 + epsilon, lo), hi) }))
    }

    /// The parameters of layer `i` as variables (views of `parameters`).
    func layerParameters(_ i: Int, _ parameters: Variable) throws -> [Variable] {
        try chain.layout.entries(ofLayer: i).map { try parameters.segment(offset: $0.offset, shape: $0.shape) }
    }

    /// Bounds after layers 0..<end over the box; with `parameterRadius`, over every network
    /// whose parameters lie within ±radius of `parameters` too.
    func bounds(_ lower: Variable, _ upper: Variable, through end: Int, parameters: Variable,
                parameterRadius: Variable? = nil) throws -> (lower: Variable, upper: Variable) {
        var (l, u) = (lower, upper)
        var context = ForwardContext(mode: .eval)
        for i in 0..<end {
            let layer = chain.layers[i]
            switch chain.spec.layers[i] {
            case .dense, .conv2d:
                let weights = try layerParameters(i, parameters)
                let centre = try (l + u) * 0.5, radius = try (u - l) * 0.5
                let mu = try layer.forward(centre, parameters: weights, context: &context)
                func withoutBias(_ w: [Variable], _ first: (Variable) -> Variable) -> [Variable] {
                    w.enumerated().map { k, v in k == 0 ? first(v) : Variable(constant: Tensor(shape: v.shape, repeating: 0)) }
                }
                // |W| on the radius, the bias left out.
                var r = try layer.forward(radius, parameters: withoutBias(weights, { $0.abs() }), context: &context)
                if let parameterRadius {
                    // W ∈ W̄ ± ΔW, b ∈ b̄ ± Δb: add ΔW|μ| + ΔW r + Δb.
                    let spread = try layerParameters(i, parameterRadius)
                    r = try r + layer.forward(centre.abs(), parameters: withoutBias(spread, { $0 }), context: &context)
                    r = try r + layer.forward(radius, parameters: spread, context: &context)
                }
                (l, u) = (try mu - r, try mu + r)
            default:  // monotone non-decreasing, elementwise or a pooling
                (l, u) = (try layer.forward(l, parameters: [], context: &context), try layer.forward(u, parameters: [], context: &context))
            }
        }
        return (l, u)
    }

    /// Bounds [N, C] on the logits over the box around each input.
    public func outputBounds(_ inputs: Tensor, epsilon: Float, parameters: Variable) throws -> (lower: Variable, upper: Variable) {
        let (l, u) = box(inputs, epsilon: epsilon)
        return try bounds(l, u, through: chain.layers.count, parameters: parameters)
    }

    /// Lower bounds [N, C] of the margins z_y − z_c over the box (0 at c = y), the last dense
    /// layer elided: (w_y − w_c)·μ + b_y − b_c − |w_y − w_c|·r with μ, r the penultimate centre
    /// and radius.
    public func marginLowerBounds(_ inputs: Tensor, labels: [Int32], epsilon: Float, parameters: Variable) throws -> Variable {
        let last = chain.layers.count - 1
        let (l0, u0) = box(inputs, epsilon: epsilon)
        let (l, u) = try bounds(l0, u0, through: last, parameters: parameters)
        let weights = try layerParameters(last, parameters)
        let w = weights[0]   // [C, H]
        let classes = w.shape[0]
        let n = labels.count
        guard l.shape.first == n, labels.allSatisfy({ (0..<Int32(classes)).contains($0) }) else {
            throw InferenceError.invalidOption("IBP margins need one label in 0..<\(classes) per input: \(n) labels for \(l.shape.first ?? 0) inputs")
        }
        var context = ForwardContext(mode: .eval)
        let centre = try (l + u) * 0.5, radius = try (u - l) * 0.5
        let z = try chain.layers[last].forward(centre, parameters: weights, context: &context)   // [N, C]
        let oneHot = Variable(constant: try Tensor.oneHot(labels, classCount: classes))
        let own = try (z * oneHot).sum(axes: [1], keepDims: true)                           // z_y, [N, 1]
        // |w_y − w_c| for every (y, c): [C·C, H], row y·C + c; each example reads its block y.
        let differences = try Variable.concatenate((0..<classes).map { y in try (w - w.slice(axis: 0, y..<(y + 1))).abs() }, axis: 0)
        let spread = try radius.matmul(differences, transposeRight: true)                    // [N, C·C]
        var mask = Tensor(shape: [n, classes * classes], repeating: 0)
        mask.withUnsafeMutableBufferPointer { m in
            for (i, y) in labels.enumerated() { for c in 0..<classes { m[i * classes * classes + Int(y) * classes + c] = 1 } }
        }
        let ownSpread = try (spread * Variable(constant: mask)).reshaped([n, classes, classes]).sum(axes: [1])   // [N, C]
        return try (own - z) - ownSpread
    }

    /// Whether every network with parameters in [parameters − radius, parameters + radius]
    /// keeps each input's label on every point of its ε-box: the lower bound of z_y exceeds the
    /// upper bound of every other logit (the margins are not elided here: the last layer's
    /// weights are intervals too).
    public func verified(_ inputs: Tensor, labels: [Int32], epsilon: Float, parameters: Tensor,
                         parameterRadius: Tensor) throws -> [Bool] {
        guard parameterRadius.count == parameters.count else {
            throw ModelError.parameterCount(got: parameterRadius.count, expected: parameters.count)
        }
        let (l0, u0) = box(inputs, epsilon: epsilon)
        let (l, u) = try bounds(l0, u0, through: chain.layers.count, parameters: Variable(constant: parameters),
                                parameterRadius: Variable(constant: parameterRadius))
        let c = l.shape[1]
        return labels.indices.map { i in
            let own = l.value.values[i * c + Int(labels[i])]
            return (0..<c).allSatisfy { k in k == Int(labels[i]) || u.value.values[i * c + k] < own }
        }
    }

    /// Whether every point of each input's box keeps its label (all margins' lower bounds > 0).
    public func verified(_ inputs: Tensor, labels: [Int32], epsilon: Float, parameters: Tensor) throws -> [Bool] {
        let margins = try marginLowerBounds(inputs, labels: labels, epsilon: epsilon, parameters: Variable(constant: parameters)).value
        let c = margins.shape[1]
        return labels.indices.map { i in (0..<c).allSatisfy { k in k == Int(labels[i]) || margins.values[i * c + k] > 0 } }
    }
}
