import Testing
@testable import CredenceTensor

/// Batch normalization in training mode (batch statistics): its forward values against the
/// textbook formula, and its fused pullback against finite differences for x, γ and β.
@Suite struct NormalizationGradientTests {
    let check = GradientCheck()

    @Test(arguments: [[5, 3], [3, 2, 3, 2], [2, 3, 4]])
    func batchNormGradient(_ shape: [Int]) throws {
        let c = shape[1]
        let inputs: [Tensor] = [.testInput(shape, seed: 100, scale: 1.5), .testInput([c], seed: 101),
                                .testInput([c], seed: 102)]
        let violation = try check.check("batchNormalized \(shape)", inputs) { v in
            try v[0].batchNormalized(weight: v[1], bias: v[2], epsilon: 1e-5).output
        }
        #expect(violation <= 0)
    }

    @Test func batchNormGradientWithOnlyTheInputTracked() throws {
        let gamma = Variable(constant: .testInput([3], seed: 103)), beta = Variable(constant: .testInput([3], seed: 104))
        try check.check("batchNormalized x only", [.testInput([4, 3, 2, 2], seed: 105)]) { v in
            try v[0].batchNormalized(weight: gamma, bias: beta, epsilon: 1e-5).output
        }
    }

    /// y = γ (x − μ)/√(σ² + ε) + β with μ, σ² the per-channel mean and biased variance.
    @Test func batchNormForwardMatchesTheFormula() throws {
        let x = Tensor.testInput([4, 2, 3], seed: 106, scale: 2)
        let gamma = Tensor([1.5, -0.5]), beta = Tensor([0.25, 2])
        let (y, stats) = try Variable(constant: x).batchNormalized(weight: Variable(constant: gamma),
                                                                    bias: Variable(constant: beta), epsilon: 1e-5)
        #expect(stats.count == 12)
        for ch in 0..<2 {
            var values: [Double] = []
            for b in 0..<4 { for p in 0..<3 { values.append(Double(x[b, ch, p])) } }
            let mean = values.reduce(0, +) / 12
            let variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 12
            #expect(abs(Double(stats.mean[ch]) - mean) < 1e-5)
            #expect(abs(Double(stats.variance[ch]) - variance) < 1e-5)
            for b in 0..<4 {
                for p in 0..<3 {
                    let expected = Double(gamma[ch]) * (Double(x[b, ch, p]) - mean) / (variance + 1e-5).squareRoot() + Double(beta[ch])
                    #expect(abs(Double(y.value[b, ch, p]) - expected) < 1e-5)
                }
            }
        }
    }

    @Test func batchNormRejectsMismatchedShapes() {
        let x = Variable(constant: .testInput([4, 3], seed: 107))
        #expect(throws: TensorError.self) {
            try x.batchNormalized(weight: Variable(constant: Tensor([1, 1])), bias: Variable(constant: Tensor([0, 0, 0])), epsilon: 1e-5)
        }
        #expect(throws: TensorError.self) {
            try Variable(constant: Tensor([1, 2, 3])).batchNormalized(weight: Variable(constant: Tensor([1])),
                                                                       bias: Variable(constant: Tensor([0])), epsilon: 1e-5)
        }
    }

    @Test(arguments: [[[4, 6], [6]], [[2, 3, 2, 2], [3, 2, 2]], [[3, 2, 5], [5]]])
    func layerNormGradient(_ shapes: [[Int]]) throws {
        let inputs: [Tensor] = [.testInput(shapes[0], seed: 110, scale: 1.5), .testInput(shapes[1], seed: 111),
                                .testInput(shapes[1], seed: 112)]
        let violation = try check.check("layerNormalized \(shapes)", inputs) { v in
            try v[0].layerNormalized(weight: v[1], bias: v[2], epsilon: 1e-5)
        }
        #expect(violation <= 0)
    }

    /// y = γ (x − μ)/√(σ² + ε) + β over each row's trailing values.
    @Test func layerNormForwardMatchesTheFormula() throws {
        let x = Tensor.testInput([3, 4], seed: 113, scale: 2)
        let gamma = Tensor([1.5, -0.5, 1, 2]), beta = Tensor([0.25, 2, 0, -1])
        let y = try Variable(constant: x).layerNormalized(weight: Variable(constant: gamma), bias: Variable(constant: beta), epsilon: 1e-5)
        for r in 0..<3 {
            let values = (0..<4).map { Double(x[r, $0]) }
            let mean = values.reduce(0, +) / 4, variance = values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 4
            for i in 0..<4 {
                let expected = Double(gamma[i]) * (values[i] - mean) / (variance + 1e-5).squareRoot() + Double(beta[i])
                #expect(abs(Double(y.value[r, i]) - expected) < 1e-5)
            }
        }
        #expect(throws: TensorError.self) {
            try Variable(constant: x).layerNormalized(weight: Variable(constant: Tensor([1, 1, 1])), bias: Variable(constant: Tensor([0, 0, 0])), epsilon: 1e-5)
        }
    }
}
