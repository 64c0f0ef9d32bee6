import Credence
import Foundation
import Testing

@Suite struct PosteriorCLITests {
    /// `train --help` lists every registered method and every setting of each; `fit --help`
    /// the post-hoc ones.
    @Test func helpListsEveryRegisteredMethodAndItsSettings() throws {
        let train = try CLI.run(["train", "--help"]), fit = try CLI.run(["fit", "--help"])
        #expect(train.status == 0 && fit.status == 0)
        for type in MethodRegistry.methods {
            #expect(train.stdout.contains("\(type.name) (\(type.phase.rawValue))"), "train --help lacks \(type.name)")
            for option in type.options { #expect(train.stdout.contains("    \(option.key)="), "train --help lacks \(type.name).\(option.key)") }
            if type.phase == .postHoc { #expect(fit.stdout.contains(type.name), "fit --help lacks \(type.name)") }
        }
    }

    @Test func ensembleTrainsWritesAndEvaluates() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("ens.safetensors").path
        let run = try CLI.run(["train", "--method", "ensemble", "--set", "members=3", "--epochs", "10", "--ood", "far",
                               "--out", path, "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try CLI.json(run)
        let evaluation = try CLI.classification(result["evaluation"] as? [String: Any])
        #expect(evaluation["samples"] as? Int == 3)
        #expect((evaluation["accuracy"] as? Double ?? 0) > 0.85)
        #expect(try CLI.oodScores(result["evaluation"] as? [String: Any]).first?.set == "far")
        for m in 0..<3 {
            #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("ens.member-\(m).safetensors").path))
        }
        let evaluate = try CLI.run(["evaluate", "--posterior", path, "--format", "json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        #expect(try CLI.classification(CLI.json(evaluate))["accuracy"] as? Double == evaluation["accuracy"] as? Double)
    }

    @Test func swagCollectsAfterTrainingAndRoundTrips() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("swag.safetensors").path
        let run = try CLI.run(["train", "--method", "swag", "--epochs", "10", "--set", "swagEpochs=3", "--set", "rank=4",
                               "--samples", "16", "--out", path, "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let evaluation = try #require(try CLI.json(run)["evaluation"] as? [String: Any])
        let summary = try CLI.classification(evaluation)
        #expect(evaluation["method"] as? String == "swag" && summary["samples"] as? Int == 16)
        #expect((summary["accuracy"] as? Double ?? 0) > 0.85)
        let again = try CLI.json(try CLI.run(["evaluate", "--posterior", path, "--samples", "16", "--seed", "0", "--format", "json"]))
        #expect(again["method"] as? String == "swag")
        let refused = try CLI.run(["train", "--method", "swag", "--set", "rank=1"])
        #expect(refused.status != 0 && refused.stderr.contains("swag needs rank ≥ 2, got 1"), "\(refused.stderr)")
        let misspelt = try CLI.run(["train", "--method", "swag", "--set", "rnak=4"])
        #expect(misspelt.status != 0 && misspelt.stderr.contains("swag has no setting 'rnak' (its settings: rank, swagEpochs"), "\(misspelt.stderr)")
    }

    /// vi-flipout from scratch and stf-bnn from the trained network: both write a posterior that
    /// evaluates to the same figures; STF-BNN stores one layer's σ beyond the network; a setting
    /// out of range is refused before training, by name.
    @Test func variationalMethodsTrainWriteAndEvaluate() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        for (method, extra) in [("vi-flipout", ["--set", "klAnnealingEpochs=2"]), ("stf-bnn", ["--set", "viEpochs=2"])] {
            let path = dir.appendingPathComponent("\(method).safetensors").path
            let run = try CLI.run(["train", "--method", method, "--epochs", "10", "--samples", "16", "--out", path, "--format", "json"] + extra)
            #expect(run.status == 0, "\(run.stderr)")
            let evaluation = try #require(try CLI.json(run)["evaluation"] as? [String: Any])
            let summary = try CLI.classification(evaluation)
            #expect(evaluation["method"] as? String == method && (summary["accuracy"] as? Double ?? 0) > 0.85, "\(summary)")
            let metrics = try #require(evaluation["metrics"] as? [String: Any])
            let cost = try #require(metrics["scalability"] as? [String: Any])
            let parameters = try #require(cost["parameterCount"] as? Int), stored = try #require(cost["storedFloats"] as? Int)
            // MLP 2-64-64-2 (the default): all weights, or the first layer's 2×64 + 64.
            #expect(stored - parameters == (method == "stf-bnn" ? 192 : parameters))
            let again = try CLI.json(try CLI.run(["evaluate", "--posterior", path, "--samples", "16", "--seed", "0", "--format", "json"]))
            #expect(again["method"] as? String == method)
        }
        let refused = try CLI.run(["train", "--method", "vi", "--set", "temperature=0"])
        #expect(refused.status != 0 && refused.stderr.contains("temperature"), "\(refused.stderr)")
    }

    /// variational-dropout trains from the MAP network; compress reports accuracy per fraction
    /// and writes an ordinary checkpoint whose pruned weights are exactly zero; a MAP checkpoint
    /// is pruned by magnitude; a fraction out of range is refused.
    @Test func variationalDropoutCompresses() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vd.safetensors").path, pruned = dir.appendingPathComponent("pruned.safetensors").path
        let run = try CLI.run(["train", "--method", "variational-dropout", "--epochs", "10", "--set", "viEpochs=3", "--out", path])
        #expect(run.status == 0, "\(run.stderr)")
        let report = try CLI.json(try CLI.run(["compress", "--posterior", path, "--fractions", "0", "0.5", "--out", pruned,
                                               "--fraction", "0.5", "--format", "json"]))
        #expect(report["score"] as? String == "signal-to-noise" && report["fractionWithLogAlphaAbove3"] is Double)
        let rows = try #require(report["rows"] as? [[String: Any]])
        #expect(rows.count == 2 && (rows[0]["accuracy"] as? Double ?? 0) > 0.85, "\(rows)")
        let checkpoint = try Checkpoint.load(from: pruned)
        let weights = report["weights"] as? Int ?? 0
        #expect(checkpoint.parameters.values.filter { $0 == 0 }.count >= weights / 2)
        let evaluated = try CLI.json(try CLI.run(["evaluate", "--checkpoint", pruned, "--format", "json"]))
        #expect(evaluated["method"] as? String == "map")
        let map = try CLI.json(try CLI.run(["compress", "--checkpoint", dir.appendingPathComponent("vd.member-0.safetensors").path,
                                            "--fractions", "0.9", "--format", "json"]))
        #expect(map["score"] as? String == "magnitude")
        let refused = try CLI.run(["compress", "--posterior", path, "--fractions", "1.5"])
        #expect(refused.status != 0 && refused.stderr.contains("[0, 1]"), "\(refused.stderr)")
    }

    /// layer-optima retrains the first and the last layer from two seeds with the rest fixed:
    /// only that layer moves, and the report has its solutions, distances and path.
    @Test func layerOptimaRetrainsOneLayer() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("map.safetensors").path
        #expect(try CLI.run(["train", "--epochs", "10", "--out", path]).status == 0)
        for layer in ["first", "last"] {
            let report = try CLI.json(try CLI.run(["layer-optima", "--checkpoint", path, "--layer", layer, "--restarts", "2",
                                                   "--epochs", "20", "--lr", "0.01", "--format", "json"]))
            let restarts = try #require(report["restarts"] as? [[String: Any]])
            #expect(restarts.count == 2 && restarts.allSatisfy { ($0["testAccuracy"] as? Double ?? 0) > 0.8 }, "\(restarts)")
            // MLP 2-64-64-2: the first module "0" has 2×64 + 64 parameters, the last "4" 64×2 + 2.
            #expect(report["layer"] as? String == (layer == "first" ? "0" : "4"))
            #expect(report["parameters"] as? Int == (layer == "first" ? 192 : 130))
            #expect((report["path"] as? [Any])?.count == 11 && (report["relativeDistances"] as? [[Double]])?[0][1] ?? 0 > 0)
        }
        let refused = try CLI.run(["layer-optima", "--checkpoint", path, "--restarts", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("≥ 2 restarts"), "\(refused.stderr)")
    }

    @Test func heldOutClassesAndOODFilesFromTheCommandLine() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("map.safetensors").path
        // Points far from the moons, as a CSV file of inputs.
        let csv = dir.appendingPathComponent("far.csv").path
        try "x,y\n12,12\n-12,9\n0,-15\n15,0\n".write(toFile: csv, atomically: true, encoding: .utf8)
        let run = try CLI.run(["train", "--dataset", "spirals", "--held-out-classes", "2", "--method", "map", "--epochs", "5",
                               "--ood", "held-out-classes", csv, "--out", path, "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let evaluation = try #require(try CLI.json(run)["evaluation"] as? [String: Any])
        let sets = try CLI.oodScores(evaluation)
        #expect(sets.map(\.set) == ["held-out-classes", csv] && sets.last?.examples == 4)
        // The held-out class's test examples are about a third of the 500 test points; the rest are the test set.
        let heldOut = sets.first?.examples ?? 0
        let examples = try CLI.classification(evaluation)["examples"] as? Int ?? 0
        #expect(heldOut > 100 && heldOut + examples == 500)
        // evaluate reads the held-out classes from the checkpoint's record of its training.
        let again = try CLI.json(try CLI.run(["evaluate", "--posterior", path, "--ood", "held-out-classes", "--format", "json"]))
        #expect(try CLI.classification(again)["examples"] as? Int == examples)
        #expect(try CLI.oodScores(again).first?.examples == heldOut)
        // fit too: a Laplace on the two-class network, scored against the held-out class.
        let fit = try CLI.run(["fit", "--checkpoint", path, "--method", "laplace", "--ood", "held-out-classes", "--format", "json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let fitted = try #require(try CLI.json(fit)["evaluation"] as? [String: Any])
        #expect(try CLI.oodScores(fitted).first?.examples == heldOut)
        // Mistakes are one-line errors naming the value.
        let typo = try CLI.run(["evaluate", "--posterior", path, "--ood", "uniform-nose"])
        #expect(typo.status != 0 && typo.stderr.contains("'uniform-nose' is neither an OOD set"))
        let notHeld = try CLI.run(["train", "--method", "map", "--epochs", "1", "--ood", "held-out-classes"])
        #expect(notHeld.status != 0 && notHeld.stderr.contains("no classes of two-moons were held out"))
        let badClass = try CLI.run(["train", "--dataset", "spirals", "--held-out-classes", "7", "--epochs", "1"])
        #expect(badClass.status != 0 && badClass.stderr.contains("class 7 does not exist"))
    }

    @Test func mcDropoutNeedsDropoutAndReportsSamples() throws {
        let refused = try CLI.run(["train", "--method", "mc-dropout", "--set", "dropout=0"])
        #expect(refused.status != 0 && refused.stderr.contains("mc-dropout needs 0 < dropout < 1, got 0"), "\(refused.stderr)")
        let run = try CLI.run(["train", "--method", "mc-dropout", "--dropout", "0.2", "--epochs", "5", "--samples", "8",
                               "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let evaluation = try #require(try CLI.json(run)["evaluation"] as? [String: Any])
        #expect(try CLI.classification(evaluation)["samples"] as? Int == 8)
        #expect(evaluation["method"] as? String == "mc-dropout")
    }

    @Test(.enabled(if: fashionMNISTAvailable, "needs the dataset-fashion-mnist package"))
    func evaluateScoresOODSetsOnFashionMNIST() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("map.safetensors").path
        let train = try CLI.run(["train", "--dataset", "fashion-mnist", "--train-limit", "2048", "--epochs", "1",
                                 "--hidden", "128", "--out", path])
        #expect(train.status == 0, "\(train.stderr)")
        let run = try CLI.run(["evaluate", "--checkpoint", path, "--ood", "uniform-noise", "inverted", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try CLI.json(run)
        let ece = try #require(try CLI.classification(result)["expectedCalibrationError"] as? Double)
        #expect(ece >= 0 && ece < 0.3)
        let sets = try CLI.oodScores(result)
        #expect(sets.map(\.set) == ["uniform-noise", "inverted"])
        for s in sets { #expect((0...1).contains(s.auroc)) }
        let refused = try CLI.run(["evaluate", "--checkpoint", path, "--ood", "far", "--dataset", "two-moons"])
        #expect(refused.status != 0 && refused.stderr.contains("other data"), "\(refused.stderr)")
    }
}

@Suite struct FitCLITests {
    @Test func temperatureScalingOnAHeldOutSplit() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = dir.appendingPathComponent("map.safetensors").path, scaled = dir.appendingPathComponent("ts.safetensors").path
        let noHoldout = dir.appendingPathComponent("plain.safetensors").path
        #expect(try CLI.run(["train", "--epochs", "5", "--out", noHoldout]).status == 0)
        let refused = try CLI.run(["fit", "--checkpoint", noHoldout, "--method", "temperature"])
        #expect(refused.status != 0 && refused.stderr.contains("--holdout"))

        #expect(try CLI.run(["train", "--epochs", "10", "--holdout", "200", "--out", base]).status == 0)
        let fit = try CLI.run(["fit", "--checkpoint", base, "--method", "temperature", "--out", scaled, "--format", "json"])
        #expect(fit.status == 0, "\(fit.stderr)")
        let result = try CLI.json(fit)
        let details = try #require(result["details"] as? [String: Double])
        let before = try #require(details["heldOutNLLBefore"]), after = try #require(details["heldOutNLLAfter"])
        #expect(after <= before)
        #expect((details["temperature"] ?? 0) > 0)
        // The saved posterior evaluates to the same figures.
        let evaluation = try #require(result["evaluation"] as? [String: Any])
        let again = try CLI.json(try CLI.run(["evaluate", "--posterior", scaled, "--format", "json"]))
        #expect(try CLI.classification(again)["negativeLogLikelihood"] as? Double
                == CLI.classification(evaluation)["negativeLogLikelihood"] as? Double)

        // Laplace's prior chosen on the same held-out split (laplace-torch's gridsearch).
        let refusedLaplace = try CLI.run(["fit", "--checkpoint", noHoldout, "--method", "laplace", "--set", "prior=held-out"])
        #expect(refusedLaplace.status != 0 && refusedLaplace.stderr.contains("--holdout"), "\(refusedLaplace.stderr)")
        let laplace = try CLI.run(["fit", "--checkpoint", base, "--method", "laplace", "--set", "prior=held-out", "--format", "json"])
        #expect(laplace.status == 0, "\(laplace.stderr)")
        let chosen = try #require(try CLI.json(laplace)["details"] as? [String: Double])
        let precision = try #require(chosen["priorPrecision"]), heldOutNLL = try #require(chosen["heldOutNLL"])
        #expect(precision >= 1e-4 && precision <= 1e4 && heldOutNLL.isFinite && heldOutNLL > 0, "\(chosen)")
    }
}
