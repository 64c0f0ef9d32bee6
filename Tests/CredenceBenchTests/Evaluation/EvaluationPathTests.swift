@testable import CredenceBench
import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The one evaluation path gives the figures the separate paths gave before it (fixtures
/// written by the code of commit 3946a3c: `Fixtures/*-v1.json`), and results databases of
/// schema version 1 still open. The regression run's nine figures that training's rounding
/// moves were renewed when the Gaussian NLL became one primitive (relative changes ≤ 2e-8) and
/// when the softplus kernel became a series (≤ 2.1e-8).
@Suite struct EvaluationPathTests {
    static func fixture(_ name: String) throws -> Data {
        let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures").appendingPathComponent(name)
        return try Data(contentsOf: url)
    }

    /// `metrics` as canonical JSON without what differs between executions (times, memory)
    /// and without what the old fixtures do not hold (ROC points, the risk–coverage curve, the
    /// OOD AUROC by expected entropy added with distillation, the test probabilities and
    /// quantile-cell means kept for the agreement table).
    static func comparable(_ metrics: EvaluationMetrics) throws -> String {
        var m = metrics
        m.scalability?.fitSeconds = 0
        m.scalability?.predictionSecondsPer1000 = 0
        m.scalability?.peakResidentBytes = 0
        m.riskCoverage = nil
        m.testProbabilities = nil
        m.testQuantileCellMeans = nil
        for i in m.ood.indices {
            m.ood[i].scores["expectedEntropy"] = nil
            for k in m.ood[i].scores.keys { m.ood[i].scores[k]!.rocCurve = [] }
        }
        for k in m.misclassification.keys { m.misclassification[k]!.rocCurve = [] }
        return String(decoding: try ResultStore.encoder.encode(m), as: UTF8.self)
    }

    @Test func benchRunsGiveTheFiguresTheyGaveBefore() throws {
        let before = try ResultStore.decoder.decode([RunRecord].self, from: try Self.fixture("bench-figures-v1.json"))
        #expect(before.count == 2)
        let cache = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: cache) }
        for old in before {
            let now = try runBenchmark(old.configuration, environment: RunEnvironment(cacheDirectory: cache.path))
            #expect(now.key == old.key)
            #expect(try Self.comparable(now.metrics) == Self.comparable(old.metrics), "\(old.configuration.label) on \(old.configuration.dataset)")
        }
    }

    /// The `PosteriorEvaluation` of `credence evaluate` before the one schema.
    struct OldEvaluation: Decodable {
        struct OOD: Decodable {
            var set: String, examples: Int, aurocEntropy: Double, auprEntropy: Double, fpr95Entropy: Double
            var aurocMaxProbability: Double, aurocMutualInformation: Double?
        }
        var method: String, dataset: String, examples: Int, samples: Int
        var accuracy: Double?, negativeLogLikelihood: Double, brierScore: Double?
        var expectedCalibrationError: Double?, maximumCalibrationError: Double?, rootMeanSquaredError: Double?
        var ood: [OOD]
        var storedFloats: Int
    }

    @Test func evaluateGivesTheFiguresItGaveBefore() throws {
        let before = try JSONDecoder().decode([OldEvaluation].self, from: try Self.fixture("posterior-evaluation-v1.json"))
        // An untrained MC-dropout network on two moons against two OOD sets (seed 7, S = 4).
        let (_, moons) = try loadDataset(.twoMoons, options: DataOptions())
        var rng = RandomGenerator(seed: 5)
        let model = try Sequential(.mlp(inputShape: [2], hidden: [8], outputs: 2, dropout: 0.3))
        let posterior = try MCDropoutPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        var options = TrainingOptions()
        options.dataset = .twoMoons
        let m = try evaluatePosterior(posterior, on: moons, ood: lazyOODInputs([.builtIn(.far), .builtIn(.uniformNoise)], options: options, test: moons),
                                      samples: 4, seeding: .sequential(7))
        let old = before[0], s = try #require(m.classification)
        #expect(s.examples == old.examples && s.samples == old.samples && m.scalability?.storedFloats == old.storedFloats)
        #expect(s.accuracy == old.accuracy && s.negativeLogLikelihood == old.negativeLogLikelihood && s.brierScore == old.brierScore)
        #expect(s.expectedCalibrationError == old.expectedCalibrationError && s.maximumCalibrationError == old.maximumCalibrationError)
        #expect(m.ood.map(\.set) == old.ood.map(\.set))
        for (new, old) in zip(m.ood, old.ood) {
            let entropy = try #require(new.scores["entropy"])
            #expect(entropy.positiveCount == old.examples && entropy.auroc == old.aurocEntropy)
            #expect(entropy.averagePrecision == old.auprEntropy && entropy.falsePositiveRateAt95 == old.fpr95Entropy)
            #expect(new.scores["maxProbability"]?.auroc == old.aurocMaxProbability)
            #expect(new.scores["mutualInformation"]?.auroc == old.aurocMutualInformation)
        }
        // MC dropout on a regression set with standardised targets (seed 2, S = 3): original units.
        let (data, _, parameters) = try RegressionUnitsTests.fixture()
        let regressionModel = try Sequential(.mlp(inputShape: [3], hidden: [8], outputs: 2, dropout: 0.3))
        let r = try evaluatePosterior(try MCDropoutPosterior(model: regressionModel, parameters: parameters, task: .regression),
                                      on: data, samples: 3, seeding: .sequential(2))
        let oldRegression = before[1], summary = try #require(r.regression)
        #expect(summary.examples == oldRegression.examples && summary.samples == oldRegression.samples)
        #expect(summary.rootMeanSquaredError == oldRegression.rootMeanSquaredError)
        #expect(summary.mixtureNegativeLogLikelihood == oldRegression.negativeLogLikelihood, "evaluate's NLL was the sample mixture's")
    }

    @Test func shiftPointsAreTheOnesOfBefore() throws {
        let before = try ResultStore.decoder.decode([ShiftPoint].self, from: try Self.fixture("shift-points-v1.json"))
        var rng = RandomGenerator(seed: 3)
        let images = Tensor.randomUniform(shape: [12, 1, 28, 28], lower: 0, upper: 1, rng: &rng)
        let test = try InMemoryDataset(name: "tiny", inputs: images, labels: (0..<12).map { Int32($0 % 10) }, classCount: 10)
        let model = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [8], outputs: 10, dropout: 0.2))
        let posterior = try MCDropoutPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        let m = try evaluatePosterior(posterior, on: test, shifts: Shift.ovadiaProtocol, samples: 4, seeding: .perPart(5))
        // The fixture was written on another CPU; OpenBLAS's kernels for this one (e.g.
        // Cooperlake's against Zen's) round the GEMMs differently, at ~1e-8.
        #expect(m.shift.count == before.count)
        for (new, old) in zip(m.shift, before) {
            func close(_ a: Double, _ b: Double) -> Bool { abs(a - b) <= 1e-6 * max(1, abs(b)) }
            #expect(new.shift == old.shift && new.severity == old.severity && new.accuracy == old.accuracy
                    && close(new.negativeLogLikelihood, old.negativeLogLikelihood) && close(new.expectedCalibrationError, old.expectedCalibrationError)
                    && close(new.brierScore, old.brierScore) && close(new.meanEntropy, old.meanEntropy), "\(new) vs \(old)")
        }
    }

    @Test func scoreAndTheRunnerScoreAPredictiveAlike() throws {
        // `score` reads predictives from files; the runner makes them: the same function scores both.
        var rng = RandomGenerator(seed: 9)
        let p = try Predictive(logits: Tensor.randomNormal(shape: [3, 60, 4], rng: &rng))
        let q = try Predictive(logits: Tensor.randomNormal(shape: [3, 30, 4], rng: &rng) * 0.3)
        let labels = (0..<60).map { Int32($0 % 4) }
        let m = try evaluationMetrics(p, truth: .labels(labels), ood: [("noise", { q })])
        #expect(m.classification == (try metricsSummary(p, labels: labels)))
        #expect(m.reliability == (try reliabilityDiagram(p, labels: labels)))
        #expect(m.riskCoverage == (try riskCoverage(p, labels: labels)))
        #expect(Set(m.misclassification.keys) == ["maxProbability", "entropy", "mutualInformation"])
        #expect(m.ood.first?.scores["mutualInformation"] == (try oodDetection(inDistribution: p, outOfDistribution: q, score: .mutualInformation)))
        #expect(m.scalability == nil && m.shift.isEmpty && m.regression == nil)
    }

    // MARK: databases written before the one schema

    /// A results database as Credence wrote it at schema version 1, holding `records` (JSON).
    static func versionOneDatabase(at path: String, records: [(key: String, json: String)]) throws {
        let connection = try SQLiteConnection(path: path, readOnly: false, create: true)
        try connection.execute("""
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            CREATE TABLE runs (key TEXT PRIMARY KEY NOT NULL, dataset TEXT NOT NULL, method TEXT NOT NULL, seed INTEGER NOT NULL,
                               label TEXT NOT NULL, finished_at TEXT NOT NULL, configuration TEXT NOT NULL, record TEXT NOT NULL);
            CREATE INDEX runs_dataset ON runs (dataset);
            CREATE INDEX runs_method ON runs (method);
            CREATE INDEX runs_seed ON runs (seed);
            CREATE INDEX runs_finished_at ON runs (finished_at);
            INSERT INTO schema_version (version) VALUES (1);
            """)
        for (i, r) in records.enumerated() {
            try connection.query("INSERT INTO runs VALUES (?, 'two-moons', 'ensemble', 1, 'ensemble (members 3)', ?, '{}', ?)",
                                 [.text(r.key), .text("2024-01-0\(i + 1)T00:00:00.000Z"), .text(r.json)])
        }
    }

    static func object(_ json: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    }

    @Test func aVersionOneDatabaseIsReadAsItIsAndMigratedWhenOpenedForWriting() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        let v1 = String(decoding: try Self.fixture("run-record-v1.json"), as: UTF8.self)
        let old = try Self.object(v1)
        let key = try #require(old["key"] as? String)
        try Self.versionOneDatabase(at: path, records: [(key, v1)])

        // Read-only (`credence report`): nothing is written, the record reads in the new shape.
        let reader = try ResultStore(path: path, readOnly: true)
        let read = try #require(try reader.record(forKey: key))
        #expect(try reader.connection.strings("SELECT version FROM schema_version") == ["1"])
        #expect(read.key == key && read.configuration.key == key, "run keys are unchanged")
        #expect(read.metrics.classification?.accuracy == (old["classification"] as? [String: Any])?["accuracy"] as? Double)
        #expect(read.metrics.shift.first?.negativeLogLikelihood == .infinity)
        #expect(read.metrics.ood.first?.scores["entropy"]?.rocCurve.first?.threshold == .infinity)
        #expect(read.metrics.scalability?.fitSeconds == 1.5 && read.metrics.riskCoverage == nil)

        // Read-write (`credence bench`): migrated in place, every figure kept.
        let writer = try ResultStore(path: path)
        #expect(try writer.connection.strings("SELECT version FROM schema_version") == ["2"])
        #expect(try writer.keys() == [key])
        let stored = try Self.object(try #require(try writer.connection.strings("SELECT record FROM runs").first))
        #expect(stored["classification"] == nil && stored["key"] as? String == key)
        var oldMetrics = old
        for field in ["key", "configuration", "finishedAt"] { oldMetrics[field] = nil }
        let newMetrics = try #require(stored["metrics"] as? [String: Any])
        #expect(NSDictionary(dictionary: newMetrics).isEqual(to: oldMetrics), "the same fields and numbers, under metrics")
        #expect(try StoreFixtures.json(#require(try writer.record(forKey: key))) == StoreFixtures.json(read))
        // New runs go in next to it; opening again migrates nothing.
        #expect(try writer.insert(try StoreFixtures.record(method: "map", seed: 4)))
        #expect(try ResultStore(path: path).count() == 2)
    }

    @Test func aVersionOneRecordThatDoesNotDecodeStopsTheMigrationAndLeavesTheFileAsItWas() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("old.sqlite").path
        let v1 = String(decoding: try Self.fixture("run-record-v1.json"), as: UTF8.self)
        try Self.versionOneDatabase(at: path, records: [("aaaa", v1), ("bbbb", #"{"key": "bbbb", "hand": "edited"}"#)])
        do {
            _ = try ResultStore(path: path)
            Issue.record("migrated a database with an unreadable row")
        } catch let error as ResultStoreError {
            guard case let .migrationFailed(p, from, to, message) = error else { Issue.record("\(error)"); return }
            #expect(p == path && from == 1 && to == 2 && message.contains("bbbb"))
            #expect(error.description.contains("move it away"))
        }
        let unchanged = try ResultStore(path: path, readOnly: true)
        #expect(try unchanged.connection.strings("SELECT version FROM schema_version") == ["1"])
        #expect(try unchanged.connection.strings("SELECT record FROM runs WHERE key = 'aaaa'") == [v1])
    }
}
