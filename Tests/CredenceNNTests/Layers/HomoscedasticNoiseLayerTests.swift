import CredenceTensor
import Foundation
import Testing
@testable import CredenceNN

@Suite("Homoscedastic noise head")
struct HomoscedasticNoiseLayerTests {
    static func softplus(_ r: Double) -> Double { max(r, 0) + log1p(exp(-abs(r))) }

    @Test("the head repeats its raw variance for every example; gradients match central differences")
    func forwardAndGradient() throws {
        let model = try Sequential(ModelSpec(inputShape: [3], layers: [.dense(inputs: 3, outputs: 2, bias: true),
                                                                       .homoscedasticNoise(outputs: 2)]))
        #expect(model.outputShape == [4])
        #expect(model.layout.entries.map(\.name) == ["0.weight", "0.bias", "1.raw_variance"])
        var rng = RandomGenerator(seed: 3)
        let theta = Tensor.randomNormal(shape: [model.parameterCount], rng: &rng)
        let x = Tensor.randomNormal(shape: [5, 3], rng: &rng)
        var context = ForwardContext(mode: .eval)
        let out = try model(Variable(constant: x), parameters: Variable(constant: theta), context: &context).value
        let raw = Array(theta.values.suffix(2))
        for row in 0..<5 { #expect(Array(out.values[(row * 4 + 2)..<(row * 4 + 4)]) == raw) }
        #expect(try HomoscedasticNoise(outputs: 1).initialParameters(rng: &rng)[0].values.map { Self.softplus(Double($0)) }
            .allSatisfy { abs($0 - 1) < 1e-6 })
        try expectModelGradientsMatchFiniteDifferences(model, parameters: theta, inputs: x, labels: [0, 3, 1, 2, 3])
        #expect(throws: ModelError.self) { _ = try Sequential(ModelSpec(inputShape: [3], layers: [.homoscedasticNoise(outputs: 2)])) }
        #expect(throws: ModelError.self) { _ = try HomoscedasticNoise(outputs: 0) }
    }
}
