@testable import CredenceBench
import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// The runner in-process on tiny synthetic runs (a few epochs each).
@Suite(.serialized) struct BenchRunnerTests {
    static let tinySuite = """
        {
          "name": "tiny",
          "datasets": ["two-moons", "regression-1d"],
          "models": [{"kind": "mlp", "hidden": [16]}],
          "methods": [{"name": "map"}, {"name": "laplace"}, {"name": "mc-dropout", "dropout": 0.2, "samples": 8}],
          "epochs": 3, "batchSize": 100, "learningRate": 0.01,
          "evaluations": ["in-distribution", "ood"], "ood": ["far", "uniform-noise"]
        }
        """

    /// A record without what legitimately differs between two executions of one run.
    static func metrics(_ r: RunRecord) throws -> String {
        var copy = r
        copy.finishedAt = Date(timeIntervalSinceReferenceDate: 0)
        copy.seconds = nil
        copy.metrics.scalability?.fitSeconds = 0
        copy.metrics.scalability?.predictionSecondsPer1000 = 0
        copy.metrics.scalability?.peakResidentBytes = 0
        return try StoreFixtures.json(copy)
    }

    @Test func runsTheSuiteStoresEveryRunAndSkipsThemNextTime() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse(Self.tinySuite, source: "tiny.json")
        let store = try ResultStore(path: dir.appendingPathComponent("bench.sqlite").path)
        var events: [String] = []
        let outcome = try BenchRunner(store: store).run(suite) { event in
            switch event {
            case let .planned(total, skipped, pending): events.append("planned \(total) \(skipped) \(pending)")
            case let .runStarted(p): events.append("start \(p.index)/\(p.count)")
            case let .runFinished(p, _, _): events.append("finish \(p.index)")
            case let .runFailed(_, message): events.append("failed \(message)")
            case .stage, .training, .workerLost, .remoteStage: break
            }
        }
        #expect(events.first == "planned 6 0 6")
        #expect(events.filter { $0.hasPrefix("finish") }.count == 6, "\(events)")
        #expect(outcome.failures.isEmpty && outcome.completed == 6 && outcome.records.map(\.key) == suite.configurations.map(\.key))
        #expect(try store.count() == 6)

        for record in outcome.records {
            let c = record.configuration
            let s = try #require(record.metrics.scalability)
            #expect(try #require(record.seconds) > 0)
            #expect(s.fitSeconds > 0 && s.predictionSecondsPer1000 > 0 && s.peakResidentBytes > 1 << 20)
            #expect(s.parameterCount == (c.dataset == .twoMoons ? 2 * 16 + 16 + 16 * 2 + 2 : 16 + 16 + 16 * 2 + 2))
            #expect(record.metrics.ood.map(\.set) == ["far", "uniform-noise"])
            if c.dataset == .twoMoons {
                let summary = try #require(record.metrics.classification)
                #expect(summary.examples == 500 && summary.accuracy > 0.7)
                #expect(record.metrics.reliability?.bins.count == 15 && record.metrics.rejection.count == 20)
                #expect(record.metrics.regression == nil)
                let scores = c.method == "mc-dropout" ? ["entropy", "maxProbability", "mutualInformation"] : ["entropy", "maxProbability"]
                #expect(Set(record.metrics.ood[0].scores.keys) == Set(scores + (c.method == "mc-dropout" ? ["expectedEntropy"] : [])))
                #expect(record.metrics.misclassification.isEmpty || Set(record.metrics.misclassification.keys) == Set(scores))
                #expect(record.metrics.ood[0].scores["entropy"]?.rocCurve.isEmpty == false)
                #expect(summary.samples == (c.method == "mc-dropout" ? 8 : 1))
            } else {
                let summary = try #require(record.metrics.regression)
                #expect(summary.examples == 500 && summary.rootMeanSquaredError.isFinite)
                #expect(record.metrics.classification == nil && record.metrics.reliability == nil && record.metrics.misclassification.isEmpty)
                #expect(record.metrics.ood[0].scores["totalVariance"] != nil)
                #expect((record.metrics.ood[0].scores["epistemicVariance"] != nil) == (c.method == "mc-dropout"))
            }
            #expect(record.metrics.shift.isEmpty)
        }
        // Per data set, MAP and Laplace share one trained network; MC dropout (dropout 0.2) trains its own.
        let cache = dir.appendingPathComponent("bench.sqlite.runs")
        let entries = try FileManager.default.contentsOfDirectory(atPath: cache.path)
        #expect(entries.filter { $0.hasPrefix("network-") }.count == 4, "\(entries)")
        let laplace = try #require(outcome.records.first { $0.configuration.method == "laplace" })
        let map = try #require(outcome.records.first { $0.configuration.method == "map" && $0.configuration.dataset == laplace.configuration.dataset })
        let laplaceCost = try #require(laplace.metrics.scalability), mapCost = try #require(map.metrics.scalability)
        #expect(laplaceCost.fitSeconds >= mapCost.fitSeconds, "Laplace's cost includes training its network")
        #expect(laplaceCost.storedFloats > mapCost.storedFloats)

