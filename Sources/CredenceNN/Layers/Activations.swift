import CredenceTensor

/// Elementwise nonlinearities (no parameters).
public struct Activation: Layer {
    public enum Kind: String, Codable, CaseIterable, Sendable {
        case relu, tanh, sigmoid, gelu, softplus
    }
    public let kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    public var spec: LayerSpec { .activation(kind) }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        switch kind {
        case .relu: return x.relu()
        case .tanh: return x.tanh()
        case .sigmoid: return x.sigmoid()
        case .gelu: return x.gelu()
        case .softplus: return x.softplus()
        }
    }
}

/// Flattens every axis after the batch axis (PyTorch's `nn.Flatten()`).
public struct Flatten: Layer {
    public init() {}
    public var spec: LayerSpec { .flatten }
    public func outputShape(for inputShape: [Int]) throws -> [Int] { [inputShape.reduce(1, *)] }
    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try x.reshaped([x.shape[0], -1])
    }
}

/// Inverted dropout: in `train` and `mcSample` modes each unit is zeroed with
/// probability `rate` and survivors are scaled by 1/(1−rate); in `eval` it is the
/// identity. MC dropout (Gal & Ghahramani, 2016) is `mcSample` mode with S passes.
public struct Dropout: Layer {
    public let rate: Float

    public init(rate: Float) throws {
        guard rate >= 0, rate < 1 else {
            throw ModelError.invalidSpecification("dropout rate must be in [0, 1), got \(rate)")
        }
        self.rate = rate
    }

    public var spec: LayerSpec { .dropout(rate: rate) }
    public var isStochastic: Bool { rate > 0 }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        guard context.mode.isStochastic, rate > 0 else { return x }
        return try x.dropout(rate: rate, rng: &context.rng)
    }
}
