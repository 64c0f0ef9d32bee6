import CBLAS

/// Thin wrappers over CBLAS with Credence's threading policy: OpenBLAS runs on one
/// thread, and large products are split by rows across `Parallel.workerCount` threads.
public enum BLAS {
    /// Pins OpenBLAS to one thread (once per process).
    static let pinned: Void = { openblas_set_num_threads(1) }()

    /// Products with fewer multiply-adds than this run on one thread.
    public nonisolated(unsafe) static var splitThreshold = 4_000_000

    /// C[m×n] = alpha · op(A) · op(B) + beta · C, row-major. `op` transposes when asked.
    /// `lda`, `ldb`, `ldc` are the row strides of A, B, C as stored.
    public static func sgemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
                             alpha: Float, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = pinned
        if m == 0 || n == 0 { return }
        let ta = transA ? CblasTrans : CblasNoTrans
        let tb = transB ? CblasTrans : CblasNoTrans
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
            return
        }
        let work = m * n * k
        if work < splitThreshold || Parallel.isNested || Parallel.workerCount == 1 || m < 2 * 8 {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
                        b, Int32(ldb), beta, c, Int32(ldc))
            return
        }
        // Split the rows of C (and of op(A)) across worker threads.
        let parts = Parallel.ranges(m, parts: Parallel.workerCount)
        nonisolated(unsafe) let aa = a, bb = b, cc = c
        Parallel.forEach(parts.count) { p in
            let r = parts[p]
            // Row i of op(A): non-transposed → a + i*lda; transposed → column i → a + i.
            let aStart = transA ? aa + r.lowerBound : aa + r.lowerBound * lda
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(r.count), Int32(n), Int32(k), alpha, aStart, Int32(lda),
                        bb, Int32(ldb), beta, cc + r.lowerBound * ldc, Int32(ldc))
        }
    }
}

extension BLAS {
    /// B[m×n] ← alpha · B · Lᵀ, row-major, with L the n×n lower-triangular matrix at `l` (its
    /// strict upper triangle is not read): half the multiply-adds of the same product by
    /// `sgemm`. The rows of B are split across worker threads as `sgemm` splits large products.
    public static func multiplyByTransposedLowerTriangular(m: Int, n: Int, alpha: Float, l: UnsafePointer<Float>, ldl: Int,
                                                           b: UnsafeMutablePointer<Float>, ldb: Int) {
        _ = pinned
        if m == 0 || n == 0 { return }
        func trmm(_ rows: Int, _ start: UnsafeMutablePointer<Float>) {
            cblas_strmm(CblasRowMajor, CblasRight, CblasLower, CblasTrans, CblasNonUnit, Int32(rows), Int32(n), alpha,
                        l, Int32(ldl), start, Int32(ldb))
        }
        if m * n * n / 2 < splitThreshold || Parallel.isNested || Parallel.workerCount == 1 || m < 2 * 8 {
            trmm(m, b)
            return
        }
        let parts = Parallel.ranges(m, parts: Parallel.workerCount)
        nonisolated(unsafe) let bb = b
        Parallel.forEach(parts.count) { p in trmm(parts[p].count, bb + parts[p].lowerBound * ldb) }
    }
}
