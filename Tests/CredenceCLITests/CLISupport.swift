import Foundation
import Testing

/// Runs the built `credence` executable (it sits next to the test bundle in the build
/// products directory; `swift build --build-tests` builds it).
struct CLI {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    static var binary: URL? {
        var dir = Bundle.main.bundleURL
        for _ in 0..<3 {
            let candidate = dir.appendingPathComponent("credence")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    /// Runs `credence arguments` with the test's environment plus `environment`, less the
    /// variables named in `removing`.
    static func run(_ arguments: [String], environment: [String: String] = [:], removing: [String] = []) throws -> Output {
        let binary = try #require(CLI.binary, "the credence executable is not built; run `swift build --build-tests` first")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        for name in removing { env[name] = nil }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes before waiting so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Output(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self))
    }

    /// The single JSON object a `--format json` command prints.
    static func json(_ output: Output) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(output.stdout.utf8))
        return try #require(object as? [String: Any], "stdout is not one JSON object: \(output.stdout)")
    }

    /// Runs another program to its end: its status and its stdout and stderr together.
    static func runTool(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// The one JSON object among lines of other output (mpirun's, which merges the ranks' stdout and stderr).
    static func jsonLine(_ output: String) throws -> [String: Any] {
        let line = try #require(output.split(separator: "\n").first { $0.hasPrefix("{") }, "no JSON line in \(output)")
        return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    }

    /// The keys (but `ignoring`) whose values differ between two JSON objects, each with both values.
    static func differences(_ a: [String: Any], _ b: [String: Any], ignoring: Set<String> = []) -> [String] {
        func text(_ value: Any?) -> String {
            value.flatMap { try? JSONSerialization.data(withJSONObject: [$0], options: .sortedKeys) }.map { String(decoding: $0, as: UTF8.self) } ?? "-"
        }
        return Set(a.keys).union(b.keys).subtracting(ignoring).filter { text(a[$0]) != text(b[$0]) }.sorted()
            .map { "\($0): \(text(a[$0])) vs \(text(b[$0]))" }
    }

    /// `object["metrics"]`, the metrics every command reports (`EvaluationMetrics`), and in
    /// it the classification summary.
    static func metrics(_ object: [String: Any]?) throws -> [String: Any] {
        try #require(object?["metrics"] as? [String: Any], "no metrics in \(String(describing: object))")
    }

    static func classification(_ object: [String: Any]?) throws -> [String: Any] {
        try #require(try metrics(object)["classification"] as? [String: Any])
    }

    /// Each OOD set of `metrics.ood`: its name, its examples and the AUROC by predictive entropy.
    static func oodScores(_ object: [String: Any]?) throws -> [(set: String, examples: Int, auroc: Double)] {
        let sets = try #require(try metrics(object)["ood"] as? [[String: Any]])
        return sets.map { o in
            let entropy = (o["scores"] as? [String: Any])?["entropy"] as? [String: Any]
            return (o["set"] as? String ?? "", entropy?["positiveCount"] as? Int ?? 0, entropy?["auroc"] as? Double ?? .nan)
        }
    }

    /// Runs `credence arguments` and SIGKILLs it as soon as `epochDone()` (polled every 2 ms)
    /// reports an epoch ≥ 1; returns that epoch, or nil when the run ended first (within 120 s).
    /// Every poll sees a complete file: Credence replaces its files atomically.
    static func killAfterFirstEpoch(_ arguments: [String], epochDone: () throws -> Int?) throws -> (epoch: Int?, process: Process) {
        let process = try start(arguments)
        var epochAtKill: Int?
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning, Date() < deadline {
            if let epoch = try epochDone(), epoch >= 1 {
                kill(process.processIdentifier, SIGKILL)
                epochAtKill = epoch
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        return (epochAtKill, process)
    }

    /// Starts the executable with extra `environment` without waiting, its output discarded
    /// (for tests that kill it).
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let binary = try #require(CLI.binary, "the credence executable is not built; run `swift build --build-tests` first")
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// The `credence.epoch` metadata of the checkpoint at `path`, read from the safetensors
    /// header alone; nil while there is no file.
    static func checkpointEpoch(_ path: String) throws -> Int? { try metadataInteger(path, "credence.epoch") }

    /// An integer of a safetensors file's metadata, read from its header alone (nil: no file).
    static func metadataInteger(_ path: String, _ key: String) throws -> Int? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        let lengthBytes = try #require(try handle.read(upToCount: 8))
        let length = lengthBytes.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let header = try #require(try handle.read(upToCount: length))
        let object = try #require(try JSONSerialization.jsonObject(with: header) as? [String: Any])
        let metadata = try #require(object["__metadata__"] as? [String: String])
        return metadata[key].flatMap(Int.init)
    }

    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("credence-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

let fashionMNISTAvailable = FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")
