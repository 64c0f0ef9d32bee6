extension Tensor {
    /// Matrix product of rank-2 tensors, `op(self) · op(other)` where `op` optionally
    /// transposes. Runs on OpenBLAS (rows split across threads for large products).
    public func matmul(_ other: Tensor, transposeLeft: Bool = false, transposeRight: Bool = false) throws -> Tensor {
        guard rank == 2, other.rank == 2 else {
            throw TensorError.shapeMismatch(operation: "matmul", shapes: [shape, other.shape],
                                            expected: "both operands must be rank 2")
        }
        let m = transposeLeft ? shape[1] : shape[0], k = transposeLeft ? shape[0] : shape[1]
        let k2 = transposeRight ? other.shape[1] : other.shape[0], n = transposeRight ? other.shape[0] : other.shape[1]
        guard k == k2 else {
            throw TensorError.shapeMismatch(
                operation: "matmul", shapes: [shape, other.shape],
                expected: "inner dimensions must agree (\(k) vs \(k2)) after transposes (left: \(transposeLeft), right: \(transposeRight))")
        }
        let out = Tensor(uninitializedShape: [m, n])
        matmulUnchecked(other, transposeLeft: transposeLeft, transposeRight: transposeRight, into: out)
        return out
    }

    /// `op(self) · op(other)` written into `destination`'s elements in place (raw: no
    /// copy-on-write), for pullbacks filling a buffer the tape owns — or added to it
    /// (`accumulating`: β = 1, for a destination known to hold zeros, which spares OpenBLAS its
    /// pass clearing it). Shapes must already agree.
    func matmulUnchecked(_ other: Tensor, transposeLeft: Bool, transposeRight: Bool, into destination: Tensor,
                         accumulating: Bool = false) {
        let m = transposeLeft ? shape[1] : shape[0], k = transposeLeft ? shape[0] : shape[1]
        let n = transposeRight ? other.shape[0] : other.shape[1]
        precondition(destination.count == m * n, "matmul destination holds \(destination.count), needs \(m * n)")
        BLAS.sgemm(transA: transposeLeft, transB: transposeRight, m: m, n: n, k: k, alpha: 1,
                   a: storage.pointer + offset, lda: shape[1], b: other.storage.pointer + other.offset,
                   ldb: other.shape[1], beta: accumulating ? 1 : 0, c: destination.storage.pointer + destination.offset, ldc: n)
    }
}
