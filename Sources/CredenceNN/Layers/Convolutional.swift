import CredenceTensor

/// 2-D convolution over NCHW inputs (cross-correlation, zero padding), weights stored
/// [outChannels, inChannels, kernel, kernel] as in PyTorch's `nn.Conv2d`.
public struct Conv2D: Layer {
    public let inChannels: Int
    public let outChannels: Int
    public let kernel: Int
    public let stride: Int
    public let padding: Int
    public let useBias: Bool

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true) {
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
        self.stride = stride
        self.padding = padding
        useBias = bias
    }

    public var spec: LayerSpec {
        .conv2d(inChannels: inChannels, outChannels: outChannels, kernel: kernel, stride: stride, padding: padding, bias: useBias)
    }

    public var parameterShapes: [(name: String, shape: [Int])] {
        let w = ("weight", [outChannels, inChannels, kernel, kernel])
        return useBias ? [w, ("bias", [outChannels])] : [w]
    }

    var name: String { "Conv2D(\(inChannels)→\(outChannels), \(kernel)×\(kernel))" }

    public func outputShape(for s: [Int]) throws -> [Int] {
        guard s.count == 3, s[0] == inChannels else {
            throw ModelError.inputShape(layer: name, got: s, expected: "[\(inChannels), height, width] per example")
        }
        let h = (s[1] + 2 * padding - kernel) / stride + 1, w = (s[2] + 2 * padding - kernel) / stride + 1
        guard h > 0, w > 0 else {
            throw ModelError.inputShape(layer: name, got: s, expected: "height and width ≥ \(kernel - 2 * padding)")
        }
        return [outChannels, h, w]
    }

    public func initialParameters(rng: inout RandomGenerator) -> [Tensor] {
        pytorchDefaultInit(parameterShapes, fanIn: inChannels * kernel * kernel, rng: &rng)
    }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try x.conv2d(weight: parameters[0], bias: useBias ? parameters[1] : nil,
                     stride: (stride, stride), padding: (padding, padding))
    }
}

/// Max or average pooling over non-overlapping (or strided) square windows, or the
/// global average over all spatial positions ([N, C, H, W] → [N, C]).
public struct Pool2D: Layer {
    public enum Kind: String, Codable, Sendable { case max, average }
    public let kind: Kind
    public let kernel: Int
    public let stride: Int

    public init(_ kind: Kind, kernel: Int, stride: Int? = nil) {
        self.kind = kind
        self.kernel = kernel
        self.stride = stride ?? kernel
    }

    public var spec: LayerSpec {
        kind == .max ? .maxPool2d(kernel: kernel, stride: stride) : .avgPool2d(kernel: kernel, stride: stride)
    }

    public func outputShape(for s: [Int]) throws -> [Int] {
        guard s.count == 3, s[1] >= kernel, s[2] >= kernel else {
            throw ModelError.inputShape(layer: "\(kind)Pool2D(\(kernel))", got: s, expected: "[channels, height ≥ \(kernel), width ≥ \(kernel)]")
        }
        return [s[0], (s[1] - kernel) / stride + 1, (s[2] - kernel) / stride + 1]
    }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        switch kind {
        case .max: return try x.maxPool2d(kernel: kernel, stride: stride)
        case .average: return try x.avgPool2d(kernel: kernel, stride: stride)
        }
    }
}

/// Mean over all spatial positions: [N, C, H, W] → [N, C].
public struct GlobalAveragePool: Layer {
    public init() {}
    public var spec: LayerSpec { .globalAveragePool }
    public func outputShape(for s: [Int]) throws -> [Int] {
        guard s.count == 3 else {
            throw ModelError.inputShape(layer: "GlobalAveragePool", got: s, expected: "[channels, height, width]")
        }
        return [s[0]]
    }
    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        try x.globalAveragePool()
    }
}
