import Credence
import Foundation
import Testing

/// `credence train --resume`: an interrupted or shorter run continued to the end equals the
/// uninterrupted run bit for bit.
@Suite struct ResumeCLITests {
    func tensorBits(_ path: String) throws -> [String: [UInt32]] {
        let file = try SafeTensorsFile(contentsOf: path)
        var bits: [String: [UInt32]] = [:]
        for name in file.names { bits[name] = file[name]!.values.map(\.bitPattern) }
        return bits
    }

    /// Names of the tensors whose bits differ between two files (or that only one holds).
    func differingTensors(_ a: [String: [UInt32]], _ b: [String: [UInt32]]) -> [String] {
        Set(a.keys).union(b.keys).filter { a[$0] != b[$0] }.sorted()
    }

    @Test func twoEpochsThenResumingToFourEqualsFourEpochs() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full.safetensors").path
        let split = dir.appendingPathComponent("split.safetensors").path
        let common = ["train", "--dataset", "two-moons", "--seed", "1", "--format", "json"]
        let uninterrupted = try CLI.run(common + ["--epochs", "4", "--out", full])
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")
        let first = try CLI.run(common + ["--epochs", "2", "--out", split])
        #expect(first.status == 0, "\(first.stderr)")
        let resumed = try CLI.run(common + ["--epochs", "4", "--out", split, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming from epoch 2 of 4"), "\(resumed.stderr)")
        #expect(!resumed.stderr.contains("epoch 2/4") && resumed.stderr.contains("epoch 4/4"), "only epochs 3 and 4 are trained")

        let a = try CLI.json(uninterrupted), b = try CLI.json(resumed)
        let testA = try #require(a["test"] as? [String: Any]), testB = try #require(b["test"] as? [String: Any])
        #expect(testA["accuracy"] as? Double != nil && testA["accuracy"] as? Double == testB["accuracy"] as? Double)
        #expect(testA["negativeLogLikelihood"] as? Double == testB["negativeLogLikelihood"] as? Double)
        #expect(a["lossHistory"] as? [Double] == b["lossHistory"] as? [Double])
        #expect(b["resumedFromEpoch"] as? Int == 2 && a["resumedFromEpoch"] == nil)
        let bitsA = try tensorBits(full), bitsB = try tensorBits(split)
        #expect(bitsA.keys.contains("0.weight") && bitsA.keys.contains("optimizer.0.m"))
        #expect(differingTensors(bitsA, bitsB).isEmpty, "identical parameters and optimizer state")

        // A completed run is reported without training; other options are refused by name.
        let again = try CLI.run(common + ["--epochs", "4", "--out", split, "--resume"])
        #expect(again.status == 0 && again.stderr.contains("resuming from epoch 4 of 4"))
        #expect(!again.stderr.contains("epoch 4/4"))
        #expect((try CLI.json(again)["test"] as? [String: Any])?["accuracy"] as? Double == testA["accuracy"] as? Double)
        let other = try CLI.run(common + ["--epochs", "6", "--out", split, "--resume", "--lr", "0.01"])
        #expect(other.status != 0 && other.stderr.contains("--lr") && other.stderr.contains("0.001"), "\(other.stderr)")
        #expect(!other.stderr.contains("Fatal error"))
        let noOut = try CLI.run(["train", "--resume"])
        #expect(noOut.status != 0 && noOut.stderr.contains("--out"))
    }

    @Test(.enabled(if: fashionMNISTAvailable, "needs the dataset-fashion-mnist package"))
    func killedRunResumesToTheUninterruptedResult() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full.safetensors").path
        let killed = dir.appendingPathComponent("killed.safetensors").path
        // 32 steps per epoch; the cosine schedule and dropout make the step count and the
        // random streams matter.
        let common = ["train", "--dataset", "fashion-mnist", "--train-limit", "4096", "--epochs", "6",
                      "--hidden", "256", "--schedule", "cosine", "--dropout", "0.1", "--seed", "2", "--format", "json"]

        let (epochAtKill, process) = try CLI.killAfterFirstEpoch(common + ["--out", killed]) { try CLI.checkpointEpoch(killed) }
        let k = try #require(epochAtKill, "no checkpoint appeared before the run ended")
        #expect(process.terminationReason == .uncaughtSignal, "killed, not finished")
        #expect(k < 6)
        let saved = try #require(try CLI.checkpointEpoch(killed))
        #expect(saved >= k && saved < 6)

        let resumed = try CLI.run(common + ["--out", killed, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("resuming from epoch \(saved) of 6"), "\(resumed.stderr)")
        let uninterrupted = try CLI.run(common + ["--out", full])
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")

        let bitsFull = try tensorBits(full), bitsResumed = try tensorBits(killed)
        #expect(bitsFull.count == 4 + 2, "two layers' weights and biases, Adam's m and v")
        #expect(differingTensors(bitsFull, bitsResumed).isEmpty, "the resumed run ends bit for bit where the uninterrupted one does")
        let a = try CLI.json(uninterrupted), b = try CLI.json(resumed)
        #expect(a["lossHistory"] as? [Double] == b["lossHistory"] as? [Double])
        let testA = try #require(a["test"] as? [String: Any]), testB = try #require(b["test"] as? [String: Any])
        #expect(testA["accuracy"] as? Double == testB["accuracy"] as? Double)
    }

    /// SWAG's collection phase, killed mid-way, resumes to the uninterrupted posterior: the
    /// network is complete, the collection state (iterate, optimizer, moments) continues from
    /// its last epoch, and the posterior files are byte-identical.
    @Test(.enabled(if: fashionMNISTAvailable, "needs the dataset-fashion-mnist package"))
    func killedSWAGCollectionResumesToTheUninterruptedPosterior() throws {
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let full = dir.appendingPathComponent("full.safetensors").path
        let killed = dir.appendingPathComponent("killed.safetensors").path
        let state = dir.appendingPathComponent("killed.swag-collection.member-0.safetensors").path
        let common = ["train", "--dataset", "fashion-mnist", "--train-limit", "4096", "--epochs", "2", "--hidden", "128",
                      "--dropout", "0.1", "--seed", "3", "--method", "swag", "--set", "swagEpochs=6", "--set", "rank=4",
                      "--samples", "4", "--format", "json"]

        let (epochAtKill, process) = try CLI.killAfterFirstEpoch(common + ["--out", killed]) {
            try CLI.metadataInteger(state, "credence.phase_epoch")
        }
        let k = try #require(epochAtKill, "no collection state appeared before the run ended")
        #expect(process.terminationReason == .uncaughtSignal && k < 6, "killed mid-collection")

        let resumed = try CLI.run(common + ["--out", killed, "--resume"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(try CLI.metadataInteger(state, "credence.phase_epoch") == 6)
        // The phase is named by the method's settings and the training options — words a later
        // version of Credence writes alike — not by the description of the types holding them.
        let fingerprint = try #require(try SafeTensorsFile(contentsOf: state).metadata["credence.phase_run"])
        #expect(fingerprint.hasPrefix("train swag ") && fingerprint.contains(" rank=4 ") && fingerprint.contains(" swagEpochs=6 ")
                && fingerprint.contains(" phase swag-collection member 0 batch "), "\(fingerprint)")
        let uninterrupted = try CLI.run(common + ["--out", full])
        #expect(uninterrupted.status == 0, "\(uninterrupted.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: full)) == Data(contentsOf: URL(fileURLWithPath: killed)),
                "the resumed posterior file is the uninterrupted one, byte for byte")
    }
}
