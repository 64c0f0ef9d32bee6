import CredenceTensor

/// How a forward pass treats stochastic layers. Passed explicitly; never global state.
public enum ForwardMode: String, Codable, CaseIterable, Sendable {
    /// Training: dropout active, statistics updated.
    case train
    /// Deterministic inference: dropout off.
    case eval
    /// Monte-Carlo inference: dropout (and other stochastic layers) active at test time.
    case mcSample = "mc-sample"

    /// Whether stochastic layers draw noise in this mode.
    public var isStochastic: Bool { self != .eval }
}

/// What a forward pass needs besides inputs and parameters: the mode and the
/// generator that stochastic layers draw from — and, coming back out, the batch statistics
/// that `.train` passes of layers with running statistics (batch normalization) measured.
public struct ForwardContext {
    public var mode: ForwardMode
    public var rng: RandomGenerator
    /// Batch statistics recorded by `.train` passes, by module name ("1"), one entry per pass
    /// in order. The forward pass never changes a model's buffers: whoever owns the model
    /// folds these in afterwards (`NetworkModel.updatingBuffers(with:)`; the `Trainer` does it
    /// once per step, after merging its worker shards' statistics).
    public var batchStatistics: [String: [BatchNormStatistics]] = [:]

    public init(mode: ForwardMode, rng: RandomGenerator = RandomGenerator(seed: 0)) {
        self.mode = mode
        self.rng = rng
    }
}

/// Errors raised while building or running a model.
public enum ModelError: Error, CustomStringConvertible, Equatable {
    /// The input to layer `layer` does not have the shape the layer needs.
    case inputShape(layer: String, got: [Int], expected: String)
    /// A parameter vector whose length does not match the model's layout.
    case parameterCount(got: Int, expected: Int)
    /// A specification that cannot describe a working model.
    case invalidSpecification(String)
    /// Buffer values (running statistics) that do not fit the model's buffers.
    case bufferMismatch(String)

    public var description: String {
        switch self {
        case let .inputShape(layer, got, expected):
            return "\(layer): input of shape \(got) does not fit; expected \(expected)"
        case let .parameterCount(got, expected):
            return "parameter vector has \(got) elements but the model's layout needs \(expected); was it saved from a different architecture?"
        case let .invalidSpecification(message):
            return "invalid model specification: \(message)"
        case let .bufferMismatch(message):
            return "buffers do not fit the model: \(message); pass the values the model's `buffers` names (a checkpoint of the same spec)"
        }
    }
}

/// A layer: architecture only. Its parameters are windows of the model's flat vector,
/// handed to `forward` in the order of `parameterShapes`.
public protocol Layer {
    /// The serialisable description this layer was built from.
    var spec: LayerSpec { get }
    /// Local parameter names (PyTorch's: "weight", "bias") and shapes.
    var parameterShapes: [(name: String, shape: [Int])] { get }
    /// The per-example output shape for a per-example input shape; throws when the
    /// input does not fit.
    func outputShape(for inputShape: [Int]) throws -> [Int]
    /// Fresh parameter values, one tensor per entry of `parameterShapes`.
    func initialParameters(rng: inout RandomGenerator) -> [Tensor]
    /// Applies the layer to a batch `x` (first axis = batch).
    func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable
    /// True when the layer draws noise in `train` / `mcSample` modes (dropout, later
    /// variational layers). Everything before the first such layer is deterministic and
    /// can be computed once for many Monte-Carlo samples.
    var isStochastic: Bool { get }
}

public extension Layer {
    var parameterShapes: [(name: String, shape: [Int])] { [] }
    func initialParameters(rng: inout RandomGenerator) -> [Tensor] { [] }
    /// Shape-preserving by default (activations, dropout).
    func outputShape(for inputShape: [Int]) throws -> [Int] { inputShape }
    var isStochastic: Bool { false }
}

/// A layer with state that is not a parameter — batch normalization's running mean and
/// variance and its batch counter. The values live in the model (`Sequential` holds them per
/// layer) and are handed to `forward`; a `.train` pass returns the batch statistics it
/// measured, and `updatedBuffers` folds them in. The forward pass itself never mutates state,
/// so worker threads can run shards of a batch on one model.
public protocol StatefulLayer: Layer {
    /// Local buffer names (PyTorch's: "running_mean", "running_var", "num_batches_tracked")
    /// and shapes.
    var bufferShapes: [(name: String, shape: [Int])] { get }
    /// A fresh layer's buffer values, one per entry of `bufferShapes`.
    func initialBuffers() -> [Tensor]
    /// Applies the layer with its buffers; in `.train` mode also returns the batch statistics
    /// to fold into them (nil in other modes).
    func forward(_ x: Variable, parameters: [Variable], buffers: [Tensor],
                 context: inout ForwardContext) throws -> (output: Variable, statistics: BatchNormStatistics?)
    /// The buffers after one `.train` pass that measured `statistics`.
    func updatedBuffers(_ buffers: [Tensor], with statistics: BatchNormStatistics) -> [Tensor]
}

/// PyTorch's default initialisation for Linear and Conv2d: U(−1/√fanIn, 1/√fanIn)
/// for weights (kaiming-uniform with a = √5) and biases.
func pytorchDefaultInit(_ shapes: [(name: String, shape: [Int])], fanIn: Int, rng: inout RandomGenerator) -> [Tensor] {
    let bound = 1 / Float(Swift.max(fanIn, 1)).squareRoot()
    return shapes.map { Tensor.randomUniform(shape: $0.shape, lower: -bound, upper: bound, rng: &rng) }
}
