import Foundation
import Testing

@Suite struct CLITests {
    @Test func helpListsCommandsAndChoices() throws {
        let top = try CLI.run(["--help"])
        #expect(top.status == 0)
        for command in ["train", "evaluate", "perf"] { #expect(top.stdout.contains(command)) }
        let train = try CLI.run(["train", "--help"])
        for choice in ["fashion-mnist", "two-moons", "regression-1d", "mlp", "cnn", "adamw", "cosine", "--format"] {
            #expect(train.stdout.contains(choice), "train --help should list \(choice)")
        }
    }

    @Test func trainThenEvaluateTwoMoons() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("moons.safetensors").path
        let train = try CLI.run(["train", "--dataset", "two-moons", "--epochs", "15", "--seed", "3", "--out", path, "--format", "json"])
        #expect(train.status == 0, "\(train.stderr)")
        let result = try CLI.json(train)
        let test = try #require(result["test"] as? [String: Any])
        let accuracy = try #require(test["accuracy"] as? Double)
        #expect(accuracy > 0.85)
        #expect(train.stderr.contains("epoch 15/15"), "progress goes to stderr")
        let evaluate = try CLI.run(["evaluate", "--checkpoint", path, "--format", "json"])
        #expect(evaluate.status == 0, "\(evaluate.stderr)")
        #expect(try CLI.classification(CLI.json(evaluate))["accuracy"] as? Double == accuracy, "same test set, same parameters, same number")
        let text = try CLI.run(["evaluate", "--checkpoint", path])
        #expect(text.stdout.contains("accuracy"))
    }

    @Test func sameSeedSameResult() throws {
        let args = ["train", "--dataset", "spirals", "--epochs", "3", "--seed", "9", "--format", "json", "--dropout", "0.1"]
        let a = try CLI.run(args), b = try CLI.run(args)
        #expect(a.status == 0 && b.status == 0)
        let la = try CLI.json(a)["lossHistory"] as? [Double], lb = try CLI.json(b)["lossHistory"] as? [Double]
        #expect(la != nil && la == lb)
    }

    @Test func regressionReportsRMSE() throws {
        let run = try CLI.run(["train", "--dataset", "regression-1d", "--epochs", "5", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let test = try #require(try CLI.json(run)["test"] as? [String: Any])
        #expect(test["rootMeanSquaredError"] is Double)
        #expect(test["negativeLogLikelihood"] is Double)
    }

    @Test("--regression-noise homoscedastic: one learned variance per output, sampled by NUTS; refused for classification")
    func homoscedasticRegression() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let nuts = dir.appendingPathComponent("nuts.safetensors").path
        let run = try CLI.run(["train", "--dataset", "regression-1d", "--regression-noise", "homoscedastic", "--hidden", "8", "--epochs", "5",
                               "--method", "nuts", "--set", "warmup=20", "--set", "iterations=10", "--set", "chains=2", "--set", "maxTreeDepth=4",
                               "--out", nuts, "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let metrics = try #require((try CLI.json(run)["evaluation"] as? [String: Any])?["metrics"] as? [String: Any])
        #expect((metrics["regression"] as? [String: Any])?["rootMeanSquaredError"] is Double, "\(metrics.keys)")
        let header = try String(contentsOfFile: nuts, encoding: .isoLatin1)
        #expect(header.contains("{\\\"homoscedasticNoise\\\":{\\\"outputs\\\":1}}"), "the head is in the posterior file's model spec")
        let refused = try CLI.run(["train", "--dataset", "two-moons", "--regression-noise", "homoscedastic", "--epochs", "1"])
        #expect(refused.status != 0 && refused.stderr.contains("--regression-noise is for regression data sets"), "\(refused.stderr)")
    }

    @Test(.enabled(if: fashionMNISTAvailable, "needs the dataset-fashion-mnist package"))
    func fashionMNISTSmoke() throws {
        for model in ["mlp", "cnn"] {
            let run = try CLI.run(["train", "--dataset", "fashion-mnist", "--model", model, "--train-limit", "1024",
                                   "--epochs", "1", "--batch-size", "64", "--format", "json"])
            #expect(run.status == 0, "\(run.stderr)")
            let test = try #require(try CLI.json(run)["test"] as? [String: Any])
            let accuracy = try #require(test["accuracy"] as? Double)
            #expect(accuracy > 0.5, "\(model) after one epoch on 1,024 images: \(accuracy)")
            #expect(test["examples"] as? Int == 10_000)
        }
    }

    @Test func badInputFailsWithOneClearLine() throws {
        let missing = try CLI.run(["evaluate", "--checkpoint", "/nonexistent/model.safetensors"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("/nonexistent/model.safetensors"))
        #expect(!missing.stderr.contains("Fatal error"))

        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let garbage = dir.appendingPathComponent("garbage.safetensors")
        try Data("this is not a checkpoint".utf8).write(to: garbage)
        let corrupt = try CLI.run(["evaluate", "--checkpoint", garbage.path])
        #expect(corrupt.status != 0 && corrupt.stderr.contains("garbage.safetensors"))

        let lr = try CLI.run(["train", "--lr", "-1"])
        #expect(lr.status != 0 && lr.stderr.contains("--lr"))
        let hidden = try CLI.run(["train", "--hidden", "64,x"])
        #expect(hidden.status != 0 && hidden.stderr.contains("--hidden"))
        let cnn = try CLI.run(["train", "--dataset", "two-moons", "--model", "cnn"])
        #expect(cnn.status != 0 && cnn.stderr.contains("--model mlp"))
        let data = try CLI.run(["train", "--dataset", "fashion-mnist", "--data-dir", dir.path])
        #expect(data.status != 0 && data.stderr.contains("dataset-fashion-mnist"))
        let choice = try CLI.run(["train", "--dataset", "imagenet"])
        #expect(choice.status != 0 && choice.stderr.contains("fashion-mnist"), "lists the valid choices")
    }
}
