import Credence
import Foundation
import Testing

/// `mpirun -np 2 credence train`: data-parallel training over ranks equals one process with
/// as many threads, bit for bit; it resumes after a kill; mismatched ranks are refused; an
/// ensemble's members trained over ranks make the posterior one process makes.
@Suite(.serialized) struct DistributedTrainingCLITests {
    /// Two moons with dropout, so the shards' random streams matter too.
    static func arguments(out: String, epochs: Int = 4) -> [String] {
        ["train", "--dataset", "two-moons", "--hidden", "32,32", "--dropout", "0.1", "--epochs", String(epochs),
         "--batch-size", "64", "--out", out, "--format", "json"]
    }

    static func checkpoint(_ path: String) throws -> (parameters: [Float], history: String?) {
        let c = try Checkpoint.load(from: path)
        return (c.parameters.values, c.metadata["credence.loss_history"])
    }

    @Test func twoRanksTrainWhatOneProcessWithTwoThreadsTrains() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let single = dir.appendingPathComponent("single.safetensors").path
        let alone = try CLI.run(Self.arguments(out: single), environment: ["CREDENCE_THREADS": "2"])
        #expect(alone.status == 0, "\(alone.stderr)")

        let distributed = dir.appendingPathComponent("ranks.safetensors").path
        let run = try DistributedBenchCLITests.runMPI(ranks: 2, Self.arguments(out: distributed))
        #expect(run.status == 0, "\(run.output)")
        #expect(run.output.contains("data parallel over 2 ranks × 1 thread(s)"), "\(run.output)")
        // Rank 0 alone prints its one JSON object.
        #expect(run.output.components(separatedBy: "\"samplesPerSecond\"").count == 2, "\(run.output)")

