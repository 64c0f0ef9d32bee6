@testable import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// A known target as the Hamiltonian samplers see it.
struct KnownHamiltonianTarget: HamiltonianTarget, @unchecked Sendable {
    let base: any KnownTarget
    var dimension: Int { base.dimension }
    func logDensity(at x: [Double]) throws -> (value: Double, gradient: [Double]) { (base.logDensity(x), base.gradient(x)) }
}

/// Runs the sampler on a known target from its mean (or `starts`) and returns each chain.
func sampleKnown(_ target: any KnownTarget, _ settings: HMCSettings, chains: Int = 4, seed: UInt64 = 1,
                 starts: [[Double]]? = nil) throws -> [HMCChain] {
    let sampler = HamiltonianSampler(settings: settings, chains: chains, seed: seed)
    return try sampler.run(target: KnownHamiltonianTarget(base: target), starts: starts ?? Array(repeating: target.mean, count: chains))
}

func doubleDraws(_ chains: [HMCChain]) -> [[Double]] { chains.flatMap { $0.draws.map { $0.values.map(Double.init) } } }

@Suite("Hamiltonian Monte Carlo and NUTS")
struct HMCTests {
    @Test("Stan's warm-up windows: 75 / 25, 50, 100, 200, 500 / 50 for 1000 iterations; 15 % / 75 % / 10 % when short")
    func warmupWindows() {
        #expect(WarmupWindows(warmup: 1000, adaptsMetric: true).windowEnds == [99, 149, 249, 449, 949])
        let short = WarmupWindows(warmup: 100, adaptsMetric: true)
        #expect((short.initialBuffer, short.baseWindow, short.terminalBuffer) == (15, 75, 10))
        #expect(short.windowEnds == [89])
        #expect(short.collects(15) && short.collects(89) && !short.collects(14) && !short.collects(90))
        #expect(WarmupWindows(warmup: 19, adaptsMetric: true).windowEnds.isEmpty)
        #expect(WarmupWindows(warmup: 1000, adaptsMetric: false).windowEnds.isEmpty)
    }

    @Test("dual averaging finds the step size whose acceptance is the target (acceptance exp(−ε²), known ε*)")
    func dualAveragingConverges() {
        for delta in [0.65, 0.8, 0.95] {
            var averaging = DualAveraging(targetAcceptance: delta, initialStepSize: 0.01)
            var epsilon = 0.01
            for _ in 0..<2000 { epsilon = averaging.update(acceptance: exp(-epsilon * epsilon)) }
            let best = (-log(delta)).squareRoot()
            #expect(abs(averaging.finalStepSize / best - 1) < 0.02, "δ \(delta): ε̄ \(averaging.finalStepSize), ε* \(best)")
        }
    }

