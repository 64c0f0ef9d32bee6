import Foundation
import CCredenceSupport

/// glibc serves large blocks with mmap/munmap by default, so every activation-sized
/// tensor would cost fresh page faults (measured: a third of training time in the
/// kernel). Keeping them on the heap lets freed blocks be reused. Runs once.
let configureAllocator: Void = credence_keep_large_blocks_on_heap()

/// The buffer behind one or more `Tensor` values: a heap block (64-byte aligned, uninitialised
/// until written), or memory someone else owns — a private mapping of a file, so a posterior of
/// hundreds of networks is paged in from disk as it is read instead of held in memory. Tensors
/// share a storage until one of them is mutated (copy-on-write).
public final class TensorStorage: @unchecked Sendable {
    public let pointer: UnsafeMutablePointer<Float>
    public let capacity: Int
    /// Keeps borrowed memory alive (nil: the storage allocated `pointer` and frees it).
    private let owner: AnyObject?

    public init(capacity: Int) {
        self.capacity = capacity
        _ = configureAllocator
        let bytes = Swift.max(capacity, 1) * MemoryLayout<Float>.stride
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: Swift.max(capacity, 1))
        owner = nil
    }

    /// `capacity` floats at `pointer` that `owner` keeps valid (and releases when the last
    /// storage borrowing them goes). They must be writable: a tensor that is the storage's only
    /// user mutates it in place (map files privately, so writes never reach the file).
    public init(borrowing pointer: UnsafeMutablePointer<Float>, capacity: Int, owner: AnyObject) {
        self.pointer = pointer
        self.capacity = capacity
        self.owner = owner
    }

    deinit { if owner == nil { UnsafeMutableRawPointer(pointer).deallocate() } }
}
