import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Walks `MethodRegistry`: every method (and the ensemble combinator over the others) runs
/// on two moons through the same `MethodJob` the CLI and the benchmark use, its archive
/// round-trips, and its predictive agrees with the predictive built from its samples.
@Suite struct RegistryWalkTests {
    /// Every registered method with its `quickSettings`, then the combinations worth their own
    /// check: subnetwork Laplace, MultiSWAG, the mixture of Laplace approximations, and SGLD, APD
    /// and an ensemble of SGLD chains over the last layer. A new
    /// method joins the walk by being registered.
    static let cases: [(name: String, settings: [String: String])] =
        MethodRegistry.methods.map { ($0.name, $0.quickSettings) } + [
            ("laplace", ["subset": "subnetwork", "hessian": "full", "subnetworkSize": "40", "predictive": "monte-carlo"]),
            ("ensemble", ["members": "2", "member": "swag", "swagEpochs": "2", "rank": "4"]),
            ("ensemble", ["members": "2", "member": "laplace", "hessian": "kronecker", "link": "monte-carlo"]),
            ("sgld", SGLDMethod.quickSettings.merging(["weights": "last-layer"]) { $1 }),
            ("apd", APDMethod.quickSettings.merging(["weights": "last-layer"]) { $1 }),
            ("ensemble", ["members": "2", "member": "sgld", "weights": "last-layer", "sampleEpochs": "2", "thinning": "2"]),
        ]

    @Test func everyMethodsQuickSettingsAreItsOwnCheckedSettings() throws {
        for type in MethodRegistry.methods {
            let inputs = type.quickSettings.map { (key: $0.key, value: SettingInput(commandLine: $0.value)) }
            let method = try MethodRegistry.make(type.name, inputs: inputs)
            #expect(Swift.type(of: method).name == type.name)
        }
        #expect(Set(MethodRegistry.names).count == MethodRegistry.names.count, "names are unique")
    }

    @Test func everyOptionsDefaultIsAValidValue() {
        for type in MethodRegistry.methods {
            for option in type.options(given: [:]) {
                guard let d = option.defaultValue else { continue }
                let input = SettingInput(commandLine: d)
                guard case .success = option.canonical(input) else {
                    Issue.record("\(type.name).\(option.key)'s default \(d) is not one of its own values")
                    continue
                }
            }
        }
    }

