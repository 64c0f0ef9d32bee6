import CCredenceSupport
import Dispatch
import Foundation

/// Credence's own two-level threading: OpenBLAS is pinned to one thread, and Credence
/// splits work (batch halves, GEMM row blocks, MC samples) across cores itself. Measured
/// here: two threads each running single-threaded GEMMs beat OpenBLAS's own threading
/// for training-sized products, and small GEMMs are ~2.5× faster single-threaded.
public enum Parallel {
    /// Number of worker threads Credence uses: the active core count, shared out among the
    /// ranks an MPI launcher started on this machine (2 ranks on 2 cores: 1 thread each);
    /// `CREDENCE_THREADS` overrides.
    nonisolated(unsafe) public static var workerCount: Int = {
        if let s = ProcessInfo.processInfo.environment["CREDENCE_THREADS"], let n = Int(s), n >= 1 { return n }
        let cores = Swift.max(1, ProcessInfo.processInfo.activeProcessorCount)
        return Swift.max(1, cores / Swift.max(1, MPIWorld.launch()?.localSize ?? 1))
    }()

    /// True inside a `forEach` worker: nested kernels then run serially.
    public static var isNested: Bool { credence_parallel_depth() > 0 }

    /// Runs `body(i)` for i in 0..<count on up to `workerCount` threads (serially when
    /// already inside a parallel region or when `count == 1`). Each worker flushes
    /// subnormals to zero.
    public static func forEach(_ count: Int, _ body: (Int) -> Void) {
        if count <= 1 || isNested || workerCount == 1 {
            for i in 0..<count { body(i) }
            return
        }
        withoutActuallyEscaping(body) { body in
            nonisolated(unsafe) let work = body
            DispatchQueue.concurrentPerform(iterations: count) { i in
                let mode = credence_enter_flush_to_zero()
                credence_parallel_enter()
                work(i)
                credence_parallel_leave()
                credence_restore_floating_point_mode(mode)
            }
        }
    }

    /// `body(i)` for i in 0..<count on the worker threads (as `forEach`), results in order;
    /// rethrows the first error by index after every worker has finished.
    public static func map<T>(_ count: Int, _ body: (Int) throws -> T) throws -> [T] {
        var results = [Result<T, Error>?](repeating: nil, count: count)
        results.withUnsafeMutableBufferPointer { slots in
            nonisolated(unsafe) let out = slots
            forEach(count) { i in out[i] = Result { try body(i) } }
        }
        return try results.map { try $0!.get() }
    }

    /// Runs `body(t, range)` on the worker threads for each of the contiguous ranges
    /// `ranges(n, parts: parts)` splits 0..<n into (fewer than `parts` when n is smaller);
    /// `t` indexes the range, for per-range results.
    public static func forEachRange(_ n: Int, parts: Int = workerCount, _ body: (_ index: Int, _ range: Range<Int>) -> Void) {
        let chunks = ranges(n, parts: parts)
        forEach(chunks.count) { t in body(t, chunks[t]) }
    }

    /// Splits 0..<n into `parts` nearly equal contiguous ranges.
    public static func ranges(_ n: Int, parts: Int) -> [Range<Int>] {
        let p = Swift.max(1, Swift.min(parts, n))
        return (0..<p).map { i in (n * i / p)..<(n * (i + 1) / p) }
    }

    /// Flush subnormals to zero on the calling thread (the main thread calls this once
    /// at start-up of training).
    public static func flushSubnormalsToZero() { credence_flush_subnormals_to_zero() }
}
