import CBLAS
import CLAPACKE
import Foundation

/// Errors of the dense factorizations.
public enum LinearAlgebraError: Error, CustomStringConvertible, Equatable {
    /// Cholesky failed: the leading minor of order `minor` is not positive.
    case notPositiveDefinite(order: Int, minor: Int)
    /// An iterative LAPACK routine did not converge.
    case noConvergence(routine: String, info: Int)
    /// Shapes or arguments that do not fit.
    case invalidArgument(operation: String, message: String)

    public var description: String {
        switch self {
        case let .notPositiveDefinite(order, minor):
            return "the \(order)×\(order) matrix is not positive definite (leading minor \(minor) is not positive); "
                + "increase the prior precision or check the curvature for NaNs"
        case let .noConvergence(routine, info):
            return "\(routine) did not converge (info \(info))"
        case let .invalidArgument(operation, message):
            return "\(operation): \(message)"
        }
    }
}

/// A dense row-major matrix of `Double` — the working type of the factorizations
/// (Cholesky, symmetric eigendecomposition, triangular solves), which run in double
/// precision because log-determinants and solves of curvature matrices lose too much in
/// `Float`. Backed by OpenBLAS's LAPACK through LAPACKE.
///
/// ```swift
/// let a = DenseMatrix(rows: 2, columns: 2, values: [4, 2, 2, 3])
/// let l = try a.choleskyFactor()             // a = l·lᵀ
/// let x = try l.choleskySolve(DenseMatrix(column: [1, 1]))
/// ```
public struct DenseMatrix: Equatable, Sendable {
    public let rows: Int
    public let columns: Int
    /// Row-major elements.
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(rows >= 0 && columns >= 0 && values.count == rows * columns,
                     "DenseMatrix(\(rows)×\(columns)) needs \(rows * columns) values, got \(values.count)")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(rows: Int, columns: Int, repeating value: Double = 0) {
        self.init(rows: rows, columns: columns, values: [Double](repeating: value, count: rows * columns))
    }

    /// A single column.
    public init(column: [Double]) { self.init(rows: column.count, columns: 1, values: column) }

    /// The n×n identity.
    public static func identity(_ n: Int) -> DenseMatrix {
        var m = DenseMatrix(rows: n, columns: n)
        for i in 0..<n { m.values[i * n + i] = 1 }
        return m
    }

    /// A diagonal matrix.
    public init(diagonal: [Double]) {
        self.init(rows: diagonal.count, columns: diagonal.count)
        for (i, d) in diagonal.enumerated() { values[i * columns + i] = d }
    }

    /// A rank-2 `Float` tensor in double precision.
    public init(_ tensor: Tensor) throws {
        guard tensor.rank == 2 else {
            throw LinearAlgebraError.invalidArgument(operation: "DenseMatrix(tensor)", message: "need a rank-2 tensor, got shape \(tensor.shape)")
        }
        self.init(rows: tensor.shape[0], columns: tensor.shape[1], values: tensor.withUnsafeBufferPointer { $0.map(Double.init) })
    }

    /// The matrix rounded to a `Float` tensor.
    public var tensor: Tensor { Tensor(shape: [rows, columns], values: values.map(Float.init)) }

    public subscript(_ i: Int, _ j: Int) -> Double {
        get { values[i * columns + j] }
        set { values[i * columns + j] = newValue }
    }

    public var isSquare: Bool { rows == columns }

    public var diagonal: [Double] { (0..<Swift.min(rows, columns)).map { values[$0 * columns + $0] } }

    public func transposed() -> DenseMatrix {
        var t = DenseMatrix(rows: columns, columns: rows)
        for i in 0..<rows { for j in 0..<columns { t.values[j * rows + i] = values[i * columns + j] } }
        return t
    }

