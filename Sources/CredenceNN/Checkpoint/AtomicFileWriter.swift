import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that readers see either the old contents or the complete new ones:
/// write a temporary file in the destination's directory (same file system, so the
/// rename is atomic), fsync it, rename it over the destination, then fsync the directory
/// so the rename itself survives a crash. On any failure the temporary file is removed
/// and the destination is untouched. A process killed mid-write cannot remove its
/// temporary file; the next successful write of the same destination removes such
/// leftovers once they are `staleAge` old (younger ones may belong to a live writer).
enum AtomicFileWriter {
    /// How old a leftover temporary file of the same destination must be to be removed.
    static let staleAge: TimeInterval = 600

    /// Sequential writes to the temporary file.
    struct Sink {
        fileprivate let descriptor: Int32
        fileprivate let destination: String
        fileprivate let temporary: String

        func append(_ bytes: UnsafeRawBufferPointer) throws {
            guard var next = bytes.baseAddress else { return }
            var remaining = bytes.count
            while remaining > 0 {
                let written = write(descriptor, next, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw CheckpointError.cannotWrite(
                        path: destination, reason: "writing the temporary file '\(temporary)' failed: \(errnoDescription())")
                }
                remaining -= written
                next += written
            }
        }
    }

    static func writeAtomically(to path: String, beforeCommit: () throws -> Void, _ body: (Sink) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw CheckpointError.cannotWrite(
                path: path, reason: "cannot create a temporary file in '\(directory)': \(errnoDescription())")
        }
        var isOpen = true
        var committed = false
        defer {
            if isOpen { close(fd) }
            if !committed { unlink(temporary) }
        }
        try body(Sink(descriptor: fd, destination: path, temporary: temporary))
        guard fsync(fd) == 0 else {
            throw CheckpointError.cannotWrite(path: path, reason: "fsync of '\(temporary)' failed: \(errnoDescription())")
        }
        isOpen = false
        guard close(fd) == 0 else {
            throw CheckpointError.cannotWrite(path: path, reason: "closing '\(temporary)' failed: \(errnoDescription())")
        }
        try beforeCommit()
        guard rename(temporary, path) == 0 else {
            throw CheckpointError.cannotWrite(
                path: path, reason: "moving the temporary file into place failed: \(errnoDescription())")
        }
        committed = true
        // Best effort: make the rename durable. Failure here cannot un-write the file.
        let directoryDescriptor = open(directory, O_RDONLY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        removeStaleTemporaries(of: url)
    }

    /// Deletes `.NAME.<hex>.tmp` files next to `destination` last modified over `staleAge` ago.
    static func removeStaleTemporaries(of destination: URL) {
        let directory = destination.deletingLastPathComponent()
        let prefix = ".\(destination.lastPathComponent).", suffix = ".tmp"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(suffix) && name.count > prefix.count + suffix.count {
            let middle = name.dropFirst(prefix.count).dropLast(suffix.count)
            guard middle.allSatisfy(\.isHexDigit) else { continue }
            let path = directory.appendingPathComponent(name).path
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  Date().timeIntervalSince(modified) > staleAge else { continue }
            unlink(path)
        }
    }
}
