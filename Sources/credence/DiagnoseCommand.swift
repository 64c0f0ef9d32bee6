import ArgumentParser
import Credence
import Foundation

struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Convergence diagnostics of a sampler's chains (SG-MCMC, HMC, NUTS): split-R̂ and bulk/tail effective sample size of random projections of θ and of predictions at test points.",
        discussion: """
        R̂ above 1.01 or an effective sample size of a few dozen says the chains have not mixed: their samples \
        describe a part of the posterior, not all of it (Vehtari et al. 2021). R̂ compares the chains of an HMC or \
        NUTS run; an SG-MCMC run has one chain, whose two halves serve as the two chains of R̂. For HMC and NUTS \
        the step size, acceptance, divergences and trajectory lengths of each chain follow.
        """)

    @Option(name: [.customLong("posterior")], help: "A posterior file from `credence train --method sgld|psgld|sghmc|csgld|csghmc|hmc|nuts`.")
    var posterior: String
    @Option(help: "Random projections of the parameters followed.") var projections = 8
    @Option(help: "Test points whose predicted class's probability (regression: predicted mean) is followed.") var points = 5
    @Option(help: "Seed of the projections.") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let diagnosis = try reportingErrors {
            try diagnosePosteriorFile(at: posterior, projections: projections, points: points, seed: seed, dataDirectory: dataDir)
        }
        if format == .json { return try printJSON(diagnosis) }
        let chains = diagnosis.chains ?? 1
        print("\(diagnosis.method): \(chains > 1 ? "\(chains) chains" : "one chain"), \(diagnosis.samples) samples")
        print("quantity".padding(toLength: 34, withPad: " ", startingAt: 0) + "     R̂   bulk ESS   tail ESS")
        for q in diagnosis.quantities {
            print(q.quantity.padding(toLength: 34, withPad: " ", startingAt: 0)
                  + (q.rHat.map { String(format: "%7.3f", $0) } ?? "      —")
                  + String(format: " %10.1f %10.1f", q.bulkEffectiveSampleSize, q.tailEffectiveSampleSize))
        }
        for (c, s) in (diagnosis.sampler ?? []).enumerated() {
            print(String(format: "chain %d: ε %.4g, acceptance %.3f, %d divergences (%d in warm-up), %.1f leapfrog steps per iteration, tree depth %.2f, %d at the maximum depth, %d gradients",
                         c + 1, s.stepSize, s.meanAcceptance, s.divergences, s.warmupDivergences, s.meanLeapfrogSteps, s.meanTreeDepth,
                         s.maxDepthHits, s.gradientEvaluations)
                  + (s.denseMetricShrinkage.map { String(format: ", dense metric (shrinkage λ* %.3f)", $0) } ?? ""))
        }
        for warning in diagnosis.warnings { Terminal.error("warning: " + warning) }
    }
}
