import CredenceTensor
import Foundation

/// The variance head of a homoscedastic regression network: one learned noise variance per
/// output, the same for every input. It takes the D predicted means [B, D] and returns
/// [B, 2D] — the means, then the parameter "raw_variance" [D] repeated for every example — so
/// the network outputs what the heteroscedastic Gaussian likelihood reads (σ² = softplus(raw)
/// + 1e-6, as `Loss.meanAndVariance`) and every regression method, metric and file takes it
/// unchanged. Samplers then draw the noise level with the weights, one scalar per output
/// instead of a function of x: Hamiltonian chains avoid the funnel a variance network forms
/// with the weights. Starts at σ² = 1 (raw = log(e − 1)), the variance of standardised targets.
/// PyTorch has no such module; its state-dict entry is "<index>.raw_variance".
public struct HomoscedasticNoise: Layer {
    public let outputs: Int
    /// softplus⁻¹(1).
    public static let initialRawVariance = Float(Foundation.log(M_E - 1))

    public init(outputs: Int) throws {
        guard outputs >= 1 else {
            throw ModelError.invalidSpecification("a homoscedastic noise head needs at least one output, got \(outputs)")
        }
        self.outputs = outputs
    }

    public var spec: LayerSpec { .homoscedasticNoise(outputs: outputs) }
    public var parameterShapes: [(name: String, shape: [Int])] { [("raw_variance", [outputs])] }

    public func initialParameters(rng: inout RandomGenerator) -> [Tensor] {
        [Tensor(shape: [outputs], repeating: Self.initialRawVariance)]
    }

    public func outputShape(for inputShape: [Int]) throws -> [Int] {
        guard inputShape == [outputs] else {
            throw ModelError.inputShape(layer: "HomoscedasticNoise(\(outputs))", got: inputShape,
                                        expected: "[\(outputs)] predicted means per example")
        }
        return [2 * outputs]
    }

    public func forward(_ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        guard x.shape.count == 2, x.shape[1] == outputs else {
            throw ModelError.inputShape(layer: "HomoscedasticNoise(\(outputs))", got: x.shape, expected: "[batch, \(outputs)]")
        }
        let raw = try Variable(constant: Tensor(shape: x.shape, repeating: 0)) + parameters[0]
        return try Variable.concatenate([x, raw], axis: 1)
    }
}
