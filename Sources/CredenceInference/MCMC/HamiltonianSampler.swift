import CredenceNN
import CredenceTensor
import Foundation

/// Several Hamiltonian chains (`HMCChain`) run side by side on the worker threads — each
/// chain's gradients then run single-threaded, which for the small full-batch problems HMC is
/// feasible on beats splitting one gradient over the cores. After every twentieth of the run
/// (all chains at the same iteration) the chains are saved to the checkpoint, so a killed run
/// resumes, bit for bit, where it was.
///
/// ```swift
/// let sampler = HamiltonianSampler(settings: HMCSettings(integrator: .nuts(maxTreeDepth: 10)), chains: 4, seed: 0)
/// let chains = try sampler.run(target: target, starts: Array(repeating: start, count: 4))
/// let draws = chains.map(\.draws)   // per chain, for split-R̂ across chains
/// ```
public struct HamiltonianSampler {
    public var settings: HMCSettings
    public var chains: Int
    public var seed: UInt64
    /// Checkpoints (and progress reports) per run.
    public var checkpoints = 20
    /// Seconds between status lines.
    public var statusInterval = 5.0
    /// The MPI job to spread the chains over (nil: this process's threads only). Chain c
    /// runs on rank c mod ranks; at every checkpoint stage the ranks send their chains'
    /// state to rank 0, which alone writes the checkpoint, reports, and returns every chain
    /// (the other ranks return theirs only). Each chain's numbers do not depend on where it
    /// runs, so the chains equal one process's.
    public var world: MPIWorld?

    public init(settings: HMCSettings, chains: Int, seed: UInt64) {
        self.settings = settings
        self.chains = chains
        self.seed = seed
    }

    /// Runs (or, from `checkpoint` with `resume`, continues) one chain from each start.
    ///
    /// - Parameters:
    ///   - fingerprint: identifies the run with the sampler's settings (or `checkpoint.identity`
    ///     in their place); a checkpoint written by another is refused.
    ///   - onStatus: a line every `statusInterval` seconds and at the end of warm-up.
    ///   - onProgress: at each of the `checkpoints` stages, just before its checkpoint is
    ///     written (as the training loop reports each epoch's end): stage k of `checkpoints` as
    ///     the epoch, the chains' mean potential per example −log π/N (`examples` = N) as the
    ///     loss, examples through the network per second.
    public func run(target: any HamiltonianTarget, starts: [[Double]], checkpoint: PhaseCheckpoint? = nil, fingerprint: String = "",
                    examples: Int = 1, onStatus: (String) -> Void = { _ in },
                    onProgress: (TrainingProgress) -> Void = { _ in }) throws -> [HMCChain] {
        try timedRun(target: target, starts: starts, checkpoint: checkpoint, fingerprint: fingerprint, examples: examples,
                     onStatus: onStatus, onProgress: onProgress).chains
    }

    /// `run`, and the seconds the chains took in all — those of the processes before a resume
    /// (kept in the checkpoint) and this one's, as the training loop counts a resumed run's time.
    public func timedRun(target: any HamiltonianTarget, starts: [[Double]], checkpoint: PhaseCheckpoint? = nil, fingerprint: String = "",
                         examples: Int = 1, onStatus: (String) -> Void = { _ in },
                         onProgress: (TrainingProgress) -> Void = { _ in }) throws -> (chains: [HMCChain], seconds: Double) {
        let start = Date()
        guard chains >= 1, starts.count == chains else {
            throw InferenceError.invalidOption("HMC needs ≥ 1 chain and one start per chain (got \(chains) chains, \(starts.count) starts)")
        }
        var state = try starts.enumerated().map { try HMCChain(settings: settings, target: target, start: $0.element, seed: seed, index: $0.offset) }
        let runKey = "\(checkpoint?.identity ?? "\(settings)") chains \(chains) seed \(seed) \(fingerprint)"
        var earlierSeconds = 0.0
        if let checkpoint, checkpoint.resume, FileManager.default.fileExists(atPath: checkpoint.path) {
            let saved = try readingResumeFile(checkpoint.path) { try SafeTensorsFile(contentsOf: checkpoint.path) }
            guard saved.metadata[PhaseCheckpoint.fingerprintKey] == runKey else {
                throw ResumeError.inconsistentState(path: checkpoint.path, reason: "it holds the chains of another run (its settings, seed, data or starting network differ)")
            }
            for c in state.indices { try state[c].restore(from: saved, path: checkpoint.path) }
            earlierSeconds = saved.metadata[PhaseCheckpoint.secondsKey].flatMap(Double.init) ?? 0
        }
        let total = state[0].totalIterations, stages = Swift.max(1, Swift.min(checkpoints, total))
        /// The iteration count at the end of stage k (1-based).
        func stageEnd(_ k: Int) -> Int { total * k / stages }
        let startGradients = state.map(\.gradientEvaluations).reduce(0, +), startIteration = state.map(\.iteration).min()!
        /// Reports stage `stage`, just finished by every chain `elapsed` seconds into this call
        /// (as the training loop reports an epoch's end), and checkpoints the chains.
        func finish(stage: Int, _ state: [HMCChain], elapsed: Double) throws {
            let mark = stageEnd(stage)
            let rate = Double(state.map(\.gradientEvaluations).reduce(0, +) - startGradients) * Double(examples) / Swift.max(elapsed, 1e-9)
            let potential = state.map { -$0.logDensity / Double(examples) }.reduce(0, +) / Double(state.count)
            onProgress(TrainingProgress(epoch: stage, epochs: stages, step: 1, stepsPerEpoch: 1, loss: potential, accuracy: nil,
                                        samplesPerSecond: rate, elapsed: elapsed,
                                        remaining: elapsed / Double(Swift.max(mark - startIteration, 1)) * Double(total - mark), isEpochEnd: true))
            guard let checkpoint else { return }
            var file = SafeTensorsFile(metadata: [PhaseCheckpoint.fingerprintKey: runKey,
                                                  PhaseCheckpoint.secondsKey: String(earlierSeconds + elapsed)])
            for chain in state { chain.save(into: &file) }
            try file.write(to: checkpoint.path)
        }
        if let world, world.size > 1 {
            let chains = try runOverRanks(world, state: state, target: target, stages: stages, stageEnd: stageEnd, finish: finish,
                                          onStatus: onStatus)
            return (chains, earlierSeconds + Date().timeIntervalSince(start))
        }
        var lastStatus = start
        var reportedWarmup = state.allSatisfy { !$0.isWarmingUp }
        while !state.allSatisfy(\.isFinished) {
            let done = state.map(\.iteration).min()!
            let stage = (1...stages).first { stageEnd($0) > done }!
            // Each chain runs to the stage's end or for about a second, then the main thread reports.
            let current = state, mark = stageEnd(stage)
            state = try Parallel.map(current.count) { c in
                var chain = current[c]
                let blockStart = Date()
                while chain.iteration < mark && Date().timeIntervalSince(blockStart) < 1 { try chain.advance(target: target) }
                return chain
            }
            let now = Date()
            let elapsed = now.timeIntervalSince(start)
            if state.allSatisfy({ $0.iteration >= mark }) { try finish(stage: stage, state, elapsed: elapsed) }
            let warmedUp = state.allSatisfy { !$0.isWarmingUp }
            let finished = state.allSatisfy(\.isFinished)
            if (warmedUp && !reportedWarmup) || now.timeIntervalSince(lastStatus) >= statusInterval || finished {
                onStatus(Self.status(state))
                lastStatus = now
                reportedWarmup = reportedWarmup || warmedUp
            }
        }
        return (state, earlierSeconds + Date().timeIntervalSince(start))
    }