    /// `op(self) · op(other)` (cblas_dgemm).
    public func matmul(_ other: DenseMatrix, transposeLeft: Bool = false, transposeRight: Bool = false) throws -> DenseMatrix {
        let m = transposeLeft ? columns : rows, k = transposeLeft ? rows : columns
        let k2 = transposeRight ? other.columns : other.rows, n = transposeRight ? other.rows : other.columns
        guard k == k2 else {
            throw LinearAlgebraError.invalidArgument(operation: "DenseMatrix.matmul",
                                                     message: "inner dimensions \(k) and \(k2) differ")
        }
        var c = DenseMatrix(rows: m, columns: n)
        if m == 0 || n == 0 || k == 0 { return c }
        LAPACK.withThreads(for: m * n * k) {
            values.withUnsafeBufferPointer { a in
                other.values.withUnsafeBufferPointer { b in
                    c.values.withUnsafeMutableBufferPointer { cp in
                        cblas_dgemm(CblasRowMajor, transposeLeft ? CblasTrans : CblasNoTrans,
                                    transposeRight ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), 1,
                                    a.baseAddress, Int32(columns), b.baseAddress, Int32(other.columns), 0,
                                    cp.baseAddress, Int32(n))
                    }
                }
            }
        }
        return c
    }

    /// Adds `values[i]` to diagonal element i.
    public mutating func addDiagonal(_ d: [Double]) {
        precondition(isSquare && d.count == rows, "addDiagonal needs \(rows) values for a square matrix")
        for i in 0..<rows { values[i * columns + i] += d[i] }
    }

    /// (self + selfᵀ)/2, in place.
    public mutating func symmetrize() {
        precondition(isSquare)
        for i in 0..<rows {
            for j in (i + 1)..<Swift.max(columns, i + 1) {
                let v = 0.5 * (values[i * columns + j] + values[j * columns + i])
                values[i * columns + j] = v
                values[j * columns + i] = v
            }
        }
    }

    // MARK: - Cholesky

    /// The lower-triangular Cholesky factor L with self = L·Lᵀ (LAPACK dpotrf; the strict
    /// upper triangle of the result is zero). Reads only the lower triangle of `self`.
    ///
    /// - Throws: `LinearAlgebraError.notPositiveDefinite` when a pivot is not positive.
    public func choleskyFactor() throws -> DenseMatrix {
        guard isSquare else {
            throw LinearAlgebraError.invalidArgument(operation: "choleskyFactor", message: "need a square matrix, got \(rows)×\(columns)")
        }
        var l = self
        let n = rows
        if n == 0 { return l }
        let info = LAPACK.withThreads(for: n * n * n / 3) {
            l.values.withUnsafeMutableBufferPointer { LAPACKE_dpotrf(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n)) }
        }
        guard info == 0 else {
            if info > 0 { throw LinearAlgebraError.notPositiveDefinite(order: n, minor: Int(info)) }
            throw LinearAlgebraError.invalidArgument(operation: "dpotrf", message: "argument \(-info) is invalid")
        }
        for i in 0..<n { for j in (i + 1)..<n { l.values[i * n + j] = 0 } }
        return l
    }

    /// log det(L·Lᵀ) = 2 Σᵢ log Lᵢᵢ, for a Cholesky factor `self`.
    public var choleskyLogDeterminant: Double {
        var s = 0.0
        for i in 0..<rows { s += Foundation.log(values[i * columns + i]) }
        return 2 * s
    }

    /// Solves op(L)·X = B for X with `self` = L lower triangular (cblas_dtrsm);
    /// `transpose: true` solves Lᵀ·X = B.
    public func solveLowerTriangular(_ b: DenseMatrix, transpose: Bool = false) throws -> DenseMatrix {
        guard isSquare, b.rows == rows else {
            throw LinearAlgebraError.invalidArgument(operation: "solveLowerTriangular",
                                                     message: "L is \(rows)×\(columns), right-hand side has \(b.rows) rows")
        }
        var x = b
        if rows == 0 || b.columns == 0 { return x }
        LAPACK.withThreads(for: rows * rows * b.columns) {
            values.withUnsafeBufferPointer { l in
                x.values.withUnsafeMutableBufferPointer { xp in
                    cblas_dtrsm(CblasRowMajor, CblasLeft, CblasLower, transpose ? CblasTrans : CblasNoTrans, CblasNonUnit,
                                Int32(rows), Int32(b.columns), 1, l.baseAddress, Int32(rows), xp.baseAddress, Int32(b.columns))
                }
            }
        }
        return x
    }

    /// Solves (L·Lᵀ)·X = B for X, with `self` the Cholesky factor L.
    public func choleskySolve(_ b: DenseMatrix) throws -> DenseMatrix {
        try solveLowerTriangular(try solveLowerTriangular(b), transpose: true)
    }

    /// (L·Lᵀ)⁻¹ from the Cholesky factor L (dpotri), symmetric.
    public func choleskyInverse() throws -> DenseMatrix {
        var a = self
        let n = rows
        if n == 0 { return a }
        let info = LAPACK.withThreads(for: n * n * n / 3) {
            a.values.withUnsafeMutableBufferPointer { LAPACKE_dpotri(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "L")), Int32(n), $0.baseAddress, Int32(n)) }
        }
        guard info == 0 else { throw LinearAlgebraError.notPositiveDefinite(order: n, minor: Int(info)) }
        for i in 0..<n { for j in (i + 1)..<n { a.values[i * n + j] = a.values[j * n + i] } }
        return a
    }

    // MARK: - Symmetric eigendecomposition

    /// Eigenvalues (ascending) and, when `vectors` is true, orthonormal eigenvectors as the
    /// columns of a matrix, of the symmetric `self` (LAPACK dsyevd, divide and conquer;
    /// reads the lower triangle).
    public func symmetricEigendecomposition(vectors: Bool = true) throws -> (values: [Double], vectors: DenseMatrix?) {
        guard isSquare else {
            throw LinearAlgebraError.invalidArgument(operation: "symmetricEigendecomposition", message: "need a square matrix, got \(rows)×\(columns)")
        }
        let n = rows
        if n == 0 { return ([], vectors ? self : nil) }
        var a = self
        var w = [Double](repeating: 0, count: n)
        let info = LAPACK.withThreads(for: 4 * n * n * n) {
            a.values.withUnsafeMutableBufferPointer { ap in
                w.withUnsafeMutableBufferPointer { wp in
                    LAPACKE_dsyevd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: vectors ? "V" : "N")), Int8(UInt8(ascii: "L")),
                                   Int32(n), ap.baseAddress, Int32(n), wp.baseAddress)
                }
            }
        }
        guard info == 0 else { throw LinearAlgebraError.noConvergence(routine: "dsyevd", info: Int(info)) }
        return (w, vectors ? a : nil)
    }

    /// The `count` largest eigenvalues (descending) and their eigenvectors (columns) of the
    /// symmetric `self` (LAPACK dsyevr with an index range; reads the lower triangle).
    public func largestEigenpairs(_ count: Int) throws -> (values: [Double], vectors: DenseMatrix) {
        guard isSquare, count >= 1, count <= rows else {
            throw LinearAlgebraError.invalidArgument(operation: "largestEigenpairs",
                                                     message: "need 1 ≤ count (\(count)) ≤ order (\(rows)) of a square matrix")
        }
        let n = rows
        var a = self
        var found: Int32 = 0
        var w = [Double](repeating: 0, count: n)
        var z = [Double](repeating: 0, count: n * count)
        var support = [Int32](repeating: 0, count: 2 * count)
        let info = LAPACK.withThreads(for: 2 * n * n * n) {
            a.values.withUnsafeMutableBufferPointer { ap in
                w.withUnsafeMutableBufferPointer { wp in
                    z.withUnsafeMutableBufferPointer { zp in
                        support.withUnsafeMutableBufferPointer { sp in
                            LAPACKE_dsyevr(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "V")), Int8(UInt8(ascii: "I")), Int8(UInt8(ascii: "L")),
                                           Int32(n), ap.baseAddress, Int32(n), 0, 0, Int32(n - count + 1), Int32(n), 0,
                                           &found, wp.baseAddress, zp.baseAddress, Int32(count), sp.baseAddress)
                        }
                    }
                }
            }
        }
        guard info == 0, Int(found) == count else { throw LinearAlgebraError.noConvergence(routine: "dsyevr", info: Int(info)) }
        // dsyevr returns ascending order; reverse to descending.
        var vectors = DenseMatrix(rows: n, columns: count)
        for j in 0..<count {
            for i in 0..<n { vectors.values[i * count + j] = z[i * count + (count - 1 - j)] }
        }
        return (Array(w[0..<count].reversed()), vectors)
    }
}

