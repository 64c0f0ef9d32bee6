import Testing
@testable import CredenceTensor

@Suite struct AutodiffSmokeTests {
    @Test func matmulAndBroadcastAdd() throws {
        let a = Tensor.testInput([3, 4], seed: 1), b = Tensor.testInput([4, 2], seed: 2), c = Tensor.testInput([2], seed: 3)
        try GradientCheck().check("matmul+bias", [a, b, c]) { v in try v[0].matmul(v[1]) + v[2] }
        try GradientCheck().check("matmul tA tB", [Tensor.testInput([4, 3], seed: 4), Tensor.testInput([2, 4], seed: 5)]) { v in
            try v[0].matmul(v[1], transposeLeft: true, transposeRight: true)
        }
    }
}
