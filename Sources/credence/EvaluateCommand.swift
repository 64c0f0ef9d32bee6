import ArgumentParser
import Credence
import Foundation

/// The help of every `--ood` option (values: a built-in set, `mnist` for `mnist-5k`,
/// `held-out-classes`, or a file of inputs; parsed by `OODSource(parsing:)`).
let oodHelp = ArgumentHelp("OOD sets to score against: \(OODSource.names.joined(separator: ", ")), or files of inputs (.npy, .csv, IDX).",
                           valueName: "set-or-file")

extension ShiftSelection: ExpressibleByArgument {}

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Evaluate a posterior (or a plain checkpoint, as MAP) on a test set, OOD sets and shifted test sets.")

    @Option(name: [.customLong("posterior"), .customLong("checkpoint")],
            help: "Posterior file from `credence fit`/`train`, or a checkpoint (read as MAP).") var posterior: String
    @Option(help: "Data set (default: the one recorded in the file).") var dataset: DatasetName?
    @Option(parsing: .upToNextOption, help: oodHelp, transform: OODSource.init(parsing:)) var ood: [OODSource] = []
    @Option(help: "Also under dataset shift (image data): all — the 81 shifted test sets of Ovadia et al.'s protocol; strongest — each of the 13 kinds at its strongest severity. Under mpirun the shifted sets are split over the ranks.")
    var shifts: ShiftSelection?
    @Option(help: "Monte-Carlo samples for stochastic posteriors.") var samples = 32
    @Option(help: "Random seed of the Monte-Carlo samples.") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
    }

    func run() throws {
        // Under mpirun the shifted test sets are dealt out over the ranks; rank 0 prints.
        let world = try sharedWorld()
        if let world, shifts == nil {
            Terminal.error("error: under mpirun (\(world.size) ranks) `credence evaluate` splits the shifted test sets over the ranks; pass --shifts all|strongest, or run it as one process")
            throw ExitCode.failure
        }
        let result = try reportingErrors {
            try evaluatePosteriorFile(at: posterior, dataset: dataset, ood: ood, shifts: shifts, samples: samples,
                                      dataDirectory: dataDir, seed: seed, world: world, onStage: Terminal.redraw)
        }
        if shifts != nil { Terminal.redraw("") }
        guard (world?.rank ?? 0) == 0 else { return }
        if format == .json { return try printJSON(result) }
        printEvaluation(result)
        printShifts(result.metrics.shift)
    }
}

/// Accuracy, NLL and ECE under shift: the corruptions' mean per severity, then each rotation
/// angle and translation distance.
func printShifts(_ points: [ShiftPoint]) {
    guard !points.isEmpty else { return }
    print("  " + "under shift (\(points.count) shifted test sets)".padding(toLength: 38, withPad: " ", startingAt: 0) + "accuracy     NLL     ECE")
    func line(_ label: String, _ group: [ShiftPoint]) {
        let n = Double(group.count)
        func mean(_ value: (ShiftPoint) -> Double) -> Double { group.map(value).reduce(0, +) / n }
        print("    " + label.padding(toLength: 34, withPad: " ", startingAt: 0)
              + String(format: "%8.4f %7.3f %7.4f", mean(\.accuracy), mean(\.negativeLogLikelihood), mean(\.expectedCalibrationError)))
    }
    let corruptions = points.filter { ShiftKind(rawValue: $0.shift)?.isCorruption ?? false }
    for severity in Set(corruptions.map(\.severity)).sorted() {
        let group = corruptions.filter { $0.severity == severity }
        line("corruptions at severity \(severity) (\(group.count))", group)
    }
    for point in points where !(ShiftKind(rawValue: point.shift)?.isCorruption ?? true) {
        line("\(point.shift) \(point.severity)" + (point.shift == ShiftKind.rotation.rawValue ? "°" : " px"), [point])
    }
}

func printEvaluation(_ r: PosteriorEvaluation) {
    print("\(r.method) on \(r.dataset) (\(r.metrics.examples ?? 0) examples, S = \(r.metrics.samples ?? 0))")
    printMetrics(r.metrics)
}