        // Again: nothing left to do, nothing stored twice.
        let again = try BenchRunner(store: store).run(suite)
        #expect(again.skipped == 6 && again.completed == 0)
        #expect(try store.count() == 6)
        #expect(try again.records.map(Self.metrics) == outcome.records.map(Self.metrics))

        // The same suite into a fresh database and cache: identical metrics (determinism).
        let fresh = try ResultStore(path: dir.appendingPathComponent("other.sqlite").path)
        let rerun = try BenchRunner(store: fresh).run(suite)
        #expect(try rerun.records.map(Self.metrics) == outcome.records.map(Self.metrics))

        let rows = summarize(outcome.records)
        #expect(rows.count == 6 && rows[0].model == "mlp 16" && rows[0].accuracy != nil && rows[3].rootMeanSquaredError != nil)
    }

    @Test func methodSettingsReachTheWorkflows() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse("""
            {"datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}], "epochs": 2, "samples": 4,
             "methods": [{"name": "swag", "rank": 2, "swagEpochs": 1},
                         {"name": "swag", "rank": 2, "swagEpochs": 1, "swagOptimizer": "sgd"},
                         {"name": "ensemble", "members": [2, 3]},
                         {"name": "laplace", "hessian": ["diagonal", "full"]}]}
            """, source: "s.json")
        let outcome = try BenchRunner(store: try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)).run(suite)
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        let r = outcome.records
        let parameters = 2 * 8 + 8 + 8 * 2 + 2
        #expect(r[0].metrics.classification?.negativeLogLikelihood != r[1].metrics.classification?.negativeLogLikelihood,
                "another optimizer for the SWAG phase gives another posterior")
        let stored = r.map { $0.metrics.scalability?.storedFloats ?? 0 }
        #expect(stored[2] == 2 * parameters && stored[3] == 3 * parameters)
        #expect(stored[4] < stored[5], "a full curvature stores more than its diagonal")
    }

    /// A suite's attacks run after the evaluation and their results are stored with the run.
    @Test func attacksAreRunAndStored() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse("""
            {"datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [16]}], "epochs": 5, "samples": 4,
             "methods": [{"name": "map"}, {"name": "mc-dropout", "dropout": 0.2}], "evaluations": ["in-distribution", "attacks"],
             "attacks": [{"attack": "pgd", "eps": [0, 0.5], "examples": 60, "eotSamples": 2, "checks": false}]}
            """, source: "s.json")
        let store = try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)
        let outcome = try BenchRunner(store: store).run(suite)
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        for record in outcome.records {
            let result = try #require(record.metrics.attacks?.first, "\(record.configuration.method)")
            #expect(result.examples == 60 && result.points.map(\.epsilon) == [0, 0.5])
            #expect(result.points[1].robustAccuracy < result.points[0].robustAccuracy)
        }
        let stored = try store.records()
        #expect(stored.allSatisfy { $0.metrics.attacks?.first?.points.count == 2 })
        // The report draws robust accuracy versus ε, one line per method, and the checks table.
        let page = renderReport(stored, title: "attacks")
        #expect(page.contains("7. Adversarial robustness") && page.contains("pgd linf, EOT 2") && page.contains("Gradient-masking checks")
                && page.contains("Detecting pgd linf, EOT 2 inputs"))
    }

    /// A suite's certifications (randomized smoothing and IBP) run after the evaluation, are
    /// stored with the run and drawn in the report; an adversarially trained network (TRADES)
    /// runs through the same grid.
    @Test func certificationsAreRunAndStored() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse("""
            {"datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [16]}], "epochs": 5, "samples": 4,
             "methods": [{"name": "map"}], "evaluations": ["in-distribution", "certification"],
             "training": {"adversarial": "trades", "adversarialEpsilon": 0.1, "attackSteps": 2},
             "certifications": [{"method": "smoothing", "sigma": 0.25, "n": 500, "examples": 20, "radii": [0, 0.25]},
                                {"method": "ibp", "eps": [0, 0.05], "examples": 100}]}
            """, source: "s.json")
        let store = try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)
        let outcome = try BenchRunner(store: store).run(suite)
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        let stored = try store.records()
        let certifications = try #require(stored.first?.metrics.certifications)
        #expect(certifications.map(\.settings.method) == [.smoothing, .ibp])
        #expect(certifications[0].perExample.count == 20 && certifications[0].points.map(\.radius) == [0, 0.25])
        #expect(certifications[1].points[0].certifiedAccuracy >= certifications[1].points[1].certifiedAccuracy)
        let page = renderReport(stored, title: "certification")
        #expect(page.contains("certified: smoothing σ 0.25") && page.contains("certified: ibp L∞"))
        #expect(throws: SuiteError.self) {
            try Suite.parse(#"{"datasets": ["two-moons"], "methods": [{"name": "map"}], "certifications": [{"method": "ibp"}]}"#, source: "s.json")
        }
        #expect(throws: SuiteError.self) {
            try Suite.parse(#"{"datasets": ["two-moons"], "methods": [{"name": "map"}], "evaluations": ["certification"], "certifications": [{"method": "smoothing", "sigma": 0}]}"#, source: "s.json")
        }
        let boxes = try Suite.parse(#"{"datasets": ["two-moons"], "methods": [{"name": "vi"}], "evaluations": ["certification"], "certifications": [{"method": "probabilistic-safety", "weightBoxes": 16}, {"method": "probabilistic-safety", "weightBoxes": 0}]}"#, source: "s.json")
        #expect(boxes.configurations.first?.certifications?.map(\.weightBoxes) == [16, nil])
        #expect(throws: SuiteError.self) {
            try Suite.parse(#"{"datasets": ["two-moons"], "methods": [{"name": "vi"}], "evaluations": ["certification"], "certifications": [{"method": "probabilistic-safety", "weightBoxes": -1}]}"#, source: "s.json")
        }
    }

    /// SG-MCMC and NUTS runs store their chain diagnostics (NUTS: across its chains, with each
    /// chain's sampler statistics, through the store; SGLD over the last layer too); the report
    /// lists them and every method's agreement with NUTS.
    @Test func samplerRunsStoreTheirChainDiagnostics() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse("""
            {"datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}], "epochs": 12, "samples": 4,
             "methods": [{"name": "map"}, {"name": "sgld", "thinning": 4, "sampleEpochs": 10},
                         {"name": "sgld", "thinning": 4, "sampleEpochs": 10, "weights": "last-layer"},
                         {"name": "nuts", "warmup": 30, "iterations": 10, "chains": 2, "maxTreeDepth": 4}]}
            """, source: "s.json")
        let outcome = try BenchRunner(store: try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)).run(suite)
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        let sgld = try #require(outcome.records.first { $0.configuration.method == "sgld" && $0.configuration.settings["weights"] == nil })
        let chain = try #require(sgld.metrics.chain)
        #expect(chain.samples >= 8 && chain.quantities.count == 8 + 5 && chain.worstRHat != nil)
        // A chain over the classifier is diagnosed too (its projections and predictions through the features).
        let lastLayer = try #require(outcome.records.first { $0.configuration.settings["weights"] == "last-layer" }?.metrics.chain)
        #expect(lastLayer.samples == chain.samples && lastLayer.quantities.count == 8 + 5)
        #expect(outcome.records.first { $0.configuration.method == "map" }?.metrics.chain == nil)
        let store = try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)
        let nuts = try #require(try store.records().first { $0.configuration.method == "nuts" }?.metrics.chain)
        #expect(nuts.chains == 2 && nuts.samples == 20 && nuts.sampler?.count == 2 && nuts.sampler?.allSatisfy { $0.stepSize > 0 } == true)
        let page = renderReport(outcome.records, title: "chains")
        #expect(page.contains("8. Sampler diagnostics") && page.contains("Leapfrog steps"))
        // The small test set's probabilities are kept, and the report scores agreement with NUTS.
        let stored = try store.records()
        let probabilities = { (method: String) in try #require(stored.first { $0.configuration.method == method }?.metrics.testProbabilities) }
        let mapAgreement = try PredictiveAgreement(meanProbabilities: try probabilities("map"), reference: try probabilities("nuts"), classes: 2)
        #expect(mapAgreement.examples == sgld.metrics.examples && mapAgreement.meanTotalVariation > 0)
        #expect(page.contains("Agreement with nuts (chains 2, iterations 10, maxTreeDepth 4, warmup 30) on the test set"))
        #expect(page.contains("<td class=\"method\">map</td><td>\(formatFixed(mapAgreement.topOneAgreement, 3))</td><td>\(formatFixed(mapAgreement.meanTotalVariation, 4))</td><td>1</td>"),
                "map's row: \(mapAgreement)")
    }

    /// Regression runs keep their test predictive's quantile-cell means in the targets' units, and
    /// the report ranks every method by its W₁ to the NUTS run — the figure the metric gives.
    @Test func regressionRunsAreScoredByTheirWassersteinDistanceToNUTS() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse("""
            {"datasets": ["regression-1d"], "models": [{"kind": "mlp", "hidden": [8]}], "epochs": 6, "samples": 4,
             "methods": [{"name": "map"}, {"name": "mc-dropout"}, {"name": "nuts", "warmup": 20, "iterations": 10, "chains": 2, "maxTreeDepth": 4}]}
            """, source: "s.json")
        let outcome = try BenchRunner(store: try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)).run(suite)
        #expect(outcome.failures.isEmpty, "\(outcome.failures)")
        let stored = try ResultStore(path: dir.appendingPathComponent("b.sqlite").path).records()
        let cellMeans = { (method: String) in try #require(stored.first { $0.configuration.method == method }?.metrics.testQuantileCellMeans) }
        let cells = RegressionAgreement.defaultCells
        #expect(try cellMeans("map").count == 500 * cells && stored.allSatisfy { $0.metrics.testProbabilities == nil })
        let dropout = try RegressionAgreement(cellMeans: try cellMeans("mc-dropout").map(Double.init), reference: try cellMeans("nuts").map(Double.init),
                                                   cells: cells, outputs: 1)
        #expect(dropout.examples == 500 && dropout.meanWassersteinDistance > 0)
        let page = renderReport(outcome.records, title: "regression")
        #expect(page.contains("Agreement with nuts (chains 2, iterations 10, maxTreeDepth 4, warmup 20) on the test set") && page.contains("Wasserstein-1"))
        #expect(page.contains("<td class=\"method\">mc-dropout (dropout 0.1)</td><td>\(formatFixed(dropout.meanWassersteinDistance, 4))</td><td>1</td>"), "mc-dropout's row: \(dropout)")
    }

    /// A test set too large for its probabilities to be kept in the record (N·C > 20,000).
    @Test func largeTestSetsKeepNoProbabilities() throws {
        let data = try loadDataset(.twoMoons, options: DataOptions(seed: 1, syntheticTrainCount: 16, syntheticTestCount: 10_001))
        let model = try Sequential(.mlp(inputShape: [2], hidden: [], outputs: 2))
        var rng = RandomGenerator(seed: 0)
        let point = try PointPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        #expect(try evaluatePosterior(point, on: data.test, samples: 1, seeding: .sequential(0)).testProbabilities == nil)
        let small = data.test.subset(Array(0..<100))
        #expect(try evaluatePosterior(point, on: small, samples: 1, seeding: .sequential(0)).testProbabilities?.count == 200)
    }

    @Test func aSecondRunnerOnTheSameDatabaseIsRefused() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("bench.sqlite").path
        let cache = dir.appendingPathComponent("bench.sqlite.runs").path
        try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
        let held = try DirectoryLock(directory: cache, database: path)
        let suite = try Suite.parse(Self.tinySuite, source: "tiny.json")
        #expect(throws: BenchError.locked(database: path, lockFile: dir.appendingPathComponent("bench.sqlite.runs/lock").path)) {
            try BenchRunner(store: try ResultStore(path: path)).run(suite)
        }
        held.release()
    }

    @Test func missingDataStopsTheSuiteBeforeAnyTraining() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let suite = try Suite.parse("""
            {"datasets": ["iris"], "methods": [{"name": "map"}]}
            """, source: "s.json")
        let runner = BenchRunner(store: try ResultStore(path: dir.appendingPathComponent("b.sqlite").path),
                                 dataDirectory: dir.appendingPathComponent("empty").path)
        var started = false
        do {
            _ = try runner.run(suite) { if case .runStarted = $0 { started = true } }
            Issue.record("ran without its data")
        } catch let error as BenchError {
            guard case let .dataUnavailable(what, runs, _) = error else { Issue.record("\(error)"); return }
            #expect(what == "data set iris" && runs == 1)
        }
        #expect(!started)
    }

    @Test func heldOutClassesTrainOnTheRestAndScoreTheHeldOutOnesAsOOD() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // A file of OOD inputs: 20 flipped test images of the full shapes set, as .npy.
        let full = try loadDataset(.shapes, options: DataOptions()).test
        let file = dir.appendingPathComponent("mine.npy").path
        try NumPy.write(try loadOODSet(.flipped, like: full, options: DataOptions(), count: 20), to: file)
        let suite = try Suite.parse("""
            {"datasets": [{"name": "shapes", "heldOutClasses": [2]}], "models": [{"kind": "mlp", "hidden": [32]}],
             "methods": [{"name": "map"}], "epochs": 4, "batchSize": 50, "learningRate": 0.005,
             "evaluations": ["ood"], "ood": ["held-out-classes", "\(file)"]}
            """, source: "s.json")
        let outcome = try BenchRunner(store: try ResultStore(path: dir.appendingPathComponent("b.sqlite").path)).run(suite)
        let record = try #require(outcome.records.first)
        #expect(outcome.failures.isEmpty && record.configuration.heldOutClasses == [2])
        #expect(record.metrics.scalability?.parameterCount == 784 * 32 + 32 + 32 * 3 + 3, "three outputs: class 2 is not trained")
        #expect(record.metrics.ood.map(\.set) == ["held-out-classes", file])
        let heldOut = try #require(record.metrics.ood.first?.scores["entropy"])
        #expect(heldOut.auroc.isFinite && heldOut.rocCurve.count > 2)
        // A missing file stops the next suite before training, naming the file.
        let missing = try Suite.parse("""
            {"datasets": ["shapes"], "methods": [{"name": "map"}], "evaluations": ["ood"], "ood": ["nowhere/x.npy"]}
            """, source: "s.json")
        #expect(throws: BenchError.self) {
            try BenchRunner(store: try ResultStore(path: dir.appendingPathComponent("c.sqlite").path)).run(missing)
        }
    }

    @Test func shiftEvaluationCoversTheOvadiaProtocolDeterministically() throws {
        var rng = RandomGenerator(seed: 3)
        let images = Tensor.randomUniform(shape: [12, 1, 28, 28], lower: 0, upper: 1, rng: &rng)
        let test = try InMemoryDataset(name: "tiny", inputs: images, labels: (0..<12).map { Int32($0 % 10) }, classCount: 10)
        let model = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [8], outputs: 10, dropout: 0.2))
        let posterior = try MCDropoutPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
        func shiftPoints(seed: UInt64, onStage: (String) -> Void = { _ in }) throws -> [ShiftPoint] {
            try evaluatePosterior(posterior, on: test, shifts: Shift.ovadiaProtocol, samples: 4, seeding: .perPart(seed),
                                  onStage: onStage).shift
        }
        var stages = 0
        let points = try shiftPoints(seed: 5) { _ in stages += 1 }
        #expect(points.count == Shift.ovadiaProtocol.count && stages == points.count)
        #expect(points.map { "\($0.shift) \($0.severity)" } == Shift.ovadiaProtocol.map { "\($0.kind.rawValue) \($0.severity)" })
        #expect(points.allSatisfy { $0.accuracy >= 0 && $0.accuracy <= 1 && $0.negativeLogLikelihood.isFinite && $0.meanEntropy > 0 })
        #expect(try shiftPoints(seed: 5) == points)
        #expect(try shiftPoints(seed: 6) != points, "the shift noise follows the run's seed")
    }

    @Test func peakMemoryIsResetPerRun() {
        // Tests of other suites allocate in this process at the same time, so one attempt
        // can see their growth; the behaviour must show in one of five.
        var outcomes: [String] = []
        for _ in 0..<5 {
            let reset = PeakMemory.reset()
            let before = PeakMemory.bytes()
            #expect(before > 0)
            // Touch 256 MB of tensor storage in 4 MB blocks (which the allocator keeps when
            // freed): the high-water mark rises by most of that (some blocks may reuse pages
            // other tests freed).
            var buffers = (0..<64).map { _ in Tensor(shape: [1 << 20], repeating: 1) }
            let after = PeakMemory.bytes()
            #expect(buffers.map(\.sumOfElements).reduce(0, +) == Double(64 << 20))
            guard after >= before + (160 << 20) else { outcomes.append("rise \(before) → \(after)"); continue }
            guard reset else { return }  // no resettable high-water mark here: the rise is all to check
            buffers = []
            PeakMemory.reset()
            let afterReset = PeakMemory.bytes()
            // The reset forgets the earlier peak and the freed heap.
            if afterReset < after - (128 << 20) { return }
            outcomes.append("reset \(after) → \(afterReset)")
        }
        Issue.record("no attempt showed the rise and the reset: \(outcomes)")
    }
}

