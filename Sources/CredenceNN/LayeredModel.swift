import CredenceTensor

/// Runs layer `layer` of a model on `input` — the model's own way (`LayeredModel.forwardLayer`)
/// or another (a variational network's random weights).
public typealias LayerRunner = (_ layer: Int, _ input: Variable, _ context: inout ForwardContext) throws -> Variable

/// A model made of numbered layers — a chain (`Sequential`) or a graph of blocks
/// (`BlockNetwork`) — that can be run with some of its layers computed another way while the
/// model keeps its wiring (residual sums, concatenations) and its buffers. Variational
/// inference runs its Bayesian layers with random weights and the others as the model does:
///
/// ```swift
/// let y = try model.run(x, context: &context) { i, h, context in
///     i == 0 ? try myFirstLayer(h) : try model.forwardLayer(i, h, parameters: weights(i), context: &context)
/// }
/// ```
public protocol LayeredModel: NetworkModel {
    /// Every layer, numbered as `layout` numbers them (execution order).
    var layers: [any Layer] { get }
    /// Layer `i` as an error message names it ("layer 1 (batchNorm1d(features: 8))",
    /// "layer1.0.bn1 (batchNorm2d(channels: 16))").
    func layerDescription(_ i: Int) -> String
    /// The model's forward pass on `x` with every layer computed by `runLayer`.
    func run(_ x: Variable, context: inout ForwardContext, layer runLayer: LayerRunner) throws -> Variable
    /// Runs layer `i` alone on `x` with its parameters (one per entry of its `parameterShapes`)
    /// and its buffers, recording its batch statistics in `context` for a layer that has them.
    func forwardLayer(_ i: Int, _ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable
    /// This model with its buffers set to `values`, by name (`replacingBuffers`, typed).
    func withBuffers(_ values: [String: Tensor]) throws -> Self
    /// This model with the batch statistics of `.train` passes folded in (`updatingBuffers`, typed).
    func withBatchStatistics(_ statistics: [String: [BatchNormStatistics]]) throws -> Self
    /// The classifier — the last layer (a chain's) or last top-level block (a graph's), when it
    /// is a dense layer — with its layer index; nil otherwise.
    var classifier: (index: Int, layer: Dense)? { get }
    /// The classifier's inputs for `x`: everything before it, in `mode` (eval: no dropout).
    func features(_ x: Tensor, parameters: Tensor, mode: ForwardMode) throws -> Tensor
}

extension LayeredModel {
    public func replacingBuffers(_ values: [String: Tensor]) throws -> any NetworkModel { try withBuffers(values) }

    public func updatingBuffers(with statistics: [String: [BatchNormStatistics]]) throws -> any NetworkModel {
        try withBatchStatistics(statistics)
    }

    /// Layer `i`'s parameters as windows of the flat vector `theta`.
    public func layerParameters(_ i: Int, of theta: Variable) throws -> [Variable] {
        try layout.entries(ofLayer: i).map { try theta.segment(offset: $0.offset, shape: $0.shape) }
    }
}
