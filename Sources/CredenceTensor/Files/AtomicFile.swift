import Foundation
#if canImport(Glibc)
import Glibc
/// POSIX write(2) (the name `write` is taken by `AtomicFile.write` inside the type).
private let writeBytes = Glibc.write
#elseif canImport(Darwin)
import Darwin
private let writeBytes = Darwin.write
#endif

/// Writes a file so that readers see either the old contents or the complete new ones:
/// write a temporary file in the destination's directory (same file system, so the
/// rename is atomic), fsync it, rename it over the destination, then fsync the directory
/// so the rename itself survives a crash. On any failure the temporary file is removed
/// and the destination is untouched. A process killed mid-write cannot remove its
/// temporary file; the next successful write of the same destination removes such
/// leftovers once they are `staleAge` old (younger ones may belong to a live writer).
///
/// Every file Credence writes whole goes through here: checkpoints, posteriors (a chain's
/// checkpoints among them), the report, certificates, score records, exported data, `.npy` and
/// IDX files. (A chain's samples file grows slot by slot instead: `TensorSlotFile`.) Each caller
/// turns a failure into its own typed error with `failure(path, reason)`.
///
/// Fault injection: with `CREDENCE_WRITE_PAUSE_MIDWAY=NAME` in the environment, a write of a
/// file named NAME stops for a minute after its first bytes reach the temporary file, so a
/// test can SIGKILL the writer in the middle of the write.
package enum AtomicFile {
    /// How old a leftover temporary file of the same destination must be to be removed.
    package static let staleAge: TimeInterval = 600
    package typealias Failure = (_ path: String, _ reason: String) -> any Error

    /// Sequential writes to the temporary file.
    package struct Sink {
        fileprivate let descriptor: Int32
        fileprivate let destination: String
        fileprivate let temporary: String
        fileprivate let failure: Failure
        fileprivate let pauseMidway: PauseOnce?

        package func append(_ bytes: UnsafeRawBufferPointer) throws {
            guard var next = bytes.baseAddress else { return }
            var remaining = bytes.count
            while remaining > 0 {
                let written = writeBytes(descriptor, next, remaining)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure(destination, "writing the temporary file '\(temporary)' failed: \(errnoDescription())")
                }
                remaining -= written
                next += written
            }
            pauseMidway?.pause()
        }
    }

    /// The fault-injection pause: once per write, after the first append.
    fileprivate final class PauseOnce {
        private var done = false
        func pause() {
            guard !done else { return }
            done = true
            Thread.sleep(forTimeInterval: 60)
        }
    }

    /// Writes `data` to `path` atomically.
    package static func write(_ data: Data, to path: String, failure: @escaping Failure) throws {
        try write(to: path, failure: failure) { sink in
            try data.withUnsafeBytes { try sink.append($0) }
        }
    }

    /// Writes what `body` appends to `path` atomically. `beforeCommit` runs after the temporary
    /// file is complete and synced, just before the rename — tests use it to simulate an
    /// interruption.
    package static func write(to path: String, failure: @escaping Failure, beforeCommit: () throws -> Void = {},
                              _ body: (Sink) throws -> Void) throws {
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(String(UInt64.random(in: 0...UInt64.max), radix: 16)).tmp").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw failure(path, "cannot create a temporary file in '\(directory)': \(errnoDescription())")
        }
        var isOpen = true
        var committed = false
        defer {
            if isOpen { close(fd) }
            if !committed { unlink(temporary) }
        }
        let pause = ProcessInfo.processInfo.environment["CREDENCE_WRITE_PAUSE_MIDWAY"] == url.lastPathComponent ? PauseOnce() : nil
        try body(Sink(descriptor: fd, destination: path, temporary: temporary, failure: failure, pauseMidway: pause))
        guard fsync(fd) == 0 else {
            throw failure(path, "fsync of '\(temporary)' failed: \(errnoDescription())")
        }
        isOpen = false
        guard close(fd) == 0 else {
            throw failure(path, "closing '\(temporary)' failed: \(errnoDescription())")
        }
        try beforeCommit()
        guard rename(temporary, path) == 0 else {
            throw failure(path, "moving the temporary file into place failed: \(errnoDescription())")
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
    package static func removeStaleTemporaries(of destination: URL) {
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

/// `strerror(code)` as a Swift string.
package func errnoDescription(_ code: Int32 = errno) -> String {
    String(cString: strerror(code))
}