        let a = try Self.checkpoint(single), b = try Self.checkpoint(distributed)
        #expect(a.parameters == b.parameters, "parameters differ")
        #expect(a.history == b.history && a.history != nil)
    }

    /// Batch normalization: each rank's shard normalised with its own statistics, every shard's
    /// statistics gathered and merged in shard order — parameters and running statistics equal
    /// one process's with two threads (one step of ResNet-20 on 64 images).
    @Test func dataParallelBatchNormalizationEqualsOneProcessWithTwoThreads() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func arguments(_ out: String) -> [String] {
            ["train", "--dataset", "shapes", "--model", "resnet20", "--train-limit", "64", "--batch-size", "64", "--epochs", "1",
             "--out", out, "--format", "json"]
        }
        let single = dir.appendingPathComponent("single.safetensors").path
        #expect(try CLI.run(arguments(single), environment: ["CREDENCE_THREADS": "2"]).status == 0)
        let distributed = dir.appendingPathComponent("ranks.safetensors").path
        let run = try DistributedBenchCLITests.runMPI(ranks: 2, arguments(distributed))
        #expect(run.status == 0, "\(run.output)")
        let a = try SafeTensorsFile(contentsOf: single), b = try SafeTensorsFile(contentsOf: distributed)
        #expect(a.names.filter { $0.hasSuffix("running_mean") }.count == 21 && a.names == b.names)
        for name in a.names { #expect(a[name]?.values == b[name]?.values, "\(name) differs") }
    }

    @Test func aKilledDataParallelRunResumesToTheUninterruptedResult() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let uninterrupted = dir.appendingPathComponent("whole.safetensors").path
        let whole = try DistributedBenchCLITests.runMPI(ranks: 2, Self.arguments(out: uninterrupted, epochs: 40))
        #expect(whole.status == 0, "\(whole.output)")

        let killed = dir.appendingPathComponent("killed.safetensors").path
        let job = try DistributedBenchCLITests.mpiProcess(ranks: 2, Self.arguments(out: killed, epochs: 40) + ["--resume"])
        var epochAtKill: Int?
        let deadline = Date().addingTimeInterval(120)
        while job.isRunning, Date() < deadline {
            if let epoch = try CLI.checkpointEpoch(killed), epoch >= 1, let rank0 = DistributedBenchCLITests.pid(ofRank: 0, database: killed) {
                kill(rank0, SIGKILL)
                epochAtKill = epoch
                break
            }
            usleep(2_000)
        }
        job.waitUntilExit()
        let epoch = try #require(epochAtKill, "the run ended before a kill")
        #expect(epoch < 40, "killed after the last epoch")
        #expect(job.terminationStatus != 0)

        let resumed = try DistributedBenchCLITests.runMPI(ranks: 2, Self.arguments(out: killed, epochs: 40) + ["--resume"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(resumed.output.contains("resuming from epoch"), "\(resumed.output)")
        #expect(try Self.checkpoint(killed).parameters == Self.checkpoint(uninterrupted).parameters)
    }

    @Test func ranksWithDifferentThreadCountsAreRefused() throws {
        let mpirun = try #require(DistributedBenchCLITests.mpirun)
        let binary = try #require(CLI.binary).path
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("x.safetensors").path
        let (status, text) = try CLI.runTool(mpirun, ["--allow-run-as-root", "--oversubscribe", "-np", "1", "-x", "CREDENCE_THREADS=1", binary]
            + Self.arguments(out: out) + [":", "-np", "1", "-x", "CREDENCE_THREADS=2", binary] + Self.arguments(out: out))
        #expect(status != 0)
        #expect(text.contains("different thread counts") && text.contains("CREDENCE_THREADS"), "\(text)")
    }

    /// `credence arguments(out)` as one process with one thread, and on 2 ranks: their outputs
    /// and the files they wrote.
    static func aloneAndOverRanks(_ arguments: (String) -> [String], in dir: URL) throws
        -> (alone: CLI.Output, ranks: (status: Int32, output: String), aloneFile: SafeTensorsFile, ranksFile: SafeTensorsFile) {
        let single = dir.appendingPathComponent("single.safetensors").path
        let alone = try CLI.run(arguments(single), environment: ["CREDENCE_THREADS": "1"])
        #expect(alone.status == 0, "\(alone.stderr)")
        let distributed = dir.appendingPathComponent("ranks.safetensors").path
        let run = try DistributedBenchCLITests.runMPI(ranks: 2, arguments(distributed))
        #expect(run.status == 0, "\(run.output)")
        return (alone, run, try SafeTensorsFile(contentsOf: single), try SafeTensorsFile(contentsOf: distributed))
    }

    @Test func anEnsembleTrainedOverRanksIsTheEnsembleOneProcessTrains() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func arguments(_ out: String) -> [String] {
            ["train", "--method", "ensemble", "--set", "members=3", "--dataset", "two-moons", "--hidden", "16",
             "--epochs", "5", "--out", out, "--format", "json"]
        }
        let (alone, run, a, b) = try Self.aloneAndOverRanks(arguments, in: dir)
        #expect(run.output.contains("3 members over 2 ranks") && run.output.contains("member 2/3 on rank 1"), "\(run.output)")
        for m in 0..<3 {
            let name = "member.\(m)"
            #expect(a[name] != nil && a[name]?.values == b[name]?.values, "member \(m) differs")
        }
        let accuracy = { (text: String) -> Double? in
            let start = try #require(text.firstIndex(of: "{"))
            let object = try JSONSerialization.jsonObject(with: Data(text[start...].utf8)) as? [String: Any]
            return try CLI.classification(object?["evaluation"] as? [String: Any])["accuracy"] as? Double
        }
        #expect(try accuracy(alone.stdout) == accuracy(run.output))

        let one = try DistributedBenchCLITests.runMPI(ranks: 2, ["train", "--method", "swag", "--dataset", "two-moons"])
        #expect(one.status != 0 && one.output.contains("run swag as one process"), "\(one.output)")
    }

    @Test func nutsChainsOverRanksAreTheChainsOneProcessRuns() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func arguments(_ out: String) -> [String] {
            ["train", "--method", "nuts", "--set", "chains=3", "--set", "warmup=20", "--set", "iterations=10", "--set", "maxTreeDepth=4",
             "--dataset", "two-moons", "--hidden", "8", "--epochs", "3", "--out", out, "--format", "json"]
        }
        let (_, run, a, b) = try Self.aloneAndOverRanks(arguments, in: dir)
        #expect(run.output.contains("nuts chains over 2 ranks"), "\(run.output)")
        #expect(a.names.count == 30 && a.names == b.names, "3 chains × 10 draws: \(a.names.count)")
        for name in a.names { #expect(a[name]?.values == b[name]?.values, "\(name) differs") }
        let statistics = "credence.posterior.setting.samplerStatistics"
        #expect(a.metadata[statistics] != nil && a.metadata[statistics] == b.metadata[statistics])
    }

    @Test func nutsChainsOverRanksResumeAfterAKillToTheUninterruptedDraws() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        func arguments(_ out: String) -> [String] {
            ["train", "--method", "nuts", "--set", "chains=3", "--set", "warmup=40", "--set", "iterations=40", "--set", "maxTreeDepth=5",
             "--dataset", "two-moons", "--hidden", "8", "--epochs", "3", "--out", out, "--resume", "--format", "json"]
        }
        let whole = dir.appendingPathComponent("whole.safetensors").path
        #expect(try DistributedBenchCLITests.runMPI(ranks: 2, arguments(whole)).status == 0)

        let killed = dir.appendingPathComponent("killed.safetensors").path
        let chains = dir.appendingPathComponent("killed.nuts-chains.member-0.safetensors").path
        let job = try DistributedBenchCLITests.mpiProcess(ranks: 2, arguments(killed))
        var killedAt: Int?
        let deadline = Date().addingTimeInterval(120)
        while job.isRunning, Date() < deadline {
            if FileManager.default.fileExists(atPath: chains), let rank0 = DistributedBenchCLITests.pid(ofRank: 0, database: killed) {
                kill(rank0, SIGKILL)
                killedAt = try SafeTensorsFile(contentsOf: chains).metadata["chain.0.counters"]?.split(separator: ",").first.flatMap { Int($0) }
                break
            }
            usleep(5_000)
        }
        #expect(DistributedBenchCLITests.waitForExit(job, seconds: 60))
        let iteration = try #require(killedAt, "the chains ended before a kill")
        #expect(iteration < 80, "killed after the last iteration")
        #expect(!FileManager.default.fileExists(atPath: killed), "no posterior before the chains end")

        #expect(try DistributedBenchCLITests.runMPI(ranks: 2, arguments(killed)).status == 0)
        let a = try SafeTensorsFile(contentsOf: whole), b = try SafeTensorsFile(contentsOf: killed)
        #expect(a.names.count == 120 && a.names == b.names)
        for name in a.names { #expect(a[name]?.values == b[name]?.values, "\(name) differs after resuming from iteration \(iteration)") }
    }
}
