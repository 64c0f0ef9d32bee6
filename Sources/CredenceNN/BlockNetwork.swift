import CredenceTensor

/// A model that is a graph of blocks — residual and dense connections — rather than a chain,
/// as a function of one flat parameter vector (the `NetworkModel` every method works on).
///
/// Built from a `ModelSpec` with `blocks`. Every layer of the graph is numbered in execution
/// order (depth first; `layers`, `layerNames`); its parameters and buffers are named by its
/// path in the module tree, as PyTorch's state dict names them ("layer1.0.bn2.running_var"),
/// and the layout lays them end to end in that order, so the last module is the classifier
/// (last-layer Laplace works on it). Buffers and batch statistics behave as in `Sequential`:
/// the model holds the running statistics, a `.train` pass reports its batch statistics under
/// the layer's path, and `updatingBuffers(with:)` folds them in.
///
/// ```swift
/// let model = try ModelSpec.resnet20(outputs: 10).makeModel()   // a BlockNetwork
/// var rng = RandomGenerator(seed: 0)
/// let logits = try model.predict(images, parameters: model.initialParameters(rng: &rng))
/// ```
public struct BlockNetwork: LayeredModel {
    public let spec: ModelSpec
    /// Every layer of the graph in execution order.
    public let layers: [any Layer]
    /// The module path of each layer ("layer1.0.conv1"), the prefix of its parameters' names.
    public let layerNames: [String]
    public let layout: ParameterLayout
    public let outputShape: [Int]
    /// Which layers keep buffers, and their values.
    private(set) var layerState: LayerBuffers
    /// Each layer's layout entries, looked up once.
    let parameterEntries: [[ParameterLayout.Entry]]
    let graph: [Node]

    /// The graph with layers replaced by their indices.
    indirect enum Node {
        case layer(Int)
        case sequence([Node])
        case residual(body: [Node], shortcut: Node?, activation: Activation?)
        case concatenate(body: [Node])
    }

    public init(_ spec: ModelSpec) throws {
        guard let blocks = spec.blocks else {
            throw ModelError.invalidSpecification("a BlockNetwork is built from a spec with blocks; this one is a chain of layers (use Sequential, or spec.makeModel())")
        }
        guard spec.layers.isEmpty else {
            throw ModelError.invalidSpecification("a spec has either layers or blocks, not both (\(spec.layers.count) layers and \(blocks.count) blocks given)")
        }
        guard !blocks.isEmpty else { throw ModelError.invalidSpecification("a model needs at least one block") }
        var builder = GraphBuilder()
        var shape = spec.inputShape
        graph = try builder.compile(blocks, path: "", shape: &shape)
        self.spec = spec
        layers = builder.layers
        layerNames = builder.names
        layout = builder.layout
        outputShape = shape
        parameterEntries = layers.indices.map { builder.layout.entries(ofLayer: $0) }
        layerState = LayerBuffers(layers: layers, moduleNames: builder.names)
        let names = layout.entries.map(\.name) + layerState.named.map(\.name)
        if let repeated = Dictionary(grouping: names, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
            throw ModelError.invalidSpecification("two tensors are named '\(repeated)'; give the blocks distinct names")
        }
    }

    public var inputShape: [Int] { spec.inputShape }
    public var isStochastic: Bool { layers.contains { $0.isStochastic } }
    public var layerChain: Sequential? { nil }

    /// Every buffer with its current value, named by its layer's path, in layer order.
    public var buffers: [NamedBuffer] { layerState.named }

    /// This model with its buffers set to `values`, by name: every buffer must be given, with
    /// its shape, and no other name.
    public func withBuffers(_ values: [String: Tensor]) throws -> BlockNetwork {
        var copy = self
        copy.layerState = try layerState.replacing(values)
        return copy
    }


    public func withBatchStatistics(_ statistics: [String: [BatchNormStatistics]]) throws -> BlockNetwork {
        var copy = self
        copy.layerState = try layerState.updating(with: statistics)
        return copy
    }


