import Testing
@testable import CredenceTensor

@Suite struct LinearAlgebraTests {
    @Test func handComputedProducts() throws {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        #expect(try a.matmul(a) == Tensor(shape: [2, 2], values: [7, 10, 15, 22]))
        #expect(try a.matmul(a, transposeRight: true) == Tensor(shape: [2, 2], values: [5, 11, 11, 25]))
        #expect(try a.matmul(a, transposeLeft: true) == Tensor(shape: [2, 2], values: [10, 14, 14, 20]))
        #expect(try a.matmul(a, transposeLeft: true, transposeRight: true) == Tensor(shape: [2, 2], values: [7, 15, 10, 22]))
        let row = Tensor(shape: [1, 3], values: [1, 2, 3]), column = Tensor(shape: [3, 1], values: [4, 5, 6])
        #expect(try row.matmul(column) == Tensor(shape: [1, 1], values: [32]))
        #expect(try column.matmul(row).shape == [3, 3])
    }

    @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
    func randomShapesMatchNaiveLoop(_ transposeLeft: Bool, _ transposeRight: Bool) throws {
        var rng = RandomGenerator(seed: 11)
        for trial in 0..<12 {
            let m = 1 + rng.integer(below: 9), n = 1 + rng.integer(below: 9), k = 1 + rng.integer(below: 9)
            let a = Tensor.testInput(transposeLeft ? [k, m] : [m, k], seed: UInt64(100 + trial))
            let b = Tensor.testInput(transposeRight ? [n, k] : [k, n], seed: UInt64(200 + trial))
            let c = try a.matmul(b, transposeLeft: transposeLeft, transposeRight: transposeRight)
            expectClose(c, Reference.matmul(a, b, transposeLeft: transposeLeft, transposeRight: transposeRight),
                        absolute: 1e-5, relative: 1e-5, "m \(m) n \(n) k \(k)")
        }
    }

    /// Large enough (m·n·k above `BLAS.splitThreshold`, odd m, m ≥ 16) for `BLAS.sgemm` to split
    /// the rows of C across `Parallel.workerCount` threads when more than one worker is
    /// configured (the default on a multi-core machine). Both the transposed and the plain
    /// left operand are covered, since they locate a row block differently.
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func multiThreadedSplitMatchesNaiveLoop(_ transposeLeft: Bool, _ transposeRight: Bool) throws {
        let m = 301, n = 120, k = 113
        #expect(m * n * k >= BLAS.splitThreshold, "the product must be big enough to take the split path")
        let a = Tensor.testInput(transposeLeft ? [k, m] : [m, k], seed: 300)
        let b = Tensor.testInput(transposeRight ? [n, k] : [k, n], seed: 301)
        let c = try a.matmul(b, transposeLeft: transposeLeft, transposeRight: transposeRight)
        expectClose(c, Reference.matmul(a, b, transposeLeft: transposeLeft, transposeRight: transposeRight),
                    absolute: 1e-4, relative: 1e-4, "split path tL \(transposeLeft) tR \(transposeRight)")
    }

    @Test func splitAndNestedSerialPathsAgree() throws {
        // Inside a parallel region the same product runs as one GEMM (no nested split);
        // both must give the same matrix.
        let a = Tensor.testInput([301, 113], seed: 302), b = Tensor.testInput([113, 120], seed: 303)
        let outer = try a.matmul(b)
        nonisolated(unsafe) var inner: Tensor?
        Parallel.forEach(2) { i in if i == 0 { inner = try! a.matmul(b) } }
        let serial = try #require(inner)
        expectClose(outer, serial, absolute: 1e-5, relative: 1e-5, "split vs nested-serial")
    }

    @Test func operandsThatAreViews() throws {
        let flat = Tensor((0..<20).map { Float($0) * 0.5 })
        let a = try flat.segment(offset: 3, shape: [2, 3])
        let b = try flat.segment(offset: 11, shape: [3, 2])
        expectClose(try a.matmul(b), Reference.matmul(a, b))
        expectClose(try b.matmul(a, transposeLeft: true, transposeRight: true), Reference.matmul(b, a, transposeLeft: true, transposeRight: true))
        let rows = try Tensor.testInput([6, 4], seed: 9).rows(2..<5)
        expectClose(try rows.matmul(rows, transposeRight: true), Reference.matmul(rows, rows, transposeRight: true))
    }

    @Test func emptyInnerDimensionGivesZeros() throws {
        let a = Tensor(shape: [3, 0], repeating: 0), b = Tensor(shape: [0, 2], repeating: 0)
        #expect(try a.matmul(b) == Tensor.zeros([3, 2]))
        #expect(try b.matmul(a, transposeLeft: true, transposeRight: true) == Tensor.zeros([2, 3]))
        #expect(try Tensor(shape: [0, 4], repeating: 0).matmul(Tensor.ones([4, 2])).shape == [0, 2])
    }

    @Test func sgemmHonoursBetaAndLeadingDimensions() {
        // C is the left 2×2 block of a 2×3 buffer (ldc 3), accumulated with beta = 2.
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [1, 0, 0, 1]
        var c: [Float] = [1, 1, 9, 1, 1, 9]
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 3, a: pa.baseAddress!, lda: 2,
                               b: pb.baseAddress!, ldb: 2, beta: 2, c: pc.baseAddress!, ldc: 3)
                }
            }
        }
        #expect(c == [5, 8, 9, 11, 14, 9])
        // k = 0: C ← beta·C.
        var d: [Float] = [1, 2, 3, 4]
        d.withUnsafeMutableBufferPointer { pd in
            BLAS.sgemm(transA: false, transB: false, m: 2, n: 2, k: 0, alpha: 1, a: pd.baseAddress!, lda: 1,
                       b: pd.baseAddress!, ldb: 2, beta: 0.5, c: pd.baseAddress!, ldc: 2)
        }
        #expect(d == [0.5, 1, 1.5, 2])
    }

    /// B·Lᵀ with L lower triangular (its upper triangle holding garbage that must not be read)
    /// equals the product with the triangle alone, on one thread and split across workers.
    @Test(arguments: [7, 2001]) func transposedLowerTriangularProduct(rows m: Int) throws {
        let n = 64
        let full = Tensor.testInput([n, n], seed: 310)
        var lower = full.values
        for i in 0..<n { for j in (i + 1)..<n { lower[i * n + j] = 0 } }
        let b = Tensor.testInput([m, n], seed: 311)
        let expected = Reference.matmul(b, Tensor(shape: [n, n], values: lower), transposeLeft: false, transposeRight: true) * 0.5
        #expect((m * n * n / 2 >= BLAS.splitThreshold) == (m > 1000), "the large case must take the split path")
        var out = b
        full.withUnsafeBufferPointer { l in
            out.withUnsafeMutableBufferPointer { o in
                BLAS.multiplyByTransposedLowerTriangular(m: m, n: n, alpha: 0.5, l: l.baseAddress!, ldl: n, b: o.baseAddress!, ldb: n)
            }
        }
        expectClose(out, expected, absolute: 1e-4, relative: 1e-4, "\(m) rows")
    }
}
