import Credence
import Foundation
import Testing

/// `credence score` end to end: files written here (and by NumPy when it is installed),
/// the binary run, its JSON parsed, its refusals read.
@Suite struct ScoreCLITests {
    /// Three-class probabilities for 63 examples (two thirds right), labels, and 40 OOD rows.
    static func writeFiles(in dir: URL) throws -> (probs: String, labels: String, ood: String) {
        var probs: [Float] = [], labels: [Int] = [], ood: [Float] = []
        for i in 0..<63 {
            let y = i % 3, predicted = i % 9 < 6 ? y : (y + 1) % 3  // 6 of every 9 right
            labels.append(y)
            probs += (0..<3).map { $0 == predicted ? 0.8 : 0.1 }
        }
        for i in 0..<40 { ood += i % 2 == 0 ? [0.4, 0.3, 0.3] : [0.3, 0.3, 0.4] }
        let p = dir.appendingPathComponent("probs.npy").path
        let y = dir.appendingPathComponent("labels.npy").path
        let o = dir.appendingPathComponent("noise.npy").path
        try NumPy.write(Tensor(shape: [63, 3], values: probs), to: p)
        try Gzip.writeFile(y, bytes: NumPy.encode(integers: labels), compress: false)
        try NumPy.write(Tensor(shape: [40, 3], values: ood), to: o)
        return (p, y, o)
    }

    @Test func jsonOutputIsOneObjectWithEveryMetric() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.writeFiles(in: dir)
        let run = try CLI.run(["score", "--probs", f.probs, "--labels", f.labels, "--ood-probs", f.ood,
                               "--name", "torch-mlp", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let result = try CLI.json(run)
        #expect(result["name"] as? String == "torch-mlp")
        let metrics = try CLI.metrics(result)
        let summary = try CLI.classification(result)
        #expect(abs(try #require(summary["accuracy"] as? Double) - 2.0 / 3) < 1e-12)
        for key in ["negativeLogLikelihood", "brierScore", "expectedCalibrationError", "adaptiveCalibrationError", "aurc"] {
            #expect(summary[key] is Double, "summary.\(key)")
        }
        let ood = try CLI.oodScores(result)
        #expect(ood.count == 1 && ood[0].set == "noise")
        #expect(ood[0].auroc == 1, "every OOD row is less confident than every test row")
        let misclassification = try #require(metrics["misclassification"] as? [String: Any])
        #expect(Set(misclassification.keys) == ["maxProbability", "entropy"])
        #expect((metrics["reliability"] as? [String: Any])?["bins"] is [Any])
        #expect((metrics["rejection"] as? [Any])?.count == 20)
        #expect(metrics["scalability"] == nil, "nothing was run or timed")
    }

    @Test func textOutputIsATable() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.writeFiles(in: dir)
        let run = try CLI.run(["score", "--probs", f.probs, "--labels", f.labels, "--ood-probs", f.ood])
        #expect(run.status == 0, "\(run.stderr)")
        for fragment in ["external: 63 examples, S = 1, C = 3", "accuracy", "0.6667", "ECE (15 bins)",
                         "misclassification AUROC", "OOD noise AUROC (H)", "accuracy at 50% rejected"] {
            #expect(run.stdout.contains(fragment), "\(fragment) in\n\(run.stdout)")
        }
    }

