import Foundation
import Testing

/// `credence attack` end to end on a small trained network.
@Suite struct AttackCLITests {
    @Test func attackReportsCleanAndRobustAccuracyPerEpsilon() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let network = dir.appendingPathComponent("map.safetensors").path
        let trained = try CLI.run(["train", "--dataset", "two-moons", "--epochs", "20", "--out", network])
        #expect(trained.status == 0, "\(trained.stderr)")
        let output = try CLI.run(["attack", "--checkpoint", network, "--eps", "0,0.2,1", "--examples", "100", "--format", "json"])
        #expect(output.status == 0, "\(output.stderr)")
        let result = try CLI.json(output)
        let clean = try #require(result["cleanAccuracy"] as? Double)
        let robust = try #require(result["points"] as? [[String: Any]]).compactMap { $0["robustAccuracy"] as? Double }
        #expect(robust.count == 3 && robust[0] == clean, "ε = 0 is the clean accuracy")
        #expect(zip(robust, robust.dropFirst()).allSatisfy { $0 >= $1 } && robust[2] < clean, "\(robust)")
        #expect(result["method"] as? String == "map" && result["attack"] as? String == "pgd")
        // Does the model know it is fooled: detection AUROCs per score; and the masking checks ran.
        let largest = try #require((result["points"] as? [[String: Any]])?.last)
        let auroc = try #require(largest["detectionAUROC"] as? [String: Double])
        #expect(Set(auroc.keys) == ["maxProbability", "entropy"] && auroc.values.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(auroc)")
        let checks = try #require(result["checks"] as? [[String: Any]])
        #expect(checks.count == 6 && checks.allSatisfy { $0["passed"] is Bool }, "\(checks)")
        let text = try CLI.run(["attack", "--checkpoint", network, "--attack", "fgsm", "--norm", "l2", "--eps", "0.3", "--examples", "50"])
        #expect(text.status == 0 && text.stdout.contains("clean accuracy") && text.stdout.contains("fgsm l2"))
        let bad = try CLI.run(["attack", "--checkpoint", network, "--eps", "-1"])
        #expect(bad.status != 0 && bad.stderr.contains("--eps") && !bad.stderr.contains("Fatal error"), "\(bad.stderr)")

        // APGD-CE (100 steps by default) is no weaker than PGD-10 here; DLR needs three classes;
        // APGD takes no step size; MIM runs.
        let apgd = try CLI.json(try CLI.run(["attack", "--checkpoint", network, "--attack", "apgd-ce", "--eps", "0.2", "--examples", "100",
                                             "--format", "json"]))
        let apgdRobust = try #require((apgd["points"] as? [[String: Any]])?.first?["robustAccuracy"] as? Double)
        #expect(apgd["steps"] as? Int == 100 && apgdRobust <= robust[1], "APGD-CE \(apgdRobust) vs PGD \(robust[1])")
        let dlr = try CLI.run(["attack", "--checkpoint", network, "--attack", "apgd-dlr", "--eps", "0.2", "--examples", "10"])
        #expect(dlr.status != 0 && dlr.stderr.contains("at least 3 classes"), "\(dlr.stderr)")
        let stepped = try CLI.run(["attack", "--checkpoint", network, "--attack", "apgd-ce", "--eps", "0.2", "--step-size", "0.01"])
        #expect(stepped.status != 0 && stepped.stderr.contains("--step-size"), "\(stepped.stderr)")
        let mim = try CLI.run(["attack", "--checkpoint", network, "--attack", "mim", "--eps", "0.2", "--examples", "50"])
        #expect(mim.status == 0 && mim.stdout.contains("mim linf, 10 steps"), "\(mim.stdout) \(mim.stderr)")

