import CredenceTensor

/// A model as a function of a flat parameter vector: `model(x, parameters:, context:)`.
///
/// Built from a `ModelSpec`; owns no weights. The parameters are one rank-1 tensor with
/// `layout`; layers see windows of it, and gradients land in one flat buffer of the
/// same layout.
///
/// **Buffers.** State that is not a parameter — batch normalization's running statistics —
/// is held by the model value itself (`layerBuffers`; PyTorch's initial values until replaced
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
public struct Sequential: NetworkModel {
    public let spec: ModelSpec
    public let layers: [any Layer]
    public let layout: ParameterLayout
    /// Per-example shape after each layer (`shapes[0]` is the input shape).
    public let shapes: [[Int]]
    /// Buffer values per layer, in the order of the layer's `bufferShapes` (empty for layers
    /// without buffers).
    public private(set) var layerBuffers: [[Tensor]]
    /// The layers with buffers, by index (nil elsewhere), cast once here rather than per pass.
    let statefulLayers: [(any StatefulLayer)?]

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
        statefulLayers = layers.map { $0 as? any StatefulLayer }
        layerBuffers = statefulLayers.map { $0?.initialBuffers() ?? [] }
    }

    public var inputShape: [Int] { spec.inputShape }
    public var outputShape: [Int] { shapes.last! }
    /// Every buffer with its current value, named "i.running_mean" etc. in layer order.
    public var buffers: [NamedBuffer] {
        var named: [NamedBuffer] = []
        for (i, layer) in statefulLayers.enumerated() {
            guard let layer else { continue }
            for (shape, value) in zip(layer.bufferShapes, layerBuffers[i]) {
                named.append(NamedBuffer(name: "\(i).\(shape.name)", value: value))
            }
        }
        return named
    }

    /// This model with its buffers set to `values`, by name: every buffer must be given, with
    /// its shape, and no other name.
    public func withBuffers(_ values: [String: Tensor]) throws -> Sequential {
        var copy = self
        var used = 0
        for (i, layer) in statefulLayers.enumerated() {
            guard let layer else { continue }
            copy.layerBuffers[i] = try layer.bufferShapes.map { entry in
                let name = "\(i).\(entry.name)"
                guard let value = values[name] else { throw ModelError.bufferMismatch("'\(name)' is missing") }
                guard value.shape == entry.shape else {
                    throw ModelError.bufferMismatch("'\(name)' has shape \(value.shape), the model's is \(entry.shape)")
                }
                used += 1
                return value
            }
        }
        if used != values.count {
            let known = Set(buffers.map(\.name))
            throw ModelError.bufferMismatch("the model has no buffer \(values.keys.filter { !known.contains($0) }.sorted())")
        }
        return copy
    }

    public func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel { try withBuffers(values) }

    /// This model after folding in the batch statistics of `.train` passes (by module name, in
    /// pass order), as `ForwardContext.batchStatistics` collects them.
    public func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel {
        var copy = self
        for (module, passes) in statistics {
            guard let i = Int(module), statefulLayers.indices.contains(i), let layer = statefulLayers[i] else {
                throw ModelError.bufferMismatch("batch statistics for '\(module)', which is not a layer with buffers")
            }
            for pass in passes { copy.layerBuffers[i] = layer.updatedBuffers(copy.layerBuffers[i], with: pass) }
        }
        return copy
    }
    public var isStochastic: Bool { firstStochasticLayer != nil }
    public var layerChain: Sequential? { self }

    /// Fresh parameters (PyTorch's default initialisation), drawn layer by layer.
    public func initialParameters(rng: inout RandomGenerator) -> Tensor {
        var flat = Tensor(uninitializedShape: [layout.count])
        flat.withUnsafeMutableBufferPointer { dst in
            var offset = 0
            for layer in layers {
                for t in layer.initialParameters(rng: &rng) {
                    t.withUnsafeBufferPointer { src in
                        (dst.baseAddress! + offset).update(from: src.baseAddress!, count: t.count)
                    }
                    offset += t.count
                }
            }
        }
        return flat
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
        for i in range {
            let params = try layout.entries(ofLayer: i).map { try parameters.segment(offset: $0.offset, shape: $0.shape) }
            h = try forwardLayer(i, h, parameters: params, context: &context)
        }
        return h
    }

    /// Runs layer `i` alone on `x` with its parameters (one per entry of its
    /// `parameterShapes`) — with its buffers, recording its batch statistics in `context`, for
    /// a layer that has them. For models that run some layers their own way (a variational
    /// network's random-weight layers) and the rest as the chain does.
    public func forwardLayer(_ i: Int, _ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        guard let stateful = statefulLayers[i] else { return try layers[i].forward(x, parameters: parameters, context: &context) }
        let (y, statistics) = try stateful.forward(x, parameters: parameters, buffers: layerBuffers[i], context: &context)
        if let statistics { context.batchStatistics["\(i)", default: []].append(statistics) }
        return y
    }
}
