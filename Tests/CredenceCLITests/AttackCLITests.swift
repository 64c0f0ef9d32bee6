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
        let text = try CLI.run(["attack", "--checkpoint", network, "--attack", "fgsm", "--norm", "l2", "--eps", "0.3", "--examples", "50"])
        #expect(text.status == 0 && text.stdout.contains("clean accuracy") && text.stdout.contains("fgsm l2"))
        let bad = try CLI.run(["attack", "--checkpoint", network, "--eps", "-1"])
        #expect(bad.status != 0 && bad.stderr.contains("--eps") && !bad.stderr.contains("Fatal error"), "\(bad.stderr)")
    }
}
