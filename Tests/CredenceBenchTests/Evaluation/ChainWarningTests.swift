@testable import CredenceBench
import CredenceInference
import Testing

/// The warnings `diagnose` and `train --method` print under a sampler's figures.
@Suite struct ChainWarningTests {
    func diagnosis(rHat: Double?, bulk: Double, chains: Int?, divergences: Int = 0, depthHits: Int = 0) -> ChainDiagnosis {
        let statistics = HMCChainStatistics(stepSize: 0.01, meanAcceptance: 0.8, divergences: divergences, warmupDivergences: 3,
                                            meanLeapfrogSteps: 63, meanTreeDepth: 6, maxDepthHits: depthHits, gradientEvaluations: 1000)
        return ChainDiagnosis(method: "nuts", samples: 2000, chains: chains, sampler: chains == nil ? nil : [statistics, statistics],
                              quantities: [], worstRHat: rHat, smallestBulkEffectiveSampleSize: bulk, smallestTailEffectiveSampleSize: bulk)
    }

    @Test func mixedChainsGiveNoWarning() {
        #expect(diagnosis(rHat: 1.004, bulk: 812, chains: 4).warnings.isEmpty)
        // One SG-MCMC chain needs 100 effectively independent draws, not 400.
        #expect(diagnosis(rHat: 1.009, bulk: 150, chains: nil).warnings.isEmpty)
    }

    @Test func eachProblemIsNamedWithWhatToChange() {
        let warnings = diagnosis(rHat: 1.059, bulk: 93, chains: 4, divergences: 8, depthHits: 1000).warnings
        #expect(warnings.count == 4, "\(warnings)")
        #expect(warnings[0].contains("R̂ up to 1.059") && warnings[0].contains("longer"))
        #expect(warnings[1].contains("bulk ESS as low as 93.0") && warnings[1].contains("< 400"))
        #expect(warnings[2].hasPrefix("16 divergent transitions") && warnings[2].contains("targetAcceptance"))
        #expect(warnings[3].hasPrefix("2000 iterations stopped at the maximum tree depth") && warnings[3].contains("maxTreeDepth"))
        // The thresholds themselves: R̂ 1.01 and 100 per chain pass.
        #expect(diagnosis(rHat: 1.01, bulk: 400, chains: 4).warnings.isEmpty)
    }

    /// The sampler's line in `train --method` and the bench: ranges over the chains, and the
    /// dense metric's shrinkage when the chains ran one.
    @Test func theSamplerSummaryNamesTheDenseMetricsShrinkage() throws {
        var chains = try #require(diagnosis(rHat: 1.0, bulk: 900, chains: 2, depthHits: 5).sampler)
        #expect(ChainDiagnosis(method: "nuts", samples: 10, chains: 2, sampler: chains, quantities: [], worstRHat: 1, smallestBulkEffectiveSampleSize: 9,
                               smallestTailEffectiveSampleSize: 9).samplerSummary
                == "2 chains, ε 0.01, acceptance 0.80, 0 divergences, 63 leapfrog steps per iteration, 10 iterations at the maximum tree depth")
        chains[0].denseMetricShrinkage = 0.31
        chains[1].denseMetricShrinkage = 0.12
        let summary = ChainDiagnosis(method: "nuts", samples: 10, chains: 2, sampler: chains, quantities: [], worstRHat: 1,
                                     smallestBulkEffectiveSampleSize: 9, smallestTailEffectiveSampleSize: 9).samplerSummary
        #expect(summary?.hasSuffix(", dense metric on 2 (shrinkage λ* 0.120–0.310)") == true, "\(summary ?? "nil")")
    }
}