    @Test("after warm-up the mean acceptance statistic is at or a little above the target (ε̄ averages log ε)")
    func warmupReachesTargetAcceptance() throws {
        let target = CorrelatedGaussian(dimension: 5, conditionNumber: 4, seed: 3)
        for (integrator, delta) in [(HMCSettings.Integrator.hmc(leapfrogSteps: 10), 0.65), (.nuts(maxTreeDepth: 8), 0.8)] {
            let chains = try sampleKnown(target, HMCSettings(integrator: integrator, warmup: 300, iterations: 300, targetAcceptance: delta), chains: 2)
            for chain in chains {
                let s = chain.statistics
                #expect(s.meanAcceptance > delta - 0.05 && s.meanAcceptance < Swift.min(delta + 0.25, 0.97),
                        "\(integrator): mean acceptance \(s.meanAcceptance), target \(delta)")
                #expect(s.divergences == 0)
            }
        }
    }

    @Test("NUTS recovers the exact posterior of Bayesian linear regression (correlated weights), 4 chains")
    func nutsRecoversLinearRegression() throws {
        let target = BayesianLinearRegressionTarget(features: 4, count: 60, alpha: 1, beta: 4, seed: 5, featureCorrelation: 0.8)
        let chains = try sampleKnown(target, HMCSettings(integrator: .nuts(maxTreeDepth: 10), warmup: 200, iterations: 500))
        // 2000 draws of near-independent NUTS: the mean's Monte-Carlo error is ≈ 0.02 sd.
        expectRecovers(doubleDraws(chains), target, meanTolerance: 0.08, covarianceTolerance: 0.1)
    }

    @Test("static HMC recovers the same posterior")
    func hmcRecoversLinearRegression() throws {
        let target = BayesianLinearRegressionTarget(features: 4, count: 60, alpha: 1, beta: 4, seed: 5, featureCorrelation: 0.8)
        let chains = try sampleKnown(target, HMCSettings(integrator: .hmc(leapfrogSteps: 20), warmup: 200, iterations: 500, targetAcceptance: 0.65))
        expectRecovers(doubleDraws(chains), target, meanTolerance: 0.1, covarianceTolerance: 0.12)
    }

    @Test("NUTS recovers an ill-conditioned correlated Gaussian (κ = 100, 8 dimensions) and the banana")
    func nutsRecoversHardTargets() throws {
        let gaussian = CorrelatedGaussian(dimension: 8, conditionNumber: 100, seed: 7)
        let g = try sampleKnown(gaussian, HMCSettings(integrator: .nuts(maxTreeDepth: 10), warmup: 300, iterations: 500))
        expectRecovers(doubleDraws(g), gaussian, meanTolerance: 0.1, covarianceTolerance: 0.12)
        let banana = Banana(a: 1, b: 1)
        let b = try sampleKnown(banana, HMCSettings(integrator: .nuts(maxTreeDepth: 10), warmup: 300, iterations: 1000))
        expectRecovers(doubleDraws(b), banana, meanTolerance: 0.1, covarianceTolerance: 0.15)
        #expect(b.map(\.statistics.divergences).reduce(0, +) < 20)
    }

    @Test("split-R̂ across chains is ≈ 1 for mixed chains and flags chains stuck in different modes")
    func rHatAcrossChains() throws {
        let gaussian = CorrelatedGaussian(dimension: 3, conditionNumber: 2, seed: 2)
        let mixed = try sampleKnown(gaussian, HMCSettings(integrator: .nuts(maxTreeDepth: 8), warmup: 200, iterations: 500))
        let first = mixed.map { $0.draws.map { Double($0.values[0]) } }
        #expect(try ChainDiagnostics.rHat(first) < 1.01)
        #expect(try ChainDiagnostics.bulkEffectiveSampleSize(first) > 400)
        // Two modes 20 sd apart: chains started in each never cross.
        let modes = TwoModes(separation: 20)
        let stuck = try sampleKnown(modes, HMCSettings(integrator: .nuts(maxTreeDepth: 8), warmup: 200, iterations: 300),
                                    starts: [[-10], [-10], [10], [10]])
        #expect(try ChainDiagnostics.rHat(stuck.map { $0.draws.map { Double($0.values[0]) } }) > 1.5)
    }

    @Test("a step size far too large diverges, is counted, and leaves the chain where it was")
    func divergencesAreCounted() throws {
        let stiff = CorrelatedGaussian(dimension: 2, conditionNumber: 1, seed: 1)
        let scaled = ScaledTarget(base: stiff, scale: 100)  // standard deviations 0.01
        for integrator in [HMCSettings.Integrator.hmc(leapfrogSteps: 5), .nuts(maxTreeDepth: 5)] {
            let chains = try sampleKnown(scaled, HMCSettings(integrator: integrator, warmup: 0, iterations: 20, initialStepSize: 10), chains: 1,
                                         starts: [scaled.mean])
            let s = chains[0].statistics
            #expect(s.divergences == 20, "\(integrator): \(s)")
            #expect(chains[0].draws.allSatisfy { $0.values == scaled.mean.map { Float($0) } })
        }
    }

    @Test("a chain saved mid-run and restored continues bit for bit")
    func resumeIsExact() throws {
        let target = KnownHamiltonianTarget(base: Banana(a: 1, b: 1))
        let settings = HMCSettings(integrator: .nuts(maxTreeDepth: 6), warmup: 60, iterations: 40)
        var whole = try HMCChain(settings: settings, target: target, start: [0.1, 0.2], seed: 4, index: 1)
        while !whole.isFinished { try whole.advance(target: target) }
        for stop in [10, 59, 61, 80] {
            var first = try HMCChain(settings: settings, target: target, start: [0.1, 0.2], seed: 4, index: 1)
            for _ in 0..<stop { try first.advance(target: target) }
            var file = SafeTensorsFile(metadata: [:])
            first.save(into: &file)
            var resumed = try HMCChain(settings: settings, target: target, start: [0.1, 0.2], seed: 4, index: 1)
            try resumed.restore(from: file, path: "chain.safetensors")
            while !resumed.isFinished { try resumed.advance(target: target) }
            #expect(resumed.draws == whole.draws, "stopped after \(stop)")
            #expect(resumed.statistics == whole.statistics)
        }
    }

    @Test("the sampler's checkpoint resumes its chains and refuses another run's")
    func samplerCheckpoint() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hmc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("chains.safetensors").path
        let target = KnownHamiltonianTarget(base: Banana(a: 1, b: 1))
        let settings = HMCSettings(integrator: .nuts(maxTreeDepth: 6), warmup: 40, iterations: 30)
        let sampler = HamiltonianSampler(settings: settings, chains: 2, seed: 9)
        let starts = [[0.0, 0.0], [0.5, 0.5]]
        let plain = try sampler.run(target: target, starts: starts)
        let saved = try sampler.run(target: target, starts: starts, checkpoint: PhaseCheckpoint(path: path, resume: true))
        let resumed = try sampler.run(target: target, starts: starts, checkpoint: PhaseCheckpoint(path: path, resume: true))
        #expect(plain.map(\.draws) == saved.map(\.draws))
        #expect(resumed.map(\.draws) == saved.map(\.draws))
        let other = HamiltonianSampler(settings: settings, chains: 2, seed: 10)
        #expect(throws: ResumeError.self) { try other.run(target: target, starts: starts, checkpoint: PhaseCheckpoint(path: path, resume: true)) }
        // With an identity (a bench run's), the file names it in place of the settings' description.
        let named = directory.appendingPathComponent("named.safetensors").path
        _ = try sampler.run(target: target, starts: starts, checkpoint: PhaseCheckpoint(path: named, resume: true, identity: "run 77 phase chains"))
        let key = try #require(try SafeTensorsFile(contentsOf: named).metadata[PhaseCheckpoint.fingerprintKey])
        #expect(key.hasPrefix("run 77 phase chains chains 2 seed 9") && !key.contains("HMCSettings"), "\(key)")
        #expect(try sampler.run(target: target, starts: starts, checkpoint: PhaseCheckpoint(path: named, resume: true, identity: "run 77 phase chains"))
            .map(\.draws) == saved.map(\.draws))
        // A resumed run's time includes the earlier processes' (as the training loop counts it).
        var file = try SafeTensorsFile(contentsOf: path)
        file.metadata[PhaseCheckpoint.secondsKey] = "1000"
        try file.write(to: path)
        let timed = try sampler.timedRun(target: target, starts: starts, checkpoint: PhaseCheckpoint(path: path, resume: true))
        #expect(timed.chains.map(\.draws) == saved.map(\.draws))
        #expect(timed.seconds >= 1000 && timed.seconds < 1100, "\(timed.seconds)")
    }

    @Test("a start outside the support and impossible settings are refused with what to change")
    func refusals() throws {
        let target = KnownHamiltonianTarget(base: Banana())
        #expect(throws: InferenceError.self) { try HMCChain(settings: HMCSettings(integrator: .nuts(maxTreeDepth: 5)), target: target, start: [.nan, 0], seed: 0, index: 0) }
        #expect(throws: InferenceError.self) { try HMCSettings(integrator: .hmc(leapfrogSteps: 0)).validate() }
        #expect(throws: InferenceError.self) { try HMCSettings(integrator: .nuts(maxTreeDepth: 5), iterations: 5, thinning: 10).validate() }
        #expect(throws: InferenceError.self) { try HMCSettings(integrator: .nuts(maxTreeDepth: 5), targetAcceptance: 1).validate() }
        // 4 chains × 5,000 kept networks of the 670k-weight MLP (54 GB) are refused before any work.
        var options = TrainingOptions()
        options.dataset = .fashionMNIST
        let nuts = try MethodRegistry.make("nuts", inputs: [("iterations", .number(5000, text: "5000"))])
        #expect { try nuts.validate(MethodContext(options: options)) } throws: { ($0 as? InferenceError).map { "\($0)".contains("raise thinning") } ?? false }
    }
}

