import CredenceTensor

/// A model as a function of a flat parameter vector: `model(x, parameters:, context:)`.
///
/// Built from a `ModelSpec`; owns no weights. The parameters are one rank-1 tensor with
/// `layout`; layers see windows of it, and gradients land in one flat buffer of the
/// same layout.
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

    public init(_ spec: ModelSpec) throws {
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
    }

    public var inputShape: [Int] { spec.inputShape }
    public var outputShape: [Int] { shapes.last! }
    public var buffers: [NamedBuffer] { [] }
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
            h = try layers[i].forward(h, parameters: params, context: &context)
        }
        return h
    }
}
