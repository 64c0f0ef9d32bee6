import Foundation
import Testing

/// `credence evaluate --shifts` in one process and split over MPI ranks.
@Suite struct DistributedEvaluationCLITests {
    /// The shifted test sets are dealt out over 2 ranks and the figures are one process's —
    /// for a stochastic posterior, whose every shifted set draws its own samples; the table of
    /// the text output; mistakes refused.
    @Test func shiftsOverRanksEqualOneProcess() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let posterior = dir.appendingPathComponent("dropout.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "shapes", "--method", "mc-dropout", "--dropout", "0.2", "--epochs", "2",
                             "--train-limit", "300", "--out", posterior]).status == 0)
        let arguments = ["evaluate", "--posterior", posterior, "--shifts", "strongest", "--samples", "4", "--format", "json"]
        let one = try CLI.run(arguments, environment: ["CREDENCE_THREADS": "1"])
        #expect(one.status == 0, "\(one.stderr)")
        let ranks = try DistributedBenchCLITests.runMPI(ranks: 2, arguments)
        #expect(ranks.status == 0, "\(ranks.output)")
        let single = try CLI.metrics(try CLI.json(one)), shared = try CLI.metrics(try CLI.jsonLine(ranks.output))
        #expect((shared["shift"] as? [Any])?.count == 13, "\(shared)")
        let differences = CLI.differences(single, shared, ignoring: ["scalability"])
        #expect(differences.isEmpty, "one process and 2 ranks differ: \(differences)")

        let text = try CLI.run(["evaluate", "--posterior", posterior, "--shifts", "strongest", "--samples", "2"])
        #expect(text.status == 0 && text.stdout.contains("corruptions at severity 5 (11)") && text.stdout.contains("rotation 180°"),
                "\(text.stdout)")
        let moons = dir.appendingPathComponent("moons.safetensors").path
        #expect(try CLI.run(["train", "--dataset", "two-moons", "--epochs", "1", "--out", moons]).status == 0)
        let flat = try CLI.run(["evaluate", "--checkpoint", moons, "--shifts", "all"])
        #expect(flat.status != 0 && flat.stderr.contains("--shifts transform images"), "\(flat.stderr)")
        let unsplit = try DistributedBenchCLITests.runMPI(ranks: 2, ["evaluate", "--checkpoint", moons])
        #expect(unsplit.status != 0 && unsplit.output.contains("pass --shifts"), "\(unsplit.output)")
    }
}
