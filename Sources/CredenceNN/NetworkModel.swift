import CredenceTensor

/// A network as training and the inference methods see it: inputs and one flat parameter
/// vector in, outputs out, with a named parameter layout (PyTorch state-dict names, e.g.
/// "3.weight", grouped into modules "3") and named buffers — state that is not a parameter
/// (batch normalization's running statistics), held with their values by the model value.
///
/// Methods never walk a list of layers: Laplace's last- and first-layer subsets are the
/// last and first modules of `layout`; what needs more structure than a function of θ asks
/// for it and says so in its error when a model lacks it — the layers with the model's wiring
/// (`LayeredModel`: variational inference, per-example Jacobians, the classifier's features)
/// or a chain (`layerChain`: Laplace's per-layer Kronecker factors). `Sequential` is the
/// chain of layers built from a `ModelSpec`; a graph of blocks (`BlockNetwork`: residual,
/// dense) conforms the same way.
public protocol NetworkModel {
    /// The architecture, saved with every checkpoint and archive (`makeModel()` rebuilds it).
    var spec: ModelSpec { get }
    var layout: ParameterLayout { get }
    /// Per-example input and output shapes.
    var inputShape: [Int] { get }
    var outputShape: [Int] { get }
    /// Named state that is not a parameter, with its current values (saved with checkpoints).
    var buffers: [NamedBuffer] { get }
    /// The model with its buffers set to `values` by name (all of them, with their shapes).
    func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel
    /// The model after folding in the batch statistics that `.train` passes recorded in
    /// `ForwardContext.batchStatistics` (running-average updates).
    func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel
    /// Whether some layer draws noise in `.train` / `.mcSample` mode (dropout).
    var isStochastic: Bool { get }
    /// Fresh parameters (PyTorch's default initialisation).
    func initialParameters(rng: inout RandomGenerator) -> Tensor
    /// The outputs on the tape; `parameters` is the whole flat vector.
    func callAsFunction(_ x: Variable, parameters: Variable, context: inout ForwardContext) throws -> Variable
    /// `[S, B, C]` softmax outputs of `samples` stochastic passes (MC dropout); a chain runs
    /// its deterministic prefix once.
    func monteCarloProbabilities(_ x: Tensor, parameters: Tensor, samples: Int, rng: inout RandomGenerator) throws -> Tensor
    /// The model as a chain of layers, when it is one; nil for a graph of blocks.
    var layerChain: Sequential? { get }
}

/// A named piece of model state that is not a parameter and its value, e.g. "1.running_mean".
public struct NamedBuffer: Equatable, Sendable {
    public var name: String
    public var value: Tensor
    public var shape: [Int] { value.shape }

    public init(name: String, value: Tensor) {
        self.name = name
        self.value = value
    }
}

extension NetworkModel {
    public var parameterCount: Int { layout.count }

    /// The buffers' values by name (what a checkpoint stores).
    public var bufferValues: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: buffers.map { ($0.name, $0.value) })
    }

    /// For models without buffers: accepts only an empty set.
    public func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel {
        guard values.isEmpty, buffers.isEmpty else {
            throw ModelError.bufferMismatch("this model type cannot replace its buffers; given \(values.keys.sorted())")
        }
        return self
    }

    /// For models without buffers: nothing to fold in.
    public func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel {
        guard statistics.isEmpty else {
            throw ModelError.bufferMismatch("this model type keeps no running statistics; got some for \(statistics.keys.sorted())")
        }
        return self
    }

    /// Outputs (logits) for a batch without recording gradients.
    public func predict(_ x: Tensor, parameters: Tensor, mode: ForwardMode = .eval,
                        rng: RandomGenerator = RandomGenerator(seed: 0)) throws -> Tensor {
        var context = ForwardContext(mode: mode, rng: rng)
        return try self(Variable(constant: x), parameters: Variable(constant: parameters), context: &context).value
    }

    /// Outputs for many inputs, in chunks of `batchSize` spread over the worker threads.
    public func predictBatched(_ x: Tensor, parameters: Tensor, batchSize: Int = 1000, mode: ForwardMode = .eval,
                               rng: RandomGenerator = RandomGenerator(seed: 0)) throws -> Tensor {
        let chunks = rowChunks(x.shape.first ?? 0, batchSize: batchSize)
        var base = rng
        let rngs = base.split(into: chunks.count)
        return try mapRows(x, in: chunks) { c, rows in try predict(rows, parameters: parameters, mode: mode, rng: rngs[c]) }
    }
}

/// `n` rows in contiguous chunks of at most about `batchSize`.
public func rowChunks(_ n: Int, batchSize: Int) -> [Range<Int>] {
    Parallel.ranges(n, parts: Swift.max(1, (n + batchSize - 1) / batchSize))
}

/// `body(c, rows)` for every chunk c of `x`'s rows, the chunks spread over the worker threads in
/// contiguous runs, the outputs concatenated along the first axis in chunk order.
public func mapRows(_ x: Tensor, in chunks: [Range<Int>], _ body: (Int, Tensor) throws -> Tensor) throws -> Tensor {
    let perThread = Parallel.ranges(chunks.count, parts: Parallel.workerCount)
    let outputs = try Parallel.map(perThread.count) { t in
        try perThread[t].map { c in try body(c, try x.rows(chunks[c])) }
    }
    return try Tensor.concatenate(outputs.flatMap { $0 }, axis: 0)
}

extension ModelSpec {
    /// The network this spec describes: a `Sequential` chain, or a `BlockNetwork` for a graph.
    public func makeModel() throws -> any NetworkModel {
        blocks == nil ? try Sequential(self) : try BlockNetwork(self)
    }
}

extension ParameterLayout {
    /// Module names in layout order: each entry's name without its last component
    /// ("3.weight" → "3", "layer1.0.conv1.weight" → "layer1.0.conv1").
    public var moduleNames: [String] {
        var names: [String] = []
        for e in entries {
            let module = Self.module(of: e.name)
            if names.last != module { names.append(module) }
        }
        return names
    }

    /// The module of a parameter name.
    public static func module(of name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return name }
        return String(name[..<dot])
    }
}
