import ArgumentParser
import Credence

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a checkpoint on a data set's test split.")

    @Option(help: "Checkpoint file (safetensors) written by `credence train`.") var checkpoint: String
    @Option(help: "Data set (default: the one recorded in the checkpoint).") var dataset: DatasetName?
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let summary = try reportingErrors {
            try evaluateCheckpoint(at: checkpoint, dataset: dataset, dataDirectory: dataDir)
        }
        if format == .json { try printJSON(summary) } else { printSummary(summary) }
    }
}
