import Foundation
import Testing

/// `credence diagnose` on an SGLD chain and on NUTS chains, its refusal of a posterior that is
/// not a chain, and `credence agreement` against the NUTS posterior.
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

    @Test func nutsChainsAreDiagnosedAndOtherPosteriorsComparedWithThem() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let nuts = dir.appendingPathComponent("nuts.safetensors").path
        let trained = try CLI.run(["train", "--dataset", "two-moons", "--hidden", "8", "--epochs", "20", "--method", "nuts", "--set", "warmup=40",
                                   "--set", "iterations=20", "--set", "chains=2", "--set", "maxTreeDepth=4", "--out", nuts])
        #expect(trained.status == 0, "\(trained.stderr)")
        #expect(trained.stdout.contains("2 chains of 40 samples") && trained.stdout.contains("sampler: 2 chains, ε"), "\(trained.stdout)")
        // 40 draws are far from 100 effectively independent ones per chain: said, with what to do, here and by diagnose.
        #expect(trained.stderr.contains("warning: bulk ESS as low as") && trained.stderr.contains("(< 200, 100 per chain)"), "\(trained.stderr)")
        let text = try CLI.run(["diagnose", "--posterior", nuts, "--projections", "2", "--points", "1"])
        #expect(text.status == 0 && text.stderr.contains("warning: bulk ESS as low as"), "\(text.stderr)")
        let result = try CLI.json(try CLI.run(["diagnose", "--posterior", nuts, "--projections", "2", "--points", "1", "--format", "json"]))
        #expect(result["chains"] as? Int == 2 && result["samples"] as? Int == 40)
        let sampler = try #require(result["sampler"] as? [[String: Any]])
        #expect(sampler.count == 2 && sampler.allSatisfy { ($0["stepSize"] as? Double ?? 0) > 0 && ($0["meanTreeDepth"] as? Double ?? 0) >= 1 })
        let map = dir.appendingPathComponent("map.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--hidden", "8", "--epochs", "20", "--out", map]).status == 0)
        let rows = try #require(try JSONSerialization.jsonObject(with: Data(CLI.run(["agreement", "--reference", nuts, map, "--format", "json"]).stdout.utf8)) as? [[String: Any]])
        let agreement = rows.compactMap { ($0["agreement"] as? [String: Any])?["topOneAgreement"] as? Double }
        #expect(agreement.count == 2 && agreement[0] == 1 && agreement[1] > 0.5 && agreement[1] <= 1, "\(rows)")
        // Regression: the mean W₁ between the predictives, in the targets' units, with RMSE and NLL.
        let regression = dir.appendingPathComponent("regression.safetensors").path, longer = dir.appendingPathComponent("longer.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "regression-1d", "--epochs", "2", "--out", regression]).status == 0)
        #expect(try CLI.run(["train", "--dataset", "regression-1d", "--epochs", "6", "--out", longer]).status == 0)
        let scored = try CLI.run(["agreement", "--reference", regression, longer])
        #expect(scored.status == 0 && scored.stdout.contains("Wasserstein-1") && scored.stdout.contains("500 test examples"), "\(scored.stdout)\(scored.stderr)")
        #expect(scored.stderr.contains("1 sample on 500 test inputs") && scored.stderr.contains("scoring 1/1: \(longer)"), "\(scored.stderr)")
        let regressionRows = try #require(try JSONSerialization.jsonObject(with: Data(CLI.run(["agreement", "--reference", regression, longer, "--format", "json"]).stdout.utf8)) as? [[String: Any]])
        let distances = regressionRows.compactMap { ($0["regressionAgreement"] as? [String: Any])?["meanWassersteinDistance"] as? Double }
        #expect(distances.count == 2 && distances[0] == 0 && distances[1] > 0, "\(regressionRows)")
        #expect(regressionRows.allSatisfy { $0["accuracy"] == nil && ($0["rootMeanSquaredError"] as? Double ?? 0) > 0 }, "\(regressionRows)")
        let refused = try CLI.run(["agreement", "--reference", regression, map])
        #expect(refused.status != 0 && refused.stderr.contains("was trained on other data than the reference"), "\(refused.stderr)")
    }
}