        // Square (queries only) and AutoAttack, whose output lists what is left after each attack.
        let square = try CLI.run(["attack", "--checkpoint", network, "--attack", "square", "--eps", "0.2", "--queries", "100",
                                  "--examples", "50"])
        #expect(square.status == 0 && square.stdout.contains("100 queries"), "\(square.stdout) \(square.stderr)")
        let auto = try CLI.json(try CLI.run(["attack", "--checkpoint", network, "--attack", "autoattack", "--eps", "0.2",
                                             "--queries", "100", "--examples", "50", "--format", "json"]))
        let stages = try #require((auto["points"] as? [[String: Any]])?.first?["stages"] as? [[String: Any]])
        #expect(stages.compactMap { $0["attack"] as? String } == ["clean", "apgd-ce", "fab-t", "square"], "\(stages)")
        // A transfer attack from a second network, saving the adversarial inputs per ε.
        let other = dir.appendingPathComponent("other.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--epochs", "20", "--seed", "7", "--out", other]).status == 0)
        let saved = dir.appendingPathComponent("adv.npy").path
        let transfer = try CLI.json(try CLI.run(["attack", "--checkpoint", network, "--surrogate", other, "--eps", "0.2,0.4", "--examples", "40",
                                                 "--save-adversarials", saved, "--format", "json"]))
        #expect((transfer["surrogate"] as? String)?.contains("other.safetensors") == true && transfer["checks"] == nil, "\(transfer)")
        for suffix in ["-eps0.2.npy", "-eps0.4.npy"] {
            let path = dir.appendingPathComponent("adv" + suffix).path
            #expect(FileManager.default.fileExists(atPath: path), "\(path)")
        }
        let zoo = try CLI.run(["attack", "--checkpoint", network, "--attack", "zoo", "--eps", "0.2", "--steps", "5", "--coordinates", "2",
                               "--examples", "20", "--no-checks"])
        #expect(zoo.status == 0 && zoo.stdout.contains("2 coordinates per step"), "\(zoo.stdout) \(zoo.stderr)")
        let noSteps = try CLI.run(["attack", "--checkpoint", network, "--attack", "square", "--eps", "0.2", "--steps", "5"])
        #expect(noSteps.status != 0 && noSteps.stderr.contains("--steps"), "\(noSteps.stderr)")
    }

    /// Under mpirun the batches (and the gradient-masking checks' batches) are dealt out over
    /// the ranks, and the result is one process's: a stochastic posterior attacked with EOT and
    /// scored repeatedly, and AutoAttack's per-attack counts; the adversarial inputs written by
    /// rank 0 are the same bytes.
    @Test func attackOverRanksEqualsOneProcess() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let vi = dir.appendingPathComponent("vi.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--hidden", "16", "--epochs", "30", "--method", "vi", "--out", vi]).status == 0)
        let runs: [[String]] = [
            ["attack", "--posterior", vi, "--eps", "0,0.3", "--examples", "60", "--batch-size", "20", "--eot-samples", "2", "--samples", "4",
             "--repeats", "2"],
            ["attack", "--posterior", vi, "--attack", "autoattack", "--eps", "0.3", "--steps", "5", "--queries", "30", "--examples", "45",
             "--batch-size", "20", "--eot-samples", "2", "--samples", "4", "--no-checks"],
        ]
        for (i, arguments) in runs.enumerated() {
            let saved = [dir.appendingPathComponent("one-\(i).npy").path, dir.appendingPathComponent("ranks-\(i).npy").path]
            let one = try CLI.run(arguments + ["--save-adversarials", saved[0], "--format", "json"], environment: ["CREDENCE_THREADS": "1"])
            #expect(one.status == 0, "\(one.stderr)")
            let ranks = try DistributedBenchCLITests.runMPI(ranks: 2, arguments + ["--save-adversarials", saved[1], "--format", "json"])
            #expect(ranks.status == 0, "\(ranks.output)")
            let shared = try CLI.jsonLine(ranks.output)
            let differences = CLI.differences(try CLI.jsonLine(one.stdout), shared, ignoring: ["seconds"])
            #expect(differences.isEmpty, "one process and 2 ranks differ: \(differences)")
            #expect(ranks.output.split(separator: "\n").filter { $0.hasPrefix("{") }.count == 1, "rank 0 alone prints")
            let points = try #require(shared["points"] as? [[String: Any]])
            #expect(i == 1 ? points[0]["stages"] != nil : (shared["checks"] as? [Any])?.count == 6 && points[0]["robustInEveryRepeat"] != nil,
                    "\(shared)")
            let bytes = try saved.map { try Data(contentsOf: URL(fileURLWithPath: $0.replacingOccurrences(of: ".npy", with: i == 0 ? "-eps0.3.npy" : ".npy"))) }
            #expect(bytes[0] == bytes[1])
        }
    }
}
