import CredenceTensor
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Float32 vectors of one length in fixed slots of a file, written in place as they come and
/// read back memory-mapped: a chain's kept samples beyond its memory budget. A tensor read from
/// a slot costs no heap memory — the kernel pages it in when it is used and may drop it again
/// (the pages are clean) — so hundreds of networks need neither the memory nor the time to
/// load them. Slots are page-aligned so each maps on its own; the mapping is private, so a
/// tensor mutated in place never changes the file. `synchronize` makes the slots written so far
/// durable (before a checkpoint records how many there are).
public final class TensorSlotFile {
    public let path: String
    /// Floats per slot.
    public let elementCount: Int
    /// Bytes from one slot to the next (the vector's size rounded up to whole pages).
    let stride: Int
    private let descriptor: Int32

    /// Opens (or creates) the file at `path` with the first `slots` slots kept as they are and
    /// anything after them dropped — a resumed chain continues writing where its checkpoint
    /// stopped. Throws when the file holds fewer than `slots` slots.
    public init(path: String, elementCount: Int, keeping slots: Int) throws {
        precondition(elementCount > 0 && slots >= 0)
        self.path = path
        self.elementCount = elementCount
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        stride = (elementCount * MemoryLayout<Float>.size + page - 1) / page * page
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw CheckpointError.cannotWrite(path: path, reason: errnoDescription()) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else {
            close(descriptor)
            throw CheckpointError.cannotRead(path: path, reason: errnoDescription())
        }
        // The last slot written ends with its vector, not at the slot's end.
        let held = Int(status.st_size) < elementCount * 4 ? 0 : (Int(status.st_size) - elementCount * 4) / stride + 1
        guard held >= slots else {
            close(descriptor)
            throw CheckpointError.cannotRead(path: path, reason: "it holds \(held) samples of \(elementCount) floats, but its checkpoint counts \(slots); it was changed or truncated — delete it and the checkpoint to start the chain over")
        }
        guard ftruncate(descriptor, off_t(slots * stride)) == 0 else {
            close(descriptor)
            throw CheckpointError.cannotWrite(path: path, reason: errnoDescription())
        }
    }

    deinit { close(descriptor) }

    /// Writes `tensor` (of `elementCount` floats) into slot `slot`.
    public func write(_ tensor: Tensor, slot: Int) throws {
        precondition(tensor.count == elementCount, "a slot holds \(elementCount) floats, not \(tensor.count)")
        try tensor.withUnsafeBufferPointer { values in
            var next = UnsafeRawPointer(values.baseAddress!)
            var remaining = elementCount * MemoryLayout<Float>.size
            var offset = off_t(slot * stride)
            while remaining > 0 {
                let written = pwrite(descriptor, next, remaining, offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError.cannotWrite(path: path, reason: errnoDescription())
                }
                remaining -= written
                next += written
                offset += off_t(written)
            }
        }
    }

    /// Slot `slot` as a tensor of shape [`elementCount`], memory-mapped (no copy).
    public func tensor(slot: Int) throws -> Tensor {
        let mapping = try PrivateFileMapping(descriptor: descriptor, offset: slot * stride, length: stride, path: path,
                                             failure: "mmap of sample \(slot) failed")
        return mapping.tensor(at: mapping.bytes.baseAddress!, shape: [elementCount])
    }

    /// Makes every slot written so far durable.
    public func synchronize() throws {
        guard fsync(descriptor) == 0 else { throw CheckpointError.cannotWrite(path: path, reason: "fsync failed: \(errnoDescription())") }
    }
}
