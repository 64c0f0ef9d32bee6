import CCredenceSupport
import CredenceData
import CredenceTensor
import Foundation

/// Peak resident memory of this process, per run.
///
/// On Linux, writing "5" to `/proc/self/clear_refs` resets the high-water mark `VmHWM`
/// of `/proc/self/status`, so a run's peak is read after it without the earlier runs'
/// peaks. The allocator first returns its free memory to the system (it keeps large
/// freed blocks for reuse), or a small run after a large one would report the large
/// one's leftover heap. Where that is not possible (other systems, a locked-down /proc) the figure
/// falls back to the process-lifetime peak (`getrusage`), an upper bound.
enum PeakMemory {
    /// Starts a new measurement; false when the high-water mark could not be reset.
    @discardableResult
    static func reset() -> Bool {
        #if os(Linux)
        credence_return_free_memory()
        guard let handle = FileHandle(forWritingAtPath: "/proc/self/clear_refs") else { return false }
        defer { try? handle.close() }
        do { try handle.write(contentsOf: Data("5".utf8)) } catch { return false }
        return true
        #else
        return false
        #endif
    }

    /// The peak resident set size in bytes since the last `reset()` (or since the process started).
    static func bytes() -> Int {
        #if os(Linux)
        if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
           let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kilobytes = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) {
            return kilobytes * 1024
        }
        #endif
        var usage = rusage()
        #if os(Linux)
        guard getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss) * 1024  // kilobytes on Linux
        #else
        guard getrusage(RUSAGE_SELF, &usage) == 0 else { return 0 }
        return Int(usage.ru_maxrss)  // bytes on macOS
        #endif
    }
}

/// Seconds of fitting a directory's networks took over every attempt, kept in
/// `fit-seconds.json` next to the checkpoints and updated at each epoch end, so a run
/// killed and resumed reports the time its finished epochs took, not just the last
/// attempt's (the unfinished epoch of a killed attempt is redone and counted once).
struct FitClock {
    let file: URL
    /// Seconds recorded by earlier attempts.
    let previous: Double
    let start = Date()
    private(set) var recorded: Double

    init(directory: URL) {
        file = directory.appendingPathComponent("fit-seconds.json")
        let stored = (try? Data(contentsOf: file)).flatMap { try? JSONDecoder().decode([String: Double].self, from: $0) }
        previous = stored?["seconds"] ?? 0
        recorded = previous
    }

    /// Records the time up to now (an epoch just ended and its checkpoint is on disk).
    mutating func checkpointed() {
        recorded = previous + Date().timeIntervalSince(start)
        if let data = try? JSONEncoder().encode(["seconds": recorded]) {
            try? AtomicFile.write(data, to: file.path, failure: DataError.unwritableFile)
        }
    }
}
