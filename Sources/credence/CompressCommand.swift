import ArgumentParser
import Credence
import Foundation

extension PruningScore: ExpressibleByArgument {}

struct CompressCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compress",
        abstract: "Prune a posterior's network and report test accuracy per fraction pruned; write a pruned checkpoint.",
        discussion: """
        A mean-field posterior (variational-dropout, vi, vi-flipout, stf-bnn) is pruned by signal-to-noise \
        ratio |μ|/σ of its Bayesian layers' weights — for variational dropout, log α = −2 log SNR, so the \
        weights with the largest dropout rates go first; a single network (map, or any checkpoint) by \
        magnitude. Biases are never pruned. Each pruned network is evaluated deterministically (its means).
        """)

    @Option(name: [.customLong("posterior"), .customLong("checkpoint")], help: "Posterior file or checkpoint.") var posterior: String
    @Option(parsing: .upToNextOption, help: "Fractions of the weights to prune, each in [0, 1].")
    var fractions: [Double] = [0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99]
    @Option(help: "Rank weights by signal-to-noise (mean-field posteriors), magnitude (one network) or fisher (either; the default depends on the file).")
    var score: PruningScore?
    @Option(help: "Training examples the Fisher information is computed on (the first N).") var fisherExamples = 10_000
    @Option(help: "Write the network pruned at --fraction here, as an ordinary checkpoint.") var out: String?
    @Option(help: "The fraction pruned in the network written to --out.") var fraction: Double?
    @Option(help: "Data set (default: the one recorded in the file).") var dataset: DatasetName?
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let report = try reportingErrors {
            try compressPosteriorFile(at: posterior, fractions: fractions, score: score, fisherExamples: fisherExamples,
                                      dataset: dataset, dataDirectory: dataDir,
                                      out: out, writeFraction: fraction)
        }
        if format == .json { return try printJSON(report) }
        print("\(report.method) on \(report.dataset): \(report.weights) weights ranked by \(report.score)")
        if let above = report.fractionWithLogAlphaAbove3 { print(String(format: "weights with log α > 3: %.2f %%", 100 * above)) }
        print("pruned    weights   accuracy   NLL      ECE")
        for row in report.rows {
            print(String(format: "%6.2f %%  %8d   %.4f     %.4f   %.4f", 100 * row.fraction, row.prunedWeights, row.accuracy,
                         row.negativeLogLikelihood, row.expectedCalibrationError))
        }
        if let written = report.written, let f = report.writtenFraction {
            print(String(format: "pruned network (%.2f %% of its weights zero): ", 100 * f) + written)
        }
    }
}
