import ArgumentParser
import Credence
import Foundation

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Render a results database as one self-contained HTML page (inline SVG; no scripts, no network).",
        discussion: """
        Writes DIR/index.html: a summary table per data set (best value per column marked), \
        reliability diagrams, accuracy/ECE/NLL versus dataset shift, OOD ROC curves, \
        accuracy–rejection curves and time/memory bars. The input is the SQLite file written by \
        `credence bench`, or a JSON array of run records (a file ending in .json).
        """)

    @Argument(help: "Results database from `credence bench` (or a .json file holding an array of run records).")
    var results: String = "credence-results/bench.sqlite"
    @Option(name: .shortAndLong, help: "Folder to write index.html into (created if missing).")
    var out: String = "credence-results/report"
    @Option(help: "Title at the top of the page.")
    var title: String = "Credence benchmark report"
    @Option(help: "Directory holding the image data set's files (for the corruption gallery).")
    var dataDir: String?
    @Flag(help: "Leave out the corruption gallery (no data set files are read).")
    var noGallery = false

    func validate() throws {
        guard !out.isEmpty else { throw ValidationError("--out must name a folder") }
    }

    func run() throws {
        let path = try reportingErrors { () throws -> String in
            let records = try loadRunRecords(results)
            let gallery = noGallery ? nil : shiftGallery(for: records, dataDirectory: dataDir)
            let written = try writeReport(records, to: out, title: title, gallery: gallery)
            Terminal.error("report: \(records.count) run\(records.count == 1 ? "" : "s") → \(written)")
            return written
        }
        print(path)
    }
}

/// Run records from a results database, or from a JSON array (`.json`), for `credence report`.
func loadRunRecords(_ path: String) throws -> [RunRecord] {
    guard path.lowercased().hasSuffix(".json") else {
        return try ResultStore(path: path, readOnly: true).records()
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ReportInputError(message: "cannot read \(path): no such file or not readable")
    }
    do {
        return try ResultStore.decoder.decode([RunRecord].self, from: data)
    } catch {
        throw ReportInputError(message: "\(path) is not a JSON array of run records: \(error)")
    }
}

/// A report input that could not be read.
struct ReportInputError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}
