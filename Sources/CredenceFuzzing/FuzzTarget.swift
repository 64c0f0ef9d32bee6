import CredenceBench
import CredenceData
import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation

/// A reader of untrusted input and what must hold for every input it accepts: the fuzz
/// targets of `credence-fuzz` (coverage-guided by libFuzzer in `scripts/fuzz.sh`) and of the
/// mutation tests the test suite runs. A typed error is a correct answer; a crash, or an
/// accepted input that breaks a property, is a finding — reported by trapping, as libFuzzer
/// expects, with the property's name.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// `SafeTensorsFile(encoded:)`: what parses re-encodes to the same names, metadata and bits.
    case safetensors
    /// `Checkpoint.load`: a loaded checkpoint holds exactly its model's parameters.
    case checkpoint
    /// `PosteriorArchive.load` and `loadPosterior`: an archive loads as a posterior or is refused.
    case posterior
    /// `NumPy.decode`: the shape holds the elements; float32 arrays re-encode to the same bits.
    case npy
    /// `IDX.decode`: re-encodes to an equal array.
    case idx
    /// `Gzip.decompress`: what inflates deflates and inflates back to the same bytes.
    case gzip
    /// `NumericTable.parse` (CSV/TSV): rows × columns values, no more values than input bytes.
    case csv
    /// `Suite.parse` of JSON and of YAML: every expanded run has a key.
    case suiteJSON = "suite-json"
    case suiteYAML = "suite-yaml"
    /// A stored run record (`ResultStore.decoder`): decodes, re-encodes and decodes to the same JSON.
    case runRecord = "run-record"
    /// A `credence certify --out` file (`CertificationResult`): the same round trip.
    case certificate
    /// A distributed bench's message between ranks (`BenchMessage`, JSON): the same round trip.
    case benchMessage = "bench-message"
    /// A rank's attack result (`AttackJob`, safetensors): sizes agree within it, and it
    /// re-encodes to bytes that decode and re-encode to the same bytes.
    case attackResult = "attack-result"

    /// Runs the reader on `bytes`; returns whether it accepted them.
    @discardableResult
    public func run(_ bytes: [UInt8]) -> Bool {
        switch self {
        case .safetensors:
            guard let file = try? SafeTensorsFile(encoded: Data(bytes), name: "fuzz") else { return false }
            let again: SafeTensorsFile
            do { again = try SafeTensorsFile(encoded: try file.encoded(), name: "fuzz again") } catch {
                fail("a parsed safetensors file does not re-encode and parse: \(error)")
            }
            require(again.names == file.names && again.metadata == file.metadata, "re-encoding keeps names and metadata")
            for name in file.names {
                let a = file[name]!, b = again[name]!
                require(a.shape == b.shape && a.values.map(\.bitPattern) == b.values.map(\.bitPattern), "re-encoding keeps tensor \(name)")
                require(a.count <= bytes.count, "tensor \(name) holds no more values than the input has bytes")
            }
        case .checkpoint:
            guard let checkpoint = try? withTemporaryFile(bytes, { try Checkpoint.load(from: $0) }) else { return false }
            guard let model = try? checkpoint.model() else { fail("a loaded checkpoint's model cannot be built") }
            require(checkpoint.parameters.count == model.parameterCount, "a checkpoint holds its model's parameters")
            require(checkpoint.parameters.count <= bytes.count, "no more parameters than the input has bytes")
        case .posterior:
            let posterior = try? withTemporaryFile(bytes) { path in
                let archive = try PosteriorArchive.load(from: path)
                return try loadPosterior(from: archive, path: path)
            }
            return posterior != nil
        case .npy:
            guard let array = try? NumPy.decode(bytes) else { return false }
            require(array.shape.reduce(1, *) == array.count, "the shape holds the elements")
            if case let .floating(tensor) = array.elements {
                require(tensor.count == array.count, "the elements fill the shape")
                if array.elementType == .float32 {
                    guard let again = try? NumPy.decode(NumPy.encode(tensor)) else { fail("a decoded float32 array does not re-encode") }
                    require(again.tensor.values.map(\.bitPattern) == tensor.values.map(\.bitPattern), "float32 arrays re-encode to the same bits")
                }
            }
        case .idx:
            guard let array = try? IDX.decode(bytes) else { return false }
            guard let again = try? IDX.decode(IDX.encode(array)) else { fail("a decoded IDX array does not re-encode") }
            require(again.shape == array.shape && again.tensor.values.map(\.bitPattern) == array.tensor.values.map(\.bitPattern),
                    "IDX arrays re-encode to an equal array")
        case .gzip:
            guard let inflated = try? Gzip.decompress(bytes) else { return false }
            require((try? Gzip.decompress(Gzip.compress(inflated))) == inflated, "what inflates deflates and inflates back")
        case .csv:
            guard let table = try? NumericTable.parse(bytes) else { return false }
            require(table.values.count <= bytes.count, "no more values than input bytes")
            require(table.values.rank == 2 && table.values.shape[0] * table.values.shape[1] == table.values.count, "rows × columns values")
        case .suiteJSON, .suiteYAML:
            let text = String(decoding: bytes, as: UTF8.self)
            guard let suite = try? Suite.parse(text, source: "fuzz", yaml: self == .suiteYAML) else { return false }
            require(suite.configurations.allSatisfy { $0.key.count == 16 }, "every run has a key")
        case .runRecord:
            return roundTrip(RunRecord.self, bytes, decoder: ResultStore.decoder, encoder: ResultStore.encoder)
        case .certificate:
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            return roundTrip(CertificationResult.self, bytes, decoder: JSONDecoder(), encoder: encoder)
        case .benchMessage:
            return roundTrip(BenchMessage.self, bytes, decoder: ResultStore.decoder, encoder: ResultStore.encoder)
        case .attackResult:
            guard let job = try? AttackJob(encoded: Data(bytes), from: 1) else { return false }
            guard let encoded = try? job.encoded(), let again = try? AttackJob(encoded: encoded, from: 1),
                  let encodedAgain = try? again.encoded() else {
                fail("a decoded attack result does not re-encode and decode")
            }
            require(encoded == encodedAgain, "an attack result re-encodes to the same bytes")
            if case let .batch(batch) = job {
                let rows = batch.clean.exampleCount
                require(batch.budgets.allSatisfy { $0.adversarial.shape.first == rows && $0.predictive.exampleCount == rows },
                        "every budget holds the batch's examples")
                require(batch.budgets.reduce(0) { $0 + $1.adversarial.count } <= bytes.count, "no more inputs than the message has bytes")
            }
        }
        return true
    }

    private func roundTrip<T: Codable>(_ type: T.Type, _ bytes: [UInt8], decoder: JSONDecoder, encoder: JSONEncoder) -> Bool {
        guard let value = try? decoder.decode(T.self, from: Data(bytes)) else { return false }
        guard let json = try? encoder.encode(value), let again = try? decoder.decode(T.self, from: json),
              let json2 = try? encoder.encode(again) else {
            fail("a decoded \(T.self) does not re-encode and decode")
        }
        require(json == json2, "a \(T.self) re-encodes to the same JSON")
        return true
    }

    private func require(_ condition: Bool, _ property: String) {
        if !condition { fail(property) }
    }

    private func fail(_ property: String) -> Never {
        fatalError("fuzz target \(rawValue): property broken: \(property)")
    }
}

/// `body(path)` on a file holding `bytes` (one per process and thread, rewritten each time).
private func withTemporaryFile<T>(_ bytes: [UInt8], _ body: (String) throws -> T) throws -> T {
    let path = NSTemporaryDirectory() + "credence-fuzz-\(getpid())-\(pthread_self()).safetensors"
    defer { unlink(path) }
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    return try body(path)
}