    @Test func misspeltAndOutOfRangeSettingsAreRefusedWithTheAllowedKeys() {
        #expect(throws: MethodSettingError.unknownKey(method: "swag", key: "rnak",
                                                      allowed: SWAGMethod.options.map(\.key))) {
            try MethodRegistry.make("swag", inputs: [("rnak", .number(4, text: "4"))])
        }
        #expect(throws: MethodSettingError.invalidValue(method: "ensemble", key: "members", .range("needs members ≥ 2, got 1"))) {
            try MethodRegistry.make("ensemble", inputs: [("members", .number(1, text: "1"))])
        }
        #expect(throws: MethodSettingError.unknownMethod("lapalce", choices: MethodRegistry.names)) {
            try MethodRegistry.make("lapalce", inputs: [])
        }
        // The ensemble takes its member's settings — and only those.
        #expect(throws: (any Error).self) {
            try MethodRegistry.make("ensemble", inputs: [("member", .string("map")), ("rank", .number(4, text: "4"))])
        }
    }

    /// A method's identity (what a resumed `train --method` phase is checked against) names
    /// every setting it runs with: a default given explicitly reads as the default omitted, a
    /// combinator lists its member's settings, and any other value changes it.
    @Test func identityNamesEverySettingWithTheDefaultsFilledIn() throws {
        let defaults = try MethodRegistry.identity("swag", recorded: [:])
        let expected = ["swag"] + SWAGMethod.options.compactMap { o in o.defaultValue.map { "\(o.key)=\($0)" } }.sorted()
        #expect(defaults == expected.joined(separator: " "))
        #expect(defaults.contains("rank=20"))
        let rank20 = try MethodRegistry.canonicalValues("swag", inputs: [("rank", SettingInput(commandLine: "20"))])
        #expect(try MethodRegistry.identity("swag", recorded: rank20) == defaults)
        #expect(try MethodRegistry.identity("swag", recorded: ["rank": "4"]) == defaults.replacingOccurrences(of: "rank=20", with: "rank=4"))
        let multiSWAG = try MethodRegistry.identity("ensemble", recorded: ["member": "swag"])
        #expect(multiSWAG.hasPrefix("ensemble ") && multiSWAG.contains("member=swag") && multiSWAG.contains("rank=20"), "\(multiSWAG)")
    }

    /// Case `index`'s method and the two-moons run it is checked on.
    static func method(_ index: Int) throws -> (any RegisteredMethod, TrainingOptions) {
        let (name, settings) = cases[index]
        let method = try MethodRegistry.make(name, recorded: settings)
        var options = Self.options(.twoMoons, epochs: 8, learningRate: 0.01)
        options.holdout = 100
        method.adjust(&options)
        try method.validate(MethodContext(options: options))
        return (method, options)
    }

    /// A run of an MLP 16-16 on `dataset`, batches of 64.
    static func options(_ dataset: DatasetName, epochs: Int, learningRate: Float) -> TrainingOptions {
        var options = TrainingOptions()
        options.dataset = dataset
        options.hidden = [16, 16]
        options.epochs = epochs
        options.batchSize = 64
        options.learningRate = learningRate
        return options
    }

    /// The job the CLI would build: networks and phase states kept (and resumed) in `directory`.
    static func job(_ options: TrainingOptions, in directory: URL,
                    onProgress: @escaping (TrainingProgress) -> Void = { _ in }) -> MethodJob {
        MethodJob(options: options, samples: 16, seed: 3, network: { o in
            let path = directory.appendingPathComponent("member-\(o.ensembleMember).safetensors").path
            let run = try train(o, checkpointPath: path, resume: true, onProgress: onProgress)
            return TrainedFile(path: path, seconds: run.trainingSeconds)
        }, phaseCheckpoint: { phase, member in
            PhaseCheckpoint(path: directory.appendingPathComponent("\(phase).member-\(member).safetensors").path, resume: true)
        }, onProgress: onProgress)
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credence-registry-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// An ensemble of point members keeps them in a scratch slot file read back mapped (unlinked
    /// at once: nothing is left beside the run's files), and its posterior is the one an
    /// ensemble held in memory (no place for phase files) gives, byte for byte.
    @Test func ensembleMembersAreMappedFromAScratchFileThatLeavesNothingBehind() throws {
        var options = TrainingOptions()
        options.dataset = .twoMoons
        options.hidden = [8]
        options.epochs = 2
        let method = try MethodRegistry.make("ensemble", recorded: ["members": "3"])
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let mapped = try method.run(Self.job(options, in: directory))
        #if os(Linux)
        // The members' pages are a mapping of the unlinked scratch file.
        let maps = String(decoding: try #require(FileHandle(forReadingAtPath: "/proc/self/maps")).readDataToEndOfFile(), as: UTF8.self)
        #expect(maps.contains(directory.lastPathComponent + "/ensemble-members.member-0.safetensors (deleted)"))
        #endif
        var inMemory = Self.job(options, in: directory)
        inMemory.phaseCheckpoint = { _, _ in nil }
        let held = try method.run(inMemory)
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(!names.contains { $0.contains("ensemble-members") }, "\(names)")
        let a = directory.appendingPathComponent("mapped.safetensors").path, b = directory.appendingPathComponent("held.safetensors").path
        try mapped.posterior.archive().save(to: a)
        try held.posterior.archive().save(to: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)))
    }

    /// A kill at any moment leaves the files as they were at the last epoch end (every write
    /// is atomic), so copying the run's directory at each epoch end, before that epoch's files
    /// are written, gives what a kill during that epoch leaves. Resuming from the copy taken in
    /// the run's very last epoch (mid-way through SWAG's collection, an ensemble's last member)
    /// must give the uninterrupted run's posterior archive byte for byte.
    @Test(arguments: 0..<cases.count)
    func resumesBitForBitAfterAKill(_ index: Int) throws {
        let (method, options) = try Self.method(index)
        let directory = try Self.temporaryDirectory(), killed = try Self.temporaryDirectory()
        defer { for d in [directory, killed] { try? FileManager.default.removeItem(at: d) } }
        let full = try method.run(Self.job(options, in: directory, onProgress: { p in
            guard p.isEpochEnd else { return }
            try? FileManager.default.removeItem(at: killed)
            try? FileManager.default.copyItem(at: directory, to: killed)
        }))
        var epochsAfterKill = 0
        let resumed = try method.run(Self.job(options, in: killed, onProgress: { p in if p.isEpochEnd { epochsAfterKill += 1 } }))
        #expect(epochsAfterKill == 1, "\(Self.cases[index].name): the resumed run redoes the one unfinished epoch")
        let a = directory.appendingPathComponent("posterior.safetensors").path, b = killed.appendingPathComponent("posterior.safetensors").path
        try full.posterior.archive().save(to: a)
        try resumed.posterior.archive().save(to: b)
        #expect(try Data(contentsOf: URL(fileURLWithPath: a)) == Data(contentsOf: URL(fileURLWithPath: b)),
                "\(Self.cases[index].name) \(Self.cases[index].settings): archives differ after resuming")
    }

    @Test(arguments: 0..<cases.count)
    func runsRoundTripsAndItsSamplesAgreeWithItsPredictive(_ index: Int) throws {
        let name = Self.cases[index].name, settings = Self.cases[index].settings
        let (method, options) = try Self.method(index)
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let outcome = try method.run(Self.job(options, in: directory))
        let posterior = outcome.posterior
        #expect(posterior.method == name || (name == "temperature" && posterior.method == "map"))

        let (_, _, test) = try loadRunData(options)
        let inputs = try test.inputs.rows(0..<100)
        var a = RandomGenerator(seed: 11), b = RandomGenerator(seed: 11)
        let predictive = try posterior.predictive(inputs, samples: 2000, rng: &a)

        // The archive round-trips: the restored posterior predicts the same.
        let path = directory.appendingPathComponent("posterior.safetensors").path
        try posterior.archive().save(to: path)
        let restored = try loadPosterior(from: path)
        #expect(restored.method == posterior.method && restored.storedFloatCount == posterior.storedFloatCount)
        let again = try restored.predictive(inputs, samples: 2000, rng: &b)
        #expect(maxDifference(predictive.meanProbabilities, again.meanProbabilities) < 1e-5, "\(name): archive round trip")

        // Samples as networks: the predictive from the samples agrees with the fast path — exactly
        // for deterministic posteriors, within Monte-Carlo error for sampled ones (S = 2000 on
        // both sides; the largest of 200 differences measured 0.015–0.03).
        var c = RandomGenerator(seed: 12)
        let fromSamples = try posterior.samplePredictive(inputs, samples: 2000, rng: &c)
        #expect(fromSamples.sampleCount == posterior.sampleCount(requested: 2000))
        let deterministic = posterior.sampleCount(requested: 4) == posterior.sampleCount(requested: 8)
        let tolerance = deterministic ? 1e-5 : 0.05
        let difference = maxDifference(predictive.meanProbabilities, fromSamples.meanProbabilities)
        #expect(difference < tolerance, "\(name) \(settings): sample path differs from the predictive by \(difference)")

        // ∇ₓ flows through a sample on the tape: the tape's value is what `outputs` gives (the same
        // dropout masks on every call), and its gradient matches a central difference along a
        // random direction. A ReLU kink inside ±h bends a difference, so three step sizes are
        // tried (1e-3, 2e-4, 5e-5) and the closest must agree: a kink rarely lies within all
        // (one lay within the first two for the VI posterior's sample once its training changed).
        var d = RandomGenerator(seed: 13)
        let network = try posterior.sample(0, of: posterior.sampleCount(requested: 4), rng: &d)
        let x0 = try inputs.rows(0..<4)
        let tape = Tape()
        let x = tape.variable(x0)
        let output = try network(x)
        #expect(output.value.values == (try network.outputs(x0)).values, "\(name): the tape and `outputs` see the same network")
        let gradient = try #require(tape.gradients(of: try output.sum())[x])
        let direction = (0..<x0.count).map { _ in d.normalFloat() }
        let analytic = zip(gradient.values, direction).reduce(0.0) { $0 + Double($1.0 * $1.1) }
        let differences = try [Float(1e-3), 2e-4, 5e-5].map { h in
            let plus = Tensor(shape: x0.shape, values: zip(x0.values, direction).map { $0 + h * $1 })
            let minus = Tensor(shape: x0.shape, values: zip(x0.values, direction).map { $0 - h * $1 })
            return (try network.outputs(plus).sumOfElements - network.outputs(minus).sumOfElements) / Double(2 * h)
        }
        let closest = differences.min { abs($0 - analytic) < abs($1 - analytic) }!
        #expect(abs(closest - analytic) < 2e-2 * Swift.max(1, abs(closest)), "\(name): directional derivative \(analytic) vs \(differences)")
    }

    func maxDifference(_ a: [Double], _ b: [Double]) -> Double {
        zip(a, b).map { abs($0 - $1) }.max() ?? .infinity
    }
}