    /// Fresh parameters (PyTorch's default initialisation), drawn layer by layer in layout order.
    public func initialParameters(rng: inout RandomGenerator) -> Tensor {
        initialFlatParameters(layers, count: layout.count, rng: &rng)
    }

    public func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext) throws -> Variable {
        guard parameters.value.count == layout.count, parameters.value.rank == 1 else {
            throw ModelError.parameterCount(got: parameters.value.count, expected: layout.count)
        }
        return try run(x, context: &context, layer: layerRunner(parameters))
    }

    /// The graph's forward pass with every layer computed by `runLayer`.
    public func run(_ x: Variable, context: inout ForwardContext, layer runLayer: LayerRunner) throws -> Variable {
        guard x.shape.count == inputShape.count + 1, Array(x.shape.dropFirst()) == inputShape else {
            throw ModelError.inputShape(layer: "model input", got: x.shape, expected: "[batch] + \(inputShape)")
        }
        return try run(graph, x, &context, runLayer)
    }

    public func forwardLayer(_ i: Int, _ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try layerState.forward(i, layers[i], x, parameters: parameters, context: &context)
    }

    public func layerDescription(_ i: Int) -> String { "\(layerNames[i]) (\(type(of: layers[i])))" }

    /// Runs each layer the model's own way with its windows of `theta`.
    func layerRunner(_ theta: Variable) -> LayerRunner {
        { i, x, context in
            try forwardLayer(i, x, parameters: try parameterEntries[i].map { try theta.segment(offset: $0.offset, shape: $0.shape) },
                             context: &context)
        }
    }

    func run(_ nodes: [Node], _ x: Variable, _ context: inout ForwardContext, _ runLayer: LayerRunner) throws -> Variable {
        var h = x
        for node in nodes { h = try run(node, h, &context, runLayer) }
        return h
    }

    func run(_ node: Node, _ x: Variable, _ context: inout ForwardContext, _ runLayer: LayerRunner) throws -> Variable {
        switch node {
        case let .layer(i):
            return try runLayer(i, x, &context)
        case let .sequence(children):
            return try run(children, x, &context, runLayer)
        case let .residual(body, shortcut, activation):
            let y = try run(body, x, &context, runLayer)
            let sum = try y + (shortcut.map { try run($0, x, &context, runLayer) } ?? x)
            return try activation?.forward(sum, parameters: [], context: &context) ?? sum
        case let .concatenate(body):
            return try Variable.concatenate([x, try run(body, x, &context, runLayer)], axis: 1)
        }
    }

    /// The classifier — the last top-level block, when it is a dense layer — with its layer
    /// index; nil otherwise.
    public var classifier: (index: Int, layer: Dense)? {
        guard case let .layer(i)? = graph.last, let dense = layers[i] as? Dense else { return nil }
        return (i, dense)
    }

    /// The classifier's inputs: every top-level block but the last, in `mode` (eval: no dropout).
    public func features(_ x: Tensor, parameters: Tensor, mode: ForwardMode = .eval) throws -> Tensor {
        guard classifier != nil else {
            throw ModelError.invalidSpecification("the model's last block is not a dense classifier; it has no features to read")
        }
        var context = ForwardContext(mode: mode)
        return try run(Array(graph.dropLast()), Variable(constant: x), &context, layerRunner(Variable(constant: parameters))).value
    }

    /// `[S, B, C]` softmax outputs of `samples` stochastic passes (MC dropout). The top-level
    /// blocks before the first one that draws noise run once; the rest runs for every sample, the
    /// samples stacked in blocks of about 2²¹ input values. With no noise, one pass repeated.
    public func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Tensor {
        guard samples >= 1 else { throw ModelError.invalidSpecification("Monte-Carlo samples must be ≥ 1, got \(samples)") }
        guard let split = graph.firstIndex(where: { contains(stochastic: $0) }) else {
            let probabilities = try predict(x, parameters: parameters).softmaxLastAxis()
            return try Tensor(tiling: probabilities, times: samples).reshaped([samples] + probabilities.shape)
        }
        let runLayer = layerRunner(Variable(constant: parameters))
        var context = ForwardContext(mode: .mcSample, rng: rng.split())
        let prefix = try run(Array(graph[..<split]), Variable(constant: x), &context, runLayer).value
        let suffix = Array(graph[split...])
        let perBlock = Swift.max(1, (1 << 21) / Swift.max(prefix.count, 1))
        return try stackedMonteCarloProbabilities(prefix, samples: samples, samplesPerBlock: perBlock, rng: &rng) { input, context in
            try run(suffix, input, &context, runLayer)
        }
    }

    func contains(stochastic node: Node) -> Bool {
        switch node {
        case let .layer(i): return layers[i].isStochastic
        case let .sequence(children), let .concatenate(children): return children.contains { contains(stochastic: $0) }
        case let .residual(body, shortcut, _):
            return body.contains { contains(stochastic: $0) } || shortcut.map { contains(stochastic: $0) } == true
        }
    }
}

