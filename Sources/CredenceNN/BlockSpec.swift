import CredenceTensor

/// One node of a model graph: a layer, a sequence of named children, a residual block or a
/// dense (concatenating) connection. Serialisable, saved in checkpoints inside `ModelSpec`.
///
/// Names follow PyTorch's module tree: a child's path is its parent's path, a dot and its
/// name, so `ModelSpec.resnet20` names its parameters as the CIFAR ResNet modules do
/// ("conv1.weight", "layer2.0.bn1.running_mean", "layer2.0.shortcut.0.weight", "linear.bias").
///
/// ```swift
/// let block = Block.residual(body: [.init("conv1", .layer(.conv2d(...))), .init("bn1", .layer(.batchNorm2d(channels: 16)))],
///                            shortcut: nil, activation: .relu)
/// ```
public indirect enum Block: Codable, Equatable, Sendable {
    /// One layer; its parameters and buffers are named "<path>.weight", "<path>.running_mean".
    case layer(LayerSpec)
    /// Children applied in order (an `nn.Module` whose `forward` calls its attributes in turn,
    /// or an `nn.Sequential` with children "0", "1", …).
    case sequence([NamedBlock])
    /// y = activation(body(x) + shortcut(x)) (He et al. 2016): the body's children run in
    /// order; a nil shortcut is the identity, otherwise a named projection (1×1 convolution
    /// and batch normalization when the shape changes); no activation when nil.
    case residual(body: [NamedBlock], shortcut: NamedBlock?, activation: Activation.Kind?)
    /// y = [x, body(x)] concatenated along the channel axis (a DenseNet layer, Huang et al. 2017).
    case concatenate(body: [NamedBlock])
}

/// A graph node with its name among its siblings (a PyTorch attribute name or index).
public struct NamedBlock: Codable, Equatable, Sendable {
    public var name: String
    public var block: Block

    public init(_ name: String, _ block: Block) {
        self.name = name
        self.block = block
    }

    /// A named layer.
    public static func layer(_ name: String, _ spec: LayerSpec) -> NamedBlock { NamedBlock(name, .layer(spec)) }
}
