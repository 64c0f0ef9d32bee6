import Foundation
import Testing

/// `credence data list` and `credence data export`.
@Suite struct DataCLITests {
    @Test func listAndExport() throws {
        let list = try CLI.run(["data", "list"])
        #expect(list.status == 0 && list.stdout.contains("fashion-mnist") && list.stdout.contains("boston-housing"), "\(list.stdout)")
        let dir = try CLI.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = dir.appendingPathComponent("moons").path
        let export = try CLI.json(try CLI.run(["data", "export", "two-moons", "--out", out, "--seed", "4", "--ood", "far", "--format", "json"]))
        let files = try #require(export["files"] as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(files == ["train-inputs.npy", "train-labels.npy", "test-inputs.npy", "test-labels.npy", "ood-far-inputs.npy"], "\(files)")
        for file in files + ["manifest.json"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file)")
        }
        let text = try CLI.run(["data", "export", "shapes", "--out", dir.appendingPathComponent("shapes").path, "--train-limit", "10",
                                "--shifts", "strongest"])
        #expect(text.status == 0 && text.stdout.contains("shift-rotation-180-inputs.npy") && text.stdout.contains("[10, 1, 28, 28]"), "\(text.stdout)")
        let flat = try CLI.run(["data", "export", "two-moons", "--out", out, "--shifts", "all"])
        #expect(flat.status != 0 && flat.stderr.contains("shifts transform images") && !flat.stderr.contains("Fatal"), "\(flat.stderr)")
    }
}