/// Thread policy for the LAPACK calls: Credence pins OpenBLAS to one thread (see `BLAS`),
/// but a large factorization runs alone and gains from every core, so OpenBLAS gets
/// `Parallel.workerCount` threads for its duration (not inside a `Parallel.forEach` worker).
public enum LAPACK {
    /// Work (flops) above which a factorization or product uses all cores.
    public nonisolated(unsafe) static var threadThreshold = 20_000_000

    /// C ← alpha·AᵀA + beta·C on the upper triangle of the n×n row-major C (cblas_ssyrk),
    /// with A k×n row-major (row stride `lda`). The strict lower triangle of C is not touched.
    /// Single-threaded: callers spread independent updates over `Parallel.forEach`.
    public static func symmetricRankUpdate(n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
                                           beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
        _ = BLAS.pinned
        if n == 0 { return }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(k), alpha, a, Int32(lda), beta, c, Int32(ldc))
    }

    static func withThreads<R>(for work: Int, _ body: () throws -> R) rethrows -> R {
        _ = BLAS.pinned
        guard work >= threadThreshold, !Parallel.isNested, Parallel.workerCount > 1 else { return try body() }
        openblas_set_num_threads(Int32(Parallel.workerCount))
        defer { openblas_set_num_threads(1) }
        return try body()
    }
}