    /// `run` over the ranks of `world`: each advances its chains stage by stage; rank 0
    /// gathers them at every stage's end and `finish`es the stage.
    private func runOverRanks(_ world: MPIWorld, state initial: [HMCChain], target: any HamiltonianTarget, stages: Int,
                              stageEnd: (Int) -> Int, finish: (Int, [HMCChain], Double) throws -> Void,
                              onStatus: (String) -> Void) throws -> [HMCChain] {
        var state = initial
        let tag = MPITag.hamiltonianChains.rawValue
        let owner = { (chain: Int) in chain % world.size }
        let mine = state.indices.filter { owner($0) == world.rank }
        let start = Date()
        let done = state.map(\.iteration).min()!
        for stage in (1...stages) where stageEnd(stage) > done {
            let mark = stageEnd(stage), current = state
            let advanced = try Parallel.map(mine.count) { i in
                var chain = current[mine[i]]
                while chain.iteration < mark { try chain.advance(target: target) }
                return chain
            }
            for (i, c) in mine.enumerated() { state[c] = advanced[i] }
            guard world.rank == 0 else {
                var file = SafeTensorsFile()
                for chain in advanced { chain.save(into: &file) }
                try world.send(try file.encoded(), to: 0, tag: tag)
                continue
            }
            for _ in 1..<world.size {
                let envelope = try world.wait(tag: tag, interval: 0.01)
                let file = try SafeTensorsFile(encoded: try world.receive(envelope), name: "the chains of rank \(envelope.source)")
                for c in state.indices where owner(c) == envelope.source {
                    try state[c].restore(from: file, path: "the chains of rank \(envelope.source)")
                }
            }
            try finish(stage, state, Date().timeIntervalSince(start))
            onStatus(Self.status(state))
        }
        return world.rank == 0 ? state : mine.map { state[$0] }
    }

    /// "warm-up 120/500 · ε 0.0031 / 0.0029 · …" or the sampling figures per chain.

    static func status(_ chains: [HMCChain]) -> String {
        let done = chains.map(\.iteration).min() ?? 0
        let total = chains.first?.totalIterations ?? 0
        let steps = chains.map { String(format: "%.3g", $0.stepSize) }.joined(separator: " / ")
        if chains.contains(where: \.isWarmingUp) {
            return "warm-up \(done)/\(chains.first?.settings.warmup ?? 0) · ε \(steps)"
        }
        let s = chains.map(\.statistics)
        let acceptance = s.map { String(format: "%.2f", $0.meanAcceptance) }.joined(separator: " / ")
        let leapfrogs = s.map { String(format: "%.0f", $0.meanLeapfrogSteps) }.joined(separator: " / ")
        return "iteration \(done)/\(total) · ε \(steps) · acceptance \(acceptance) · leapfrog steps \(leapfrogs) · divergences \(s.map(\.divergences).reduce(0, +))"
    }
}
