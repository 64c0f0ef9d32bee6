import CredenceTensor

/// A model as a function of a flat parameter vector: `model(x, parameters:, context:)`.
///
/// Built from a `ModelSpec`; owns no weights. The parameters are one rank-1 tensor with
/// `layout`; layers see windows of it, and gradients land in one flat buffer of the
/// same layout.
///
/// **Buffers.** State that is not a parameter — batch normalization's running statistics —
/// is held by the model value itself (`layerState`; PyTorch's initial values until replaced
/// with `withBuffers`, e.g. from a checkpoint), so every method that evaluates a model as a
/// function of θ sees the statistics it was trained with. A `.train` pass only *reads* the
/// model and reports its batch statistics in the context; `updatingBuffers(with:)` returns
/// the model with them folded in (the `Trainer` does so once per step).
///
/// ```swift
/// let model = try Sequential(.mlp(inputShape: [2], hidden: [32], outputs: 2))
/// var rng = RandomGenerator(seed: 0)
/// let θ = model.initialParameters(rng: &rng)
/// let logits = try model.predict(x, parameters: θ)
/// ```
public struct Sequential: LayeredModel {
    public let spec: ModelSpec
    public let layers: [any Layer]
    public let layout: ParameterLayout
    /// Per-example shape after each layer (`shapes[0]` is the input shape).
    public let shapes: [[Int]]
    /// Which layers keep buffers, and their values.
    private(set) var layerState: LayerBuffers

    public init(_ spec: ModelSpec) throws {
        guard spec.blocks == nil else {
            throw ModelError.invalidSpecification("this spec is a graph of blocks; build it with BlockNetwork (or spec.makeModel())")
        }
        guard !spec.layers.isEmpty else { throw ModelError.invalidSpecification("a model needs at least one layer") }
        self.spec = spec
        layers = try spec.layers.map { try $0.makeLayer() }
        var layout = ParameterLayout()
        var shapes = [spec.inputShape]
        for (i, layer) in layers.enumerated() {
            for p in layer.parameterShapes { layout.append(name: "\(i).\(p.name)", layer: i, shape: p.shape) }
            do {
                shapes.append(try layer.outputShape(for: shapes[i]))
            } catch let error as ModelError {
                throw ModelError.invalidSpecification("layer \(i): \(error)")
            }
        }
        self.layout = layout
        self.shapes = shapes
        layerState = LayerBuffers(layers: layers, moduleNames: layers.indices.map(String.init))
    }

    public var inputShape: [Int] { spec.inputShape }
    public var outputShape: [Int] { shapes.last! }
    /// Every buffer with its current value, named "i.running_mean" etc. in layer order.
    public var buffers: [NamedBuffer] { layerState.named }

    /// This model with its buffers set to `values`, by name: every buffer must be given, with
    /// its shape, and no other name.
    public func withBuffers(_ values: [String: Tensor]) throws -> Sequential {
        var copy = self
        copy.layerState = try layerState.replacing(values)
        return copy
    }


    /// This model after folding in the batch statistics of `.train` passes (by module name, in
    /// pass order), as `ForwardContext.batchStatistics` collects them.
    public func withBatchStatistics(_ statistics: [String: [BatchNormStatistics]]) throws -> Sequential {
        var copy = self
        copy.layerState = try layerState.updating(with: statistics)
        return copy
    }

    public var isStochastic: Bool { firstStochasticLayer != nil }
    public var layerChain: Sequential? { self }

    /// Fresh parameters (PyTorch's default initialisation), drawn layer by layer.
    public func initialParameters(rng: inout RandomGenerator) -> Tensor {
        initialFlatParameters(layers, count: layout.count, rng: &rng)
    }

