import Foundation
import Testing

/// `credence certify` and `credence train --adversarial` / `--augment gaussian-noise` end to end
/// on two moons.
@Suite struct CertifyCLITests {
    /// A noise-trained network certifies; the JSON carries the per-radius figures and every
    /// example; a run killed part-way (here: an `--out` file holding the first examples) is
    /// continued to the same numbers; other settings on the same file are refused.
    /// Under mpirun the examples are dealt out over the ranks: a file holding the first 5
    /// examples, continued on 2 ranks to 12, equals one process's 12 certificates.
    @Test func certifyOverRanksEqualsOneProcess() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = dir.appendingPathComponent("noisy.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--epochs", "5", "--augment", "gaussian-noise", "--out", network]).status == 0)
        let arguments = ["certify", "--checkpoint", network, "--sigma", "0.25", "--n", "1000", "--examples"]
        let whole = try CLI.json(try CLI.run(arguments + ["12", "--format", "json"], environment: ["CREDENCE_THREADS": "1"]))

        let out = dir.appendingPathComponent("cert.json").path
        // One thread per process throughout: the predictive's sums depend on the thread count.
        #expect(try CLI.run(arguments + ["5", "--out", out], environment: ["CREDENCE_THREADS": "1"]).status == 0)
        var partial = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        var settings = try #require(partial["settings"] as? [String: Any])
        settings["examples"] = 12
        partial["settings"] = settings
        try JSONSerialization.data(withJSONObject: partial).write(to: URL(fileURLWithPath: out))
        let run = try DistributedBenchCLITests.runMPI(ranks: 2, arguments + ["12", "--out", out, "--format", "json"])
        #expect(run.status == 0, "\(run.output)")
        let ranks = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as? [String: Any])
        func certificates(_ r: [String: Any]) -> [String] {
            ((r["perExample"] as? [[String: Any]]) ?? []).map { e in
                "\(e["index"] ?? "") \(e["prediction"] ?? "abstain") \(e["radius"] ?? "") \(e["topCount"] ?? "")"
            }
        }
        #expect(certificates(ranks).count == 12)
        #expect(certificates(ranks) == certificates(whole))
        func points(_ r: [String: Any]) -> [String] {
            ((r["points"] as? [[String: Any]]) ?? []).map { "\($0["radius"] ?? "") \($0["certifiedAccuracy"] ?? "")" }
        }
        #expect(points(ranks).count == 7 && points(ranks) == points(whole))

        let ibp = try DistributedBenchCLITests.runMPI(ranks: 2, ["certify", "--checkpoint", network, "--method", "ibp"])
        #expect(ibp.status != 0 && ibp.output.contains("splits randomized smoothing's CERTIFY"), "\(ibp.output)")
    }

    @Test func certifyReportsRadiiAndResumes() throws {
        func radii(_ r: [String: Any]) -> [Double] { (r["perExample"] as! [[String: Any]]).map { $0["radius"] as! Double } }
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = dir.appendingPathComponent("noisy.safetensors").path
        let trained = try CLI.run(["train", "--dataset", "two-moons", "--epochs", "10", "--augment", "gaussian-noise", "--noise-sigma", "0.25",
                                   "--out", network])
        #expect(trained.status == 0, "\(trained.stderr)")
        let arguments = ["certify", "--checkpoint", network, "--sigma", "0.25", "--n", "2000", "--examples", "30", "--radii", "0,0.25,0.5"]
        let whole = try CLI.json(try CLI.run(arguments + ["--format", "json"]))
        let points = try #require(whole["points"] as? [[String: Any]])
        #expect(points.compactMap { $0["radius"] as? Double } == [0, 0.25, 0.5])
        let accuracies = points.compactMap { $0["certifiedAccuracy"] as? Double }
        #expect(accuracies[0] > 0.7 && accuracies == accuracies.sorted(by: >), "\(accuracies)")
        #expect((whole["perExample"] as? [[String: Any]])?.count == 30)
        // Noise in input space on request, recorded in the settings; two moons' first layer widens
        // (2 → 64), so its noise is drawn in input space anyway: the same certificates.
        let direct = try CLI.json(try CLI.run(arguments + ["--input-space-noise", "--format", "json"]))
        #expect((direct["settings"] as? [String: Any])?["noiseInInputSpace"] as? Bool == true)
        #expect((whole["settings"] as? [String: Any])?["noiseInInputSpace"] == nil)
        #expect(radii(direct) == radii(whole))

        // Resuming: the first 10 examples' file, continued, gives the uninterrupted run's examples.
        let out = dir.appendingPathComponent("cert.json").path
        #expect(try CLI.run(Array(arguments.prefix(8)) + ["10", "--radii", "0,0.25,0.5", "--out", out]).status == 0)
        let partial = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out))) as! [String: Any]
        var settings = partial["settings"] as! [String: Any]
        settings["examples"] = 30
        var edited = partial
        edited["settings"] = settings
        try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: out))
        let resumed = try CLI.json(try CLI.run(arguments + ["--out", out, "--format", "json"]))
        #expect(radii(resumed) == radii(whole))
        let refused = try CLI.run(["certify", "--checkpoint", network, "--sigma", "0.5", "--n", "2000", "--examples", "30", "--out", out])
        #expect(refused.status != 0 && refused.stderr.contains("other settings"), "\(refused.stderr)")
        let ibp = try CLI.json(try CLI.run(["certify", "--checkpoint", network, "--method", "ibp", "--eps", "0,0.05,0.3", "--examples", "200",
                                            "--format", "json"]))
        let verified = try #require(ibp["points"] as? [[String: Any]]).compactMap { $0["certifiedAccuracy"] as? Double }
        #expect(verified.count == 3 && verified[0] > 0.8 && verified == verified.sorted(by: >), "\(verified)")
        let vi = dir.appendingPathComponent("vi.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "10", "--method", "vi", "--out", vi]).status == 0)
        let safety = try CLI.json(try CLI.run(["certify", "--posterior", vi, "--method", "probabilistic-safety", "--eps", "0.01,0.2",
                                               "--examples", "10", "--format", "json"]))
        let bounds = try #require(safety["points"] as? [[String: Any]]).compactMap { $0["certifiedAccuracy"] as? Double }
        #expect(bounds.count == 2 && bounds.allSatisfy { (0...1).contains($0) } && bounds[0] >= bounds[1], "\(bounds)")
        let boxed = try CLI.json(try CLI.run(["certify", "--posterior", vi, "--method", "probabilistic-safety", "--eps", "0.01,0.2",
                                              "--examples", "10", "--weight-boxes", "8", "--format", "json"]))
        let boxedBounds = try #require(boxed["points"] as? [[String: Any]]).compactMap { $0["certifiedAccuracy"] as? Double }
        #expect(zip(boxedBounds, bounds).allSatisfy { $0 >= $1 && $0 <= 1 }, "with weight boxes \(boxedBounds), without \(bounds)")
        #expect((boxed["settings"] as? [String: Any])?["weightBoxes"] as? Int == 8)
        let predicted = try CLI.json(try CLI.run(["certify", "--checkpoint", network, "--predict", "--sigma", "0.25", "--n", "1000",
                                                  "--examples", "40", "--format", "json"]))
        let accuracy = try #require(predicted["accuracy"] as? Double), abstained = try #require(predicted["abstentionRate"] as? Double)
        #expect(accuracy > 0.7 && accuracy + abstained <= 1, "PREDICT: accuracy \(accuracy), abstained \(abstained)")
        let bad = try CLI.run(["certify", "--checkpoint", network, "--alpha", "2"])
        #expect(bad.status != 0 && bad.stderr.contains("--alpha"), "\(bad.stderr)")
    }

    /// Mean-field VI trained adversarially (PGD at ε 0.3, its loop minimising the adversarial
    /// objective as its likelihood term) resists PGD with EOT over 8 weight samples better than
    /// plain VI on two moons (0.79 against 0.65 when written).
    @Test func adversariallyTrainedVIIsMoreRobust() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func robust(_ adversarial: [String]) throws -> Double {
            let path = dir.appendingPathComponent("vi-\(adversarial.count).safetensors").path
            let trained = try CLI.run(["train", "--dataset", "two-moons", "--hidden", "32,32", "--epochs", "15", "--lr", "3e-3",
                                       "--method", "vi", "--out", path] + adversarial)
            #expect(trained.status == 0, "\(trained.stderr)")
            let attack = try CLI.json(try CLI.run(["attack", "--posterior", path, "--eps", "0.3", "--eot-samples", "8", "--steps", "20",
                                                   "--examples", "300", "--no-checks", "--format", "json"]))
            return try #require((attack["points"] as? [[String: Any]])?.first?["robustAccuracy"] as? Double)
        }
        let plain = try robust([]), adversarial = try robust(["--adversarial", "pgd", "--eps", "0.3", "--attack-steps", "5"])
        #expect(adversarial > plain + 0.05, "robust accuracy under PGD-20 with EOT 8: adversarial VI \(adversarial), plain VI \(plain)")
    }

    /// `--adversarial` trains and records its settings; its options without it, or an
    /// impossible combination, are refused before any work.
    @Test func adversarialTrainingFromTheCommandLine() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = dir.appendingPathComponent("pgd.safetensors").path
        let trained = try CLI.run(["train", "--dataset", "two-moons", "--epochs", "3", "--adversarial", "trades", "--eps", "0.2",
                                   "--attack-steps", "3", "--out", network, "--format", "json"])
        #expect(trained.status == 0, "\(trained.stderr)")
        let ensemble = try CLI.run(["train", "--dataset", "two-moons", "--epochs", "2", "--method", "ensemble", "--set", "members=2",
                                    "--adversarial", "fgsm-rs", "--eps", "0.2"])
        #expect(ensemble.status == 0, "\(ensemble.stderr)")
        // IBP at the full ε from the first step is warned about; with a ramp it is not.
        for (warmup, warned) in [([String](), true), (["--eps-warmup", "1"], false)] {
            let ibp = try CLI.run(["train", "--dataset", "two-moons", "--epochs", "2", "--adversarial", "ibp", "--eps", "0.05"] + warmup)
            #expect(ibp.status == 0 && ibp.stderr.contains("--eps-warmup E") == warned, "\(warmup): \(ibp.stderr)")
        }
        for (arguments, message) in [(["--eps", "0.1"], "--adversarial"), (["--adversarial", "pgd"], "--eps"),
                                     (["--adversarial", "n-fgsm", "--eps", "0.1", "--attack-steps", "4"], "one attack step"),
                                     (["--method", "sgld", "--adversarial", "pgd", "--eps", "0.1"], "phase of its own")] {
            let refused = try CLI.run(["train", "--dataset", "two-moons"] + arguments)
            #expect(refused.status != 0 && refused.stderr.contains(message), "\(arguments): \(refused.stderr)")
        }
    }
}
