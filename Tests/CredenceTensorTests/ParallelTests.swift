import Foundation
import Testing
@testable import CredenceTensor

@Suite struct ParallelTests {
    @Test func rangesPartitionExactly() {
        for (n, parts) in [(10, 3), (7, 7), (3, 8), (0, 4), (301, 2), (1, 1)] {
            let r = Parallel.ranges(n, parts: parts)
            #expect(r.count == Swift.max(1, Swift.min(parts, n)))
            #expect(r.first?.lowerBound == 0 && r.last?.upperBound == n)
            #expect(zip(r, r.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
            #expect(r.allSatisfy { $0.count >= n / Swift.max(parts, 1) && $0.count <= n / Swift.max(parts, 1) + 1 } || n < parts)
        }
    }

    @Test func forEachVisitsEveryIndexOnceAndMarksNesting() {
        let count = 37
        let hits = UnsafeMutableBufferPointer<Int>.allocate(capacity: count)
        hits.initialize(repeating: 0)
        defer { hits.deallocate() }
        nonisolated(unsafe) let h = hits
        let nestedFlags = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        nestedFlags.initialize(repeating: false)
        defer { nestedFlags.deallocate() }
        nonisolated(unsafe) let nf = nestedFlags
        #expect(!Parallel.isNested)
        Parallel.forEach(count) { i in
            h[i] += 1
            nf[i] = Parallel.isNested || Parallel.workerCount == 1
        }
        #expect(Array(hits) == [Int](repeating: 1, count: count))
        #expect(nestedFlags.allSatisfy { $0 }, "workers run with isNested set so kernels do not split again")
        #expect(!Parallel.isNested, "the nesting depth is restored on the calling thread")
    }

    /// A value computed at run time (the optimiser cannot fold it).
    @inline(never) static func halfOfSmallestNormal() -> Float {
        Float.leastNormalMagnitude * Float(Tensor([0.5]).values[0])
    }

    /// Restores the default SSE mode (no FTZ, no DAZ) on the calling thread.
    static func resetFloatingPointMode() {
        #if arch(x86_64) && canImport(Glibc)
        var env = fenv_t()
        fegetenv(&env)
        env.__mxcsr = 0x1F80
        fesetenv(&env)
        #endif
    }

    @Test(.enabled(if: Parallel.workerCount > 1, "needs more than one worker to take the parallel path"))
    func workerFlushToZeroDoesNotLeakIntoTheCallingThread() throws {
        // Workers flush subnormals to zero (design choice for speed), but the caller's
        // floating-point mode is its own: `Parallel.flushSubnormalsToZero()` is the opt-in.
        // `DispatchQueue.concurrentPerform` runs iterations on the calling thread too, so the
        // worker's FTZ/DAZ setting must be undone when the iteration ends — otherwise the
        // thread (and every later task the pool schedules on it) silently changes its arithmetic.
        nonisolated(unsafe) var before: Float = -1, after: Float = -1
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            // A new thread inherits its creator's MXCSR, and the creator may be a pool thread
            // that earlier parallel work already left flushed; start from the default mode.
            ParallelTests.resetFloatingPointMode()
            before = ParallelTests.halfOfSmallestNormal()
            // Enough work per iteration that the calling thread takes some of them.
            Parallel.forEach(64) { _ in _ = Tensor.ones([2000]).sumOfElements }
            after = ParallelTests.halfOfSmallestNormal()
            done.signal()
        }
        thread.start()
        done.wait()
        // Compare bit patterns: under DAZ (possibly set on this test thread) a subnormal
        // compares equal to zero.
        #expect(before.bitPattern != 0, "a thread in the default mode keeps subnormals")
        #expect(after.bitPattern == before.bitPattern, "the calling thread still keeps subnormals after Parallel.forEach")
    }

    /// forEachRange covers 0..<n exactly once, also with fewer elements than parts (one range each).
    @Test(arguments: [0, 1, 3, 1000])
    func forEachRangeCoversEveryIndexOnce(_ n: Int) {
        var seen = [Int](repeating: 0, count: n)
        var indices = [Int](repeating: -1, count: 8)
        seen.withUnsafeMutableBufferPointer { hits in
            indices.withUnsafeMutableBufferPointer { slots in
                nonisolated(unsafe) let (h, i) = (hits, slots)
                Parallel.forEachRange(n, parts: 8) { t, range in
                    i[t] = t
                    for k in range { h[k] += 1 }
                }
            }
        }
        #expect(seen.allSatisfy { $0 == 1 })
        #expect(indices.filter { $0 >= 0 }.count == Parallel.ranges(n, parts: 8).count)
    }
}