    /// Runs every layer on `x`. `parameters` is the whole flat vector.
    public func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext) throws -> Variable {
        try self(x, parameters: parameters, context: &context, layers: nil)
    }

    /// Runs layers `range` (all when nil) on `x`. `parameters` is the whole flat vector.
    public func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext,
                               layers range: Range<Int>?) throws -> Variable {
        guard parameters.value.count == layout.count, parameters.value.rank == 1 else {
            throw ModelError.parameterCount(got: parameters.value.count, expected: layout.count)
        }
        let range = range ?? 0..<layers.count
        let expected = shapes[range.lowerBound]
        guard x.shape.count == expected.count + 1, Array(x.shape.dropFirst()) == expected else {
            throw ModelError.inputShape(layer: "model input (layer \(range.lowerBound))", got: x.shape,
                                        expected: "[batch] + \(expected)")
        }
        var h = x
        var i = range.lowerBound
        while i < range.upperBound {
            if i + 1 < range.upperBound, let rectified = try rectifiedDropout(at: i, h, context: &context) ?? rectifiedMaxPool(at: i, h) {
                h = rectified
                i += 2
                continue
            }
            h = try forwardLayer(i, h, parameters: try layerParameters(i, of: parameters), context: &context)
            i += 1
        }
        return h
    }

    /// Layers `i` (ReLU) and `i + 1` (dropout) in one pass over an untracked input in a
    /// stochastic mode (MC dropout's passes): the same draw from `context.rng` and the same
    /// numbers as running them one after the other (`DropoutNoise.apply(rectifying:)`), one
    /// pass over the activations instead of two. nil when the layers are not that pair, the
    /// input is on a tape (training differentiates them one by one) or the mode is deterministic.
    func rectifiedDropout(at i: Int, _ x: Variable, context: inout ForwardContext) throws -> Variable? {
        guard !x.isTracked, x.value.count > 0, context.mode.isStochastic, let activation = layers[i] as? Activation, activation.kind == .relu,
              let dropout = layers[i + 1] as? Dropout, dropout.rate > 0 else { return nil }
        return Variable(constant: try DropoutNoise(rate: dropout.rate, rng: &context.rng).applied(to: x.value, rectifying: true))
    }

    /// Layers `i` (ReLU) and `i + 1` (max pooling) in one pass (`Variable.reluMaxPool2d`): the
    /// same numbers and gradients bit for bit, without the ReLU's full-size output and its
    /// gradient pass (the CNN's convolutions feed ReLU → max pooling). nil for other layers.
    func rectifiedMaxPool(at i: Int, _ x: Variable) throws -> Variable? {
        guard let activation = layers[i] as? Activation, activation.kind == .relu,
              let pool = layers[i + 1] as? Pool2D, pool.kind == .max else { return nil }
        return try x.reluMaxPool2d(kernel: pool.kernel, stride: pool.stride)
    }

    /// Runs the layers in order, each by `runLayer`.
    public func run(_ x: Variable, context: inout ForwardContext, layer runLayer: LayerRunner) throws -> Variable {
        guard x.shape.count == inputShape.count + 1, Array(x.shape.dropFirst()) == inputShape else {
            throw ModelError.inputShape(layer: "model input", got: x.shape, expected: "[batch] + \(inputShape)")
        }
        var h = x
        for i in layers.indices { h = try runLayer(i, h, &context) }
        return h
    }

    public func layerDescription(_ i: Int) -> String { "layer \(i) (\(spec.layers[i]))" }

    public var classifier: (index: Int, layer: Dense)? {
        guard let last = layers.indices.last, let dense = layers[last] as? Dense else { return nil }
        return (last, dense)
    }

    public func features(_ x: Tensor, parameters: Tensor, mode: ForwardMode = .eval) throws -> Tensor {
        guard let (index, _) = classifier else {
            throw ModelError.invalidSpecification("the model's last layer is not a dense classifier; it has no features to read")
        }
        var context = ForwardContext(mode: mode)
        return try self(Variable(constant: x), parameters: Variable(constant: parameters), context: &context, layers: 0..<index).value
    }

    public func forwardLayer(_ i: Int, _ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try layerState.forward(i, layers[i], x, parameters: parameters, context: &context)
    }
}
