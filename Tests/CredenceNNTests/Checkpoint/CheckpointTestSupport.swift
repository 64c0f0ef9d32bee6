@testable import CredenceNN
import CredenceTensor
import Foundation

/// A fresh temporary directory for one checkpoint test, removed by `cleanup()`.
struct CheckpointScratchDirectory {
    let path: String

    init() throws {
        path = NSTemporaryDirectory() + "credence-checkpoint-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    /// Names of everything in the directory, hidden files included.
    func listing() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

enum CheckpointFixtures {
    /// Path of a file in Tests/CredenceNNTests/Fixtures (copied into the test bundle).
    static func path(_ name: String) -> String {
        Bundle.module.resourceURL!.appendingPathComponent("Fixtures").appendingPathComponent(name).path
    }

    /// The MLP of scripts/make_pytorch_fixture.py:
    /// nn.Sequential(nn.Flatten(), nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 3)) on [N, 1, 3, 4].
    static let mlpSpec = ModelSpec.mlp(inputShape: [1, 3, 4], hidden: [16], outputs: 3)

    /// The CNN of scripts/make_pytorch_fixture.py on [N, 1, 8, 8].
    static let cnnSpec = ModelSpec(inputShape: [1, 8, 8], layers: [
        .conv2d(inChannels: 1, outChannels: 4, kernel: 3, stride: 1, padding: 1, bias: true), .activation(.relu),
        .maxPool2d(kernel: 2, stride: 2),
        .conv2d(inChannels: 4, outChannels: 8, kernel: 3, stride: 1, padding: 1, bias: true), .activation(.relu),
        .maxPool2d(kernel: 2, stride: 2),
        .flatten,
        .dense(inputs: 8 * 2 * 2, outputs: 5, bias: true),
    ])
}

/// A safetensors image built byte by byte, for corrupt-file tests: an 8-byte
/// little-endian length (`headerLength`, default the header's size), the header, the data.
func rawSafeTensors(header: String, data: [UInt8] = [], headerLength: UInt64? = nil) -> [UInt8] {
    let headerBytes = Array(header.utf8)
    var length = (headerLength ?? UInt64(headerBytes.count)).littleEndian
    return withUnsafeBytes(of: &length) { Array($0) } + headerBytes + data
}

func writeBytes(_ bytes: [UInt8], to path: String) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path))
}

/// Little-endian bytes of Float32 values.
func float32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in
        let bits = v.bitPattern.littleEndian
        return [UInt8(bits & 0xff), UInt8(bits >> 8 & 0xff), UInt8(bits >> 16 & 0xff), UInt8(bits >> 24)]
    }
}

/// Largest absolute elementwise difference.
func maxAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Float {
    zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
}
