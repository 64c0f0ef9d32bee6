import ArgumentParser
import Credence
import Foundation

struct AgreementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement",
        abstract: "How closely posteriors' predictives follow a reference posterior's (HMC's): top-1 agreement and total variation on its test set.",
        discussion: """
        Izmailov et al. (2021) take full-batch HMC as the reference posterior and score approximate inference \
        by the fraction of test inputs where its predicted class agrees with HMC's and the mean total variation \
        distance ½ Σ_c |p̄_c − q̄_c| between the two predictive distributions. Every posterior must have been \
        trained on the reference's data set (classification).
        """)

    @Option(help: "The reference posterior (e.g. from `credence train --method nuts`).") var reference: String
    @Argument(help: "Posterior files (or checkpoints, read as MAP) to compare with it.") var posteriors: [String]
    @Option(help: "Use only the first N test examples.") var points: Int?
    @Option(help: "Monte-Carlo samples for stochastic posteriors.") var samples = 32
    @Option(help: "Random seed of the Monte-Carlo samples.") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
    }

    func run() throws {
        let rows = try reportingErrors {
            try agreementWithReference(reference, posteriors: posteriors, points: points, samples: samples, dataDirectory: dataDir, seed: seed)
        }
        if format == .json { return try printJSON(rows) }
        print("against \(rows[0].method) (\(reference)), \(rows[0].agreement.examples) test examples")
        print("posterior".padding(toLength: 34, withPad: " ", startingAt: 0) + "  accuracy      NLL   agreement   total variation")
        for r in rows {
            let name = "\(r.method) (\((r.path as NSString).lastPathComponent))"
            print(name.padding(toLength: 34, withPad: " ", startingAt: 0)
                  + String(format: "  %8.4f %8.4f   %9.4f   %15.4f", r.accuracy, r.negativeLogLikelihood, r.agreement.topOneAgreement,
                           r.agreement.meanTotalVariation))
        }
    }
}