/// Numbers a block graph's layers depth first, names their parameters by path, and infers
/// every shape, rejecting blocks whose parts do not fit.
private struct GraphBuilder {
    var layers: [any Layer] = []
    var names: [String] = []
    var layout = ParameterLayout()

    mutating func compile(_ children: [NamedBlock], path: String, shape: inout [Int]) throws -> [BlockNetwork.Node] {
        var seen: Set<String> = []
        return try children.map { child in
            guard !child.name.isEmpty, !child.name.contains("."), seen.insert(child.name).inserted else {
                throw ModelError.invalidSpecification("block '\(path)': child names must be distinct, non-empty and without dots; got '\(child.name)'")
            }
            return try compile(child.block, path: path.isEmpty ? child.name : "\(path).\(child.name)", shape: &shape)
        }
    }

    mutating func compile(_ block: Block, path: String, shape: inout [Int]) throws -> BlockNetwork.Node {
        switch block {
        case let .layer(spec):
            let layer = try spec.makeLayer()
            do {
                shape = try layer.outputShape(for: shape)
            } catch let error as ModelError {
                throw ModelError.invalidSpecification("'\(path)': \(error)")
            }
            let index = layers.count
            for p in layer.parameterShapes { layout.append(name: "\(path).\(p.name)", layer: index, shape: p.shape) }
            layers.append(layer)
            names.append(path)
            return .layer(index)
        case let .sequence(children):
            return .sequence(try compile(children, path: path, shape: &shape))
        case let .residual(body, shortcut, activation):
            if let shortcut, body.contains(where: { $0.name == shortcut.name }) {
                throw ModelError.invalidSpecification("residual block '\(path)': the shortcut and a body block are both named '\(shortcut.name)'")
            }
            let input = shape
            let bodyNodes = try compile(body, path: path, shape: &shape)
            var shortcutShape = input
            let shortcutNode = try shortcut.map { try compile($0.block, path: "\(path).\($0.name)", shape: &shortcutShape) }
            guard shape == shortcutShape else {
                throw ModelError.invalidSpecification("residual block '\(path)': the body gives \(shape) but the shortcut \(shortcutShape); "
                                                      + "use a projection shortcut (1×1 convolution with the body's stride and width)")
            }
            return .residual(body: bodyNodes, shortcut: shortcutNode, activation: activation.map(Activation.init))
        case let .concatenate(body):
            let input = shape
            let bodyNodes = try compile(body, path: path, shape: &shape)
            guard shape.count == input.count, !input.isEmpty, shape.dropFirst() == input.dropFirst() else {
                throw ModelError.invalidSpecification("dense connection '\(path)': the body gives \(shape) for input \(input); "
                                                      + "only the channel count (first axis) may change")
            }
            shape[0] += input[0]
            return .concatenate(body: bodyNodes)
        }
    }
}
