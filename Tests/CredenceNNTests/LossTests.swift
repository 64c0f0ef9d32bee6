import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

@Suite struct LossTests {
    @Test func crossEntropyWithAndWithoutLabelSmoothing() throws {
        let logits = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, 0])
        let labels: [Int32] = [2, 0]
        // Row 0: log-softmax of (1,2,3) = (1,2,3) − log(e + e² + e³); row 1: −log 3 each.
        let lse = log(exp(1.0) + exp(2.0) + exp(3.0))
        let logp0 = [1 - lse, 2 - lse, 3 - lse], logp1 = [-log(3.0), -log(3.0), -log(3.0)]
        let plain = -(logp0[2] + logp1[0]) / 2
        let ce = try Loss.softmaxCrossEntropy(logits: Variable(constant: logits), labels: labels)
        #expect(abs(Double(ce.value.scalar) - plain) < 1e-5)
        let eps = 0.1
        let smooth = ((1 - eps) * plain) - eps * (logp0.reduce(0, +) + logp1.reduce(0, +)) / 6
        let ls = try Loss.softmaxCrossEntropy(logits: Variable(constant: logits), labels: labels, labelSmoothing: Float(eps))
        #expect(abs(Double(ls.value.scalar) - smooth) < 1e-5)
        #expect(throws: TensorError.self) { try Loss.softmaxCrossEntropy(logits: Variable(constant: logits), labels: [0]) }
    }

    @Test func gaussianNegativeLogLikelihood() throws {
        let mean = Tensor(shape: [2, 1], values: [0, 1]), variance = Tensor(shape: [2, 1], values: [1, 4])
        let y = Tensor(shape: [2, 1], values: [1, 1])
        let nll = try Loss.gaussianNegativeLogLikelihood(mean: Variable(constant: mean), variance: Variable(constant: variance), targets: y)
        let expected = 0.5 * (log(2 * Double.pi) + 0 + 1) * 0.5 + 0.5 * (log(2 * Double.pi) + log(4.0) + 0) * 0.5
        #expect(abs(Double(nll.value.scalar) - expected) < 1e-5)
        // The head: softplus(raw) + 1e-6.
        let head = try Loss.meanAndVariance(Variable(constant: Tensor(shape: [1, 2], values: [3, 0])))
        #expect(head.mean.value.values == [3])
        #expect(abs(head.variance.value.values[0] - Float(log(2.0)) - 1e-6) < 1e-6)
    }

    @Test func meanSquaredError() throws {
        let mse = try Loss.meanSquaredError(predictions: Variable(constant: Tensor([1, 2, 3])), targets: Tensor([1, 0, 0]))
        #expect(abs(mse.value.scalar - 13.0 / 3.0) < 1e-6)
    }
}
