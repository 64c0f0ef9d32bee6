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

    /// A [5, 4] head (two means, two raw variances per row; values of spread 1.5) and its targets.
    static func headAndTargets() -> (output: Tensor, targets: Tensor) {
        var rng = RandomGenerator(seed: 7)
        let output = Tensor.randomNormal(shape: [5, 4], standardDeviation: 1.5, rng: &rng)
        let targets = Tensor.randomNormal(shape: [5, 2], rng: &rng)
        return (output, targets)
    }

    @Test func fusedGaussianNegativeLogLikelihoodEqualsTheComposedOne() throws {
        let (output, targets) = Self.headAndTargets()
        for upstream: Float in [1, 2.5] {
            var values: [Float] = [], gradients: [[Float]] = []
            for fused in [true, false] {
                let tape = Tape()
                let x = tape.variable(output)
                let nll: Variable
                if fused {
                    nll = try Loss.gaussianNegativeLogLikelihood(output: x, targets: targets)
                } else {
                    let (mean, variance) = try Loss.meanAndVariance(x)
                    nll = try Loss.gaussianNegativeLogLikelihood(mean: mean, variance: variance, targets: targets)
                }
                values.append(nll.value.scalar)
                gradients.append(tape.gradients(of: nll * upstream)[x].values)
            }
            #expect(abs(values[0] - values[1]) <= 1e-5 * abs(values[1]))
            for (a, b) in zip(gradients[0], gradients[1]) { #expect(abs(a - b) <= 1e-6 + 1e-5 * abs(b), "\(a) vs \(b)") }
        }
        // Without a tape: the same value, nothing recorded.
        let constant = try Loss.gaussianNegativeLogLikelihood(output: Variable(constant: output), targets: targets)
        #expect(!constant.isTracked)
    }

    @Test func fusedGaussianNegativeLogLikelihoodFiniteDifferences() throws {
        let (output, targets) = Self.headAndTargets()
        let tape = Tape()
        let x = tape.variable(output)
        let analytic = tape.gradients(of: try Loss.gaussianNegativeLogLikelihood(output: x, targets: targets))[x].values
        func value(_ o: Tensor) throws -> Double {
            Double(try Loss.gaussianNegativeLogLikelihood(output: Variable(constant: o), targets: targets).value.scalar)
        }
        let epsilon: Float = 1e-2
        for i in 0..<output.count {
            var plus = output, minus = output
            plus.withUnsafeMutableBufferPointer { $0[i] += epsilon }
            minus.withUnsafeMutableBufferPointer { $0[i] -= epsilon }
            let numeric = (try value(plus) - value(minus)) / (2 * Double(epsilon))
            #expect(abs(Double(analytic[i]) - numeric) <= 2e-3 + 2e-2 * abs(numeric), "d/d output[\(i)]: \(analytic[i]) vs \(numeric)")
        }
    }

    @Test func fusedGaussianNegativeLogLikelihoodRejectsBadArguments() {
        #expect(throws: TensorError.self) {
            try Loss.gaussianNegativeLogLikelihood(output: Variable(constant: Tensor(shape: [2, 2], repeating: 0)), targets: Tensor(shape: [2, 1], repeating: 0),
                                                   minimumVariance: 0)
        }
        #expect(throws: TensorError.self) {
            try Loss.gaussianNegativeLogLikelihood(output: Variable(constant: Tensor(shape: [2, 3], repeating: 0)), targets: Tensor(shape: [2, 1], repeating: 0))
        }
        #expect(throws: TensorError.self) {
            try Loss.gaussianNegativeLogLikelihood(output: Variable(constant: Tensor(shape: [2, 4], repeating: 0)), targets: Tensor(shape: [2, 1], repeating: 0))
        }
    }

    @Test func meanSquaredError() throws {
        let mse = try Loss.meanSquaredError(predictions: Variable(constant: Tensor([1, 2, 3])), targets: Tensor([1, 0, 0]))
        #expect(abs(mse.value.scalar - 13.0 / 3.0) < 1e-6)
    }
}
