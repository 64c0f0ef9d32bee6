import CredenceTensor
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A private memory mapping of `length` bytes of a file from `offset`, unmapped when the last
/// holder goes — the reader that made it, or a tensor viewing its floats. The pages are writable
/// copy-on-write: a tensor that is its storage's only user may be mutated in place, and the file
/// never is. What safetensors files of ≥ 64 MiB (`SafeTensorsFile.mappingThreshold`) and a
/// chain's spilled samples are read through.
final class PrivateFileMapping {
    let bytes: UnsafeMutableRawBufferPointer

    /// Maps the region; a failure says `failure` (what was being mapped) and errno, for `path`.
    init(descriptor: Int32, offset: Int, length: Int, path: String, failure: String) throws {
        guard let address = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE, descriptor, off_t(offset)),
              address != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw CheckpointError.cannotRead(path: path, reason: "\(failure): \(errnoDescription())")
        }
        bytes = UnsafeMutableRawBufferPointer(start: address, count: length)
    }

    deinit { munmap(bytes.baseAddress, bytes.count) }

    /// The floats at `address` (inside this mapping, Float-aligned) as a tensor of `shape` that
    /// views the pages (no copy) and keeps the mapping alive.
    func tensor(at address: UnsafeRawPointer, shape: [Int]) -> Tensor {
        let count = shape.reduce(1, *)
        precondition(address >= UnsafeRawPointer(bytes.baseAddress!) && address + count * 4 <= UnsafeRawPointer(bytes.baseAddress! + bytes.count),
                     "a tensor of \(count) floats outside the mapping")
        let floats = UnsafeMutableRawPointer(mutating: address).bindMemory(to: Float.self, capacity: count)
        return Tensor(viewing: TensorStorage(borrowing: floats, capacity: count, owner: self), shape: shape)
    }
}
