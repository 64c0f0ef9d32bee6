import Foundation
import CCredenceSupport

/// glibc serves large blocks with mmap/munmap by default, so every activation-sized
/// tensor would cost fresh page faults (measured: a third of training time in the
/// kernel). Keeping them on the heap lets freed blocks be reused. Runs once.
let configureAllocator: Void = credence_keep_large_blocks_on_heap()

/// The heap buffer behind one or more `Tensor` values (64-byte aligned, uninitialised
/// until written). Tensors share a storage until one of them is mutated (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        _ = configureAllocator
        let bytes = Swift.max(capacity, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(capacity, 1))
    }

    deinit { UnsafeMutableRawPointer(pointer).deallocate() }
}