@Suite("Sampler posteriors keep their chains")
struct ChainPosteriorArchiveTests {
    /// Chains and per-chain statistics survive the archive; a damaged statistics setting or a
    /// chain count that does not divide the samples is refused by name.
    @Test func chainsAndStatisticsRoundTrip() throws {
        let model = try Sequential(.mlp(inputShape: [2], hidden: [3], outputs: 2))
        var rng = RandomGenerator(seed: 1)
        let members = (0..<6).map { _ in model.initialParameters(rng: &rng) }
        let statistics = (0..<2).map { c in
            HMCChainStatistics(stepSize: 0.1 * Double(c + 1), meanAcceptance: 0.8, divergences: c, warmupDivergences: 3, meanLeapfrogSteps: 15,
                               meanTreeDepth: 3.9, maxDepthHits: 0, gradientEvaluations: 900)
        }
        let posterior = try EnsemblePosterior(model: model, members: members, task: .classification, method: "nuts", chainCount: 2,
                                              samplerStatistics: statistics)
        #expect(posterior.chains.map(\.count) == [3, 3] && posterior.chains[1][0] == members[3])
        let restored = try EnsemblePosterior(archive: posterior.archive())
        #expect(restored.chainCount == 2 && restored.samplerStatistics == statistics && restored.members == members)
        var damaged = try posterior.archive()
        damaged.settings["samplerStatistics"] = "{not json"
        #expect(throws: InferenceError.self) { try EnsemblePosterior(archive: damaged) }
        #expect(throws: InferenceError.self) { try EnsemblePosterior(model: model, members: members, task: .classification, method: "nuts", chainCount: 4) }
        // An SG-MCMC posterior (one chain, no statistics) writes neither setting.
        let single = try EnsemblePosterior(model: model, members: members, task: .classification, method: "sgld").archive()
        #expect(single.settings["chains"] == nil && single.settings["samplerStatistics"] == nil)
    }
}

