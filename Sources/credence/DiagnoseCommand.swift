import ArgumentParser
import Credence
import Foundation

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Convergence diagnostics of an SG-MCMC posterior's chain: split-R̂ and bulk/tail effective sample size of random projections of θ and of predictive probabilities at test points.",
        discussion: """
        R̂ above 1.01 or an effective sample size of a few dozen says the chain has not mixed: its samples \
        describe a part of the posterior, not all of it (Vehtari et al. 2021). The chain's two halves serve as \
        the two chains of R̂.
        """)

    @Option(name: [.customLong("posterior")], help: "A posterior file from `credence train --method sgld|psgld|sghmc|csgld|csghmc`.")
    var posterior: String
    @Option(help: "Random projections of the parameters followed.") var projections = 8
    @Option(help: "Test points whose predicted class's probability is followed.") var points = 5
    @Option(help: "Seed of the projections.") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let diagnosis = try reportingErrors {
            try diagnosePosteriorFile(at: posterior, projections: projections, points: points, seed: seed, dataDirectory: dataDir)
        }
        if format == .json { return try printJSON(diagnosis) }
        print("\(diagnosis.method) chain of \(diagnosis.samples) samples")
        print("quantity".padding(toLength: 34, withPad: " ", startingAt: 0) + "     R̂   bulk ESS   tail ESS")
        for q in diagnosis.quantities {
            print(q.quantity.padding(toLength: 34, withPad: " ", startingAt: 0)
                  + (q.rHat.map { String(format: "%7.3f", $0) } ?? "      —")
                  + String(format: " %10.1f %10.1f", q.bulkEffectiveSampleSize, q.tailEffectiveSampleSize))
        }
        if let worst = diagnosis.worstRHat, worst > 1.01 {
            Terminal.error(String(format: "warning: R̂ up to %.3f (> 1.01): the chain has not mixed — run it longer or use more chains", worst))
        }
    }
}
