import ArgumentParser
import Credence
import Foundation

struct AgreementCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agreement",
        abstract: "How closely posteriors' predictives follow a reference posterior's (HMC's) on its test set: top-1 agreement and total variation, or for regression the Wasserstein distance.",
        discussion: """
        Izmailov et al. (2021) take full-batch HMC as the reference posterior and score approximate inference \
        by the fraction of test inputs where its predicted class agrees with HMC's and the mean total variation \
        distance ½ Σ_c |p̄_c − q̄_c| between the two predictive distributions. For regression the score is the \
        mean 1-Wasserstein distance between the two predictive distributions of y per test input (the NeurIPS \
        2021 approximate-inference competition's), computed from the Gaussian mixtures' quantile functions (64 \
        equal-probability slices, no draws), with RMSE and NLL — all in the targets' own units. Every posterior \
        must have been trained on the reference's data set.
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
            try agreementWithReference(reference, posteriors: posteriors, points: points, samples: samples, dataDirectory: dataDir, seed: seed,
                                       onStage: { Terminal.error($0) })
        }
        if format == .json { return try printJSON(rows) }
        let examples = rows[0].agreement?.examples ?? rows[0].regressionAgreement?.examples ?? 0
        print("against \(rows[0].method) (\(reference)), \(examples) test examples")
        let regression = rows[0].regressionAgreement != nil
        print("posterior".padding(toLength: 34, withPad: " ", startingAt: 0)
              + (regression ? "      RMSE      NLL   Wasserstein-1" : "  accuracy      NLL   agreement   total variation"))
        for r in rows {
            let name = "\(r.method) (\((r.path as NSString).lastPathComponent))"
            let figures: String
            if let w = r.regressionAgreement, let rmse = r.rootMeanSquaredError {
                figures = String(format: "  %8.4f %8.4f   %13.4f", rmse, r.negativeLogLikelihood, w.meanWassersteinDistance)
            } else if let a = r.agreement, let accuracy = r.accuracy {
                figures = String(format: "  %8.4f %8.4f   %9.4f   %15.4f", accuracy, r.negativeLogLikelihood, a.topOneAgreement, a.meanTotalVariation)
            } else {
                figures = ""
            }
            print(name.padding(toLength: 34, withPad: " ", startingAt: 0) + figures)
        }
    }
}
