import Foundation
import Testing

/// `credence diagnose` on an SGLD chain, and its refusal of a posterior that is not a chain.
@Suite struct DiagnoseCLITests {
    @Test func diagnosesAChainAndRefusesAPointNetwork() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let chain = dir.appendingPathComponent("sgld.safetensors").path
        let trained = try CLI.run(["train", "--dataset", "two-moons", "--method", "sgld", "--set", "thinning=4", "--set", "sampleEpochs=10",
                                   "--epochs", "12", "--out", chain])
        #expect(trained.status == 0, "\(trained.stderr)")
        let result = try CLI.json(try CLI.run(["diagnose", "--posterior", chain, "--projections", "3", "--points", "2", "--format", "json"]))
        #expect(result["method"] as? String == "sgld" && (result["samples"] as? Int ?? 0) >= 8)
        let quantities = try #require(result["quantities"] as? [[String: Any]])
        #expect(quantities.count == 5 && quantities.allSatisfy { ($0["bulkEffectiveSampleSize"] as? Double ?? 0) > 0 })
        let map = dir.appendingPathComponent("map.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--epochs", "2", "--out", map]).status == 0)
        let refused = try CLI.run(["diagnose", "--posterior", map])
        #expect(refused.status != 0 && refused.stderr.contains("chain diagnostics are for the samplers' chains"), "\(refused.stderr)")
    }
}