/// The order a distributed bench hands runs out in.
struct BenchSchedulingTests {
    @Test func knownLongRunsGoFirstAfterTheUnknownInSuiteOrder() throws {
        let suite = try Suite.parse(BenchRunnerTests.tinySuite, source: "tiny.json")
        let byLabel = { (dataset: DatasetName, method: String, seed: UInt64) in
            suite.configurations.first { $0.dataset == dataset && $0.method == method && $0.seed == seed }!
        }
        // Durations stored for seed 0 of three configurations; the pending runs have seed 1.
        func stored(_ dataset: DatasetName, _ method: String, seconds: Double) throws -> RunRecord {
            var record = RunRecord(configuration: byLabel(dataset, method, 0), metrics: try StoreFixtures.record().metrics)
            record.seconds = seconds
            return record
        }
        let history = [try stored(.twoMoons, "map", seconds: 5), try stored(.twoMoons, "laplace", seconds: 40),
                       try stored(.regression1D, "map", seconds: 20)]
        let pending = suite.configurations.map { c -> RunConfiguration in
            var c = c
            c.seed = 1
            return c
        }
        let order = scheduled(pending, after: history).map { "\($0.dataset.rawValue) \($0.method)" }
        #expect(order == ["two-moons mc-dropout", "regression-1d laplace", "regression-1d mc-dropout",
                          "two-moons laplace", "regression-1d map", "two-moons map"])
        // With nothing stored the suite's order stands.
        #expect(scheduled(pending, after: []).map(\.key) == pending.map(\.key))
    }
}
