import Foundation
import Testing
@testable import CredenceTensor

@Suite struct LAPACKTests {
    /// A = [[4, 2, 0.4], [2, 5, 1], [0.4, 1, 3]]; its Cholesky factor worked by hand.
    static let a = DenseMatrix(rows: 3, columns: 3, values: [4, 2, 0.4, 2, 5, 1, 0.4, 1, 3])

    static func close(_ x: [Double], _ y: [Double], _ tolerance: Double = 1e-12) -> Bool {
        x.count == y.count && zip(x, y).allSatisfy { abs($0 - $1) <= tolerance * max(1, abs($1)) }
    }

    @Test func choleskyByHand() throws {
        let l = try Self.a.choleskyFactor()
        // l11 = 2, l21 = 1, l31 = 0.2, l22 = √(5 − 1) = 2, l32 = (1 − 0.2)/2 = 0.4, l33 = √(3 − 0.04 − 0.16)
        let expected: [Double] = [2, 0, 0, 1, 2, 0, 0.2, 0.4, (3 - 0.04 - 0.16).squareRoot()]
        #expect(Self.close(l.values, expected), "\(l.values)")
        let product = try l.matmul(l, transposeRight: true)
        #expect(Self.close(product.values, Self.a.values))
        #expect(abs(l.choleskyLogDeterminant - log(4 * 4 * 2.8)) < 1e-12)  // det = (2·2·√2.8)²
    }

    @Test func solvesAndInverse() throws {
        let l = try Self.a.choleskyFactor()
        let b = DenseMatrix(rows: 3, columns: 2, values: [1, 0, 2, 1, -1, 3])
        let x = try l.choleskySolve(b)
        #expect(Self.close(try Self.a.matmul(x).values, b.values, 1e-12))
        let y = try l.solveLowerTriangular(b)
        #expect(Self.close(try l.matmul(y).values, b.values))
        let z = try l.solveLowerTriangular(b, transpose: true)
        #expect(Self.close(try l.matmul(z, transposeLeft: true).values, b.values))
        let inverse = try l.choleskyInverse()
        #expect(Self.close(try Self.a.matmul(inverse).values, DenseMatrix.identity(3).values, 1e-12))
    }

    @Test func notPositiveDefiniteIsTyped() {
        let m = DenseMatrix(rows: 2, columns: 2, values: [1, 2, 2, 1])  // eigenvalues 3, −1
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 2, minor: 2)) { try m.choleskyFactor() }
        #expect(throws: LinearAlgebraError.self) { try DenseMatrix(rows: 2, columns: 3).choleskyFactor() }
    }

    /// [[2, 1], [1, 2]] has eigenvalues 1 and 3 with eigenvectors (1, −1)/√2 and (1, 1)/√2.
    @Test func eigendecompositionByHand() throws {
        let m = DenseMatrix(rows: 2, columns: 2, values: [2, 1, 1, 2])
        let (values, vectors) = try m.symmetricEigendecomposition()
        #expect(Self.close(values, [1, 3]))
        let v = vectors!
        let r = 1 / 2.0.squareRoot()
        #expect(abs(abs(v[0, 1]) - r) < 1e-12 && abs(v[0, 1] - v[1, 1]) < 1e-12)  // (1, 1)/√2 up to sign
        #expect(abs(v[0, 0] + v[1, 0]) < 1e-12)
        #expect(Self.close(try m.symmetricEigendecomposition(vectors: false).values, [1, 3]))
    }

    /// A = Q diag(λ) Qᵀ rebuilt from the decomposition of a random symmetric matrix, and the
    /// top-k pairs agree with the full decomposition (descending).
    @Test func randomReconstructionAndTopK() throws {
        var rng = RandomGenerator(seed: 4)
        let n = 30
        let x = try DenseMatrix(Tensor.randomNormal(shape: [n, n], rng: &rng))
        var s = x
        for i in 0..<n { for j in 0..<n { s[i, j] = x[i, j] + x[j, i] } }
        let (values, q) = try s.symmetricEigendecomposition()
        let rebuilt = try q!.matmul(DenseMatrix(diagonal: values)).matmul(q!, transposeRight: true)
        #expect(Self.close(rebuilt.values, s.values, 1e-10))
        let (top, vectors) = try s.largestEigenpairs(4)
        #expect(Self.close(top, Array(values.suffix(4).reversed()), 1e-10))
        for j in 0..<4 {
            // Each column satisfies S v = λ v.
            let v = DenseMatrix(column: (0..<n).map { vectors[$0, j] })
            let sv = try s.matmul(v)
            #expect(Self.close(sv.values, v.values.map { $0 * top[j] }, 1e-9))
        }
        #expect(throws: LinearAlgebraError.self) { try s.largestEigenpairs(0) }
    }

    /// Large enough to take the multi-threaded path.
    @Test func threadedFactorizationMatchesProduct() throws {
        var rng = RandomGenerator(seed: 9)
        let n = 400
        let x = try DenseMatrix(Tensor.randomNormal(shape: [n + 5, n], rng: &rng))
        let a = try x.matmul(x, transposeLeft: true)
        #expect(n * n * n / 3 >= LAPACK.threadThreshold)
        let l = try a.choleskyFactor()
        let product = try l.matmul(l, transposeRight: true)
        #expect(Self.close(product.values, a.values, 1e-10))
    }
}
