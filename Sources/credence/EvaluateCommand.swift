import ArgumentParser
import Credence
import Foundation

/// The help of every `--ood` option (values: a built-in set, `mnist` for `mnist-5k`,
/// `held-out-classes`, or a file of inputs; parsed by `OODSource(parsing:)`).
let oodHelp = ArgumentHelp("OOD sets to score against: \(OODSource.names.joined(separator: ", ")), or files of inputs (.npy, .csv, IDX).",
                           valueName: "set-or-file")

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a posterior (or a plain checkpoint, as MAP) on a test set and OOD sets.")

    @Option(name: [.customLong("posterior"), .customLong("checkpoint")],
            help: "Posterior file from `credence fit`/`train`, or a checkpoint (read as MAP).") var posterior: String
    @Option(help: "Data set (default: the one recorded in the file).") var dataset: DatasetName?
    @Option(parsing: .upToNextOption, help: oodHelp, transform: OODSource.init(parsing:)) var ood: [OODSource] = []
    @Option(help: "Monte-Carlo samples for stochastic posteriors.") var samples = 32
    @Option(help: "Random seed of the Monte-Carlo samples.") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
    }

    func run() throws {
        let result = try reportingErrors {
            try evaluatePosteriorFile(at: posterior, dataset: dataset, ood: ood, samples: samples,
                                      dataDirectory: dataDir, seed: seed)
        }
        if format == .json { return try printJSON(result) }
        printEvaluation(result)
    }
}

func printEvaluation(_ r: PosteriorEvaluation) {
    print("\(r.method) on \(r.dataset) (\(r.metrics.examples ?? 0) examples, S = \(r.metrics.samples ?? 0))")
    printMetrics(r.metrics)
}