/// ½N(−s/2, 1) + ½N(s/2, 1) in one dimension: two modes no gradient-based chain crosses for
/// large s. Mean 0, variance 1 + s²/4.
struct TwoModes: KnownTarget {
    let separation: Double
    var dimension: Int { 1 }
    var mean: [Double] { [0] }
    var covariance: [[Double]] { [[1 + separation * separation / 4]] }
    func logDensity(_ x: [Double]) -> Double {
        let a = -(x[0] + separation / 2) * (x[0] + separation / 2) / 2, b = -(x[0] - separation / 2) * (x[0] - separation / 2) / 2
        return logSumExp(a, b) - log(2) - 0.5 * log(2 * Double.pi)
    }
    func gradient(_ x: [Double]) -> [Double] {
        let a = -(x[0] + separation / 2) * (x[0] + separation / 2) / 2, b = -(x[0] - separation / 2) * (x[0] - separation / 2) / 2
        let wa = exp(a - logSumExp(a, b))
        return [-wa * (x[0] + separation / 2) - (1 - wa) * (x[0] - separation / 2)]
    }
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] {
        (0..<count).map { _ in [standardNormal(&rng) + (rng.uniformDouble() < 0.5 ? -1 : 1) * separation / 2] }
    }
}

/// `base` with every coordinate divided by `scale` around its mean: standard deviations shrink by it.
struct ScaledTarget: KnownTarget {
    let base: CorrelatedGaussian, scale: Double
    var dimension: Int { base.dimension }
    var mean: [Double] { base.mean }
    var covariance: [[Double]] { base.covariance.map { $0.map { $0 / (scale * scale) } } }
    func unscaled(_ x: [Double]) -> [Double] { zip(x, mean).map { ($0 - $1) * scale + $1 } }
    func logDensity(_ x: [Double]) -> Double { base.logDensity(unscaled(x)) }
    func gradient(_ x: [Double]) -> [Double] { base.gradient(unscaled(x)).map { $0 * scale } }
    func exactSamples(_ count: Int, rng: inout RandomGenerator) -> [[Double]] { [] }
}