    @Test func reportWritesTheHTMLPageAndARunRecord() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.writeFiles(in: dir)
        let out = dir.appendingPathComponent("report").path
        let run = try CLI.run(["score", "--probs", f.probs, "--labels", f.labels, "--ood-probs", f.ood, "--report", out])
        #expect(run.status == 0, "\(run.stderr)")
        let html = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        #expect(html.contains("<svg") && html.contains("probs.npy"))
        #expect(FileManager.default.fileExists(atPath: out + "/run-record.json"))
        #expect(run.stderr.contains("placeholder"), "says that the data set field is a placeholder")
        // The record is what `credence report` reads too.
        let again = try CLI.run(["report", out + "/run-record.json", "--out", dir.appendingPathComponent("again").path])
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test func logitsFlagAppliesASoftmax() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let logits = dir.appendingPathComponent("logits.csv").path
        try Gzip.writeFile(logits, bytes: Array("3.0,-1.0\n-2.0,0.5\n0.1,2.0\n".utf8), compress: false)
        let labels = dir.appendingPathComponent("labels.csv").path
        try Gzip.writeFile(labels, bytes: Array("0\n1\n0\n".utf8), compress: false)
        let refused = try CLI.run(["score", "--probs", logits, "--labels", labels])
        #expect(refused.status != 0 && refused.stderr.contains("--logits"), "\(refused.stderr)")
        let run = try CLI.run(["score", "--probs", logits, "--labels", labels, "--logits", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try CLI.classification(try CLI.json(run))
        #expect(abs(try #require(summary["accuracy"] as? Double) - 2.0 / 3) < 1e-12)
    }

    @Test func malformedInputFailsWithOneClearLine() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let f = try Self.writeFiles(in: dir)
        let bad = dir.appendingPathComponent("unnormalised.csv").path
        try Gzip.writeFile(bad, bytes: Array("0.5,0.5,0\n0.5,0.25,0\n0,0,1\n".utf8), compress: false)
        let three = dir.appendingPathComponent("three.csv").path
        try Gzip.writeFile(three, bytes: Array("0\n1\n7\n".utf8), compress: false)
        let cases: [([String], [String])] = [
            (["--probs", bad, "--labels", three], ["unnormalised.csv", "row 1 (line 2)", "0.75", "--logits"]),
            (["--probs", f.probs, "--labels", three], ["probs.npy holds 63 examples", "three.csv holds 3 labels"]),
            (["--probs", f.probs, "--labels", f.probs], ["labels have shape [63, 3]"]),
            (["--probs", f.labels, "--labels", f.labels], ["labels.npy", "shape [63]"]),
            (["--probs", "/nonexistent/probs.npy", "--labels", f.labels], ["/nonexistent/probs.npy"]),
        ]
        for (arguments, fragments) in cases {
            let run = try CLI.run(["score"] + arguments)
            #expect(run.status != 0, "\(arguments)")
            #expect(!run.stderr.contains("Fatal error"))
            #expect(run.stderr.split(separator: "\n").count == 1, "one line: \(run.stderr)")
            for fragment in fragments { #expect(run.stderr.contains(fragment), "\(fragment) in \(run.stderr)") }
        }
        let outOfRange = dir.appendingPathComponent("probs3.csv").path
        try Gzip.writeFile(outOfRange, bytes: Array("1,0\n0,1\n1,0\n".utf8), compress: false)
        let label = try CLI.run(["score", "--probs", outOfRange, "--labels", three])
        #expect(label.status != 0 && label.stderr.contains("label 2 is 7, outside 0..<2"), "\(label.stderr)")
    }

    @Test(.enabled(if: numpyAvailable, "needs python3 with numpy"))
    func predictionsSavedByNumPyScoreAsNumPyComputesThem() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        // Per-sample float64 probabilities [N = 400, S = 5, C = 10], int64 labels, and NumPy's own figures.
        let script = """
            import numpy as np, sys, json
            d = sys.argv[1]
            rng = np.random.default_rng(0)
            y = rng.integers(0, 10, 400)
            z = rng.normal(size=(400, 5, 10)); z[np.arange(400), :, y] += 2.0
            p = np.exp(z); p /= p.sum(-1, keepdims=True)
            np.save(f"{d}/probs.npy", p); np.save(f"{d}/labels.npy", y)
            m = p.mean(1)
            H = lambda q: -(q * np.log(q)).sum(-1)
            json.dump({"accuracy": float((m.argmax(1) == y).mean()),
                       "nll": float(-np.log(m[np.arange(400), y]).mean()),
                       "mi": float((H(m) - H(p).mean(1)).mean())}, open(f"{d}/expected.json", "w"))
            """
        let python = Process()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        python.arguments = ["python3", "-c", script, dir.path]
        try python.run()
        python.waitUntilExit()
        try #require(python.terminationStatus == 0)
        let expected = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as? [String: Double])
        let run = try CLI.run(["score", "--probs", dir.path + "/probs.npy", "--labels", dir.path + "/labels.npy", "--format", "json"])
        #expect(run.status == 0, "\(run.stderr)")
        let summary = try CLI.classification(try CLI.json(run))
        #expect(summary["samples"] as? Int == 5 && summary["examples"] as? Int == 400)
        #expect(summary["accuracy"] as? Double == expected["accuracy"])
        // Float32 storage of float64 probabilities: agreement to about 1e-6.
        #expect(abs(try #require(summary["negativeLogLikelihood"] as? Double) - expected["nll"]!) < 1e-5)
        #expect(abs(try #require(summary["meanMutualInformation"] as? Double) - expected["mi"]!) < 1e-5)
    }
}

/// Whether `python3 -c "import numpy"` works here.
let numpyAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import numpy"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()
