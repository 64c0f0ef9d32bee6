import CredenceTensor

/// Fully connected layer, y = x·Wᵀ + b, with W stored [outputs, inputs] exactly as
/// PyTorch's `nn.Linear` stores it (so checkpoints interchange without transposes).
public struct Dense: Layer {
    public let inputs: Int
    public let outputs: Int
    public let useBias: Bool

    public init(inputs: Int, outputs: Int, bias: Bool = true) {
        self.inputs = inputs
        self.outputs = outputs
        useBias = bias
    }

    public var spec: LayerSpec { .dense(inputs: inputs, outputs: outputs, bias: useBias) }

    public var parameterShapes: [(name: String, shape: [Int])] {
        useBias ? [("weight", [outputs, inputs]), ("bias", [outputs])] : [("weight", [outputs, inputs])]
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape == [inputs] else {
            throw ModelError.inputShape(layer: "Dense(\(inputs)→\(outputs))", got: inputShape,
                                        expected: "[\(inputs)] per example (add a Flatten layer before Dense for images)")
        }
        return [outputs]
    }

    public func initialParameters(rng: inout RandomGenerator) -> [Tensor] {
        pytorchDefaultInit(parameterShapes, fanIn: inputs, rng: &rng)
    }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        guard x.shape.count == 2, x.shape[1] == inputs else {
            throw ModelError.inputShape(layer: "Dense(\(inputs)→\(outputs))", got: x.shape, expected: "[batch, \(inputs)]")
        }
        return useBias ? try x.affine(weight: parameters[0], bias: parameters[1]) : try x.matmul(parameters[0], transposeRight: true)
    }
}
