import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceRobustness
import CredenceTensor
import Foundation

/// Throughput figures of this machine for the reference workloads (Fashion-MNIST,
/// batch 128, Adam), comparable with `shared/reference/anchor_bench.py --parts speed`.
public struct PerformanceReport: Codable, Sendable {
    /// Single-precision GEMM (2048³) through Credence's BLAS wrapper: the ceiling.
    public var gemmGFLOPS: Double?
    /// MLP 784-512-512-10 training, samples/s.
    public var mlpTrainingSamplesPerSecond: Double?
    /// Small CNN training, samples/s.
    public var cnnTrainingSamplesPerSecond: Double?
    /// Training of the architectures the literature evaluates on ("lenet5", "resnet20",
    /// "densenet"), samples/s — the models of `scripts/architecture-reference.py`.
    public var architectureTrainingSamplesPerSecond: [String: Double]?
    /// MLP with dropout 0.1, 32 MC passes per batch of 1000, images/s (median of 3).
    public var mcDropoutImagesPerSecond: Double?
    /// PGD on the MLP (L∞ ε 0.1, 10 steps of 0.01, random start) over 10,000 test images in
    /// batches of 1000, images/s (median of 3) — the reference's `pgd_attack_mlp`.
    public var pgdImagesPerSecond: Double?
    /// Mean-field VI of the same MLP (every layer Bayesian, one weight sample), samples/s, by
    /// gradient estimator ("local-reparameterization", "flipout"): the median of
    /// `variationalRounds` rounds.
    public var variationalTrainingSamplesPerSecond: [String: Double]?
    /// VI's throughput over the MAP MLP's, per estimator and round: within a round the MAP
    /// step's and each estimator's steps take turns in short blocks (`interleavedWithMAP`), so
    /// a host that slows down or speeds up (this one varies by ±20 % over seconds) moves both
    /// sides of a ratio alike.
    public var variationalRatiosToMAP: [String: [Double]]?
    /// Their median per estimator.
    public var variationalMedianRatioToMAP: [String: Double] { (variationalRatiosToMAP ?? [:]).mapValues(median) }
    /// SG-MCMC steps on the same MLP at batch 128 (the mini-batch log-posterior's gradient, the
    /// dynamics' update with its noise), samples/s by sampler ("sgld", "psgld", "sghmc"):
    /// the median of `variationalRounds` rounds interleaved with the MAP step, as for VI.
    public var samplerStepSamplesPerSecond: [String: Double]?
    /// The MAP step's time over the sampler step's (1/ratio is the step's cost in MAP steps), per round.
    public var samplerRatiosToMAP: [String: [Double]]?
    public var samplerMedianRatioToMAP: [String: Double] { (samplerRatiosToMAP ?? [:]).mapValues(median) }
    /// Full-batch log-posterior gradients per second (`NetworkLogDensity`, what every leapfrog
    /// step of HMC and NUTS costs), summed over one chain per worker thread as the samplers
    /// run them, by task ("two-moons", "regression-1d", "auto-mpg": `hamiltonianTasks`).
    public var hamiltonianGradientsPerSecond: [String: Double]?
    public var threads: Int
    public var mlpSteps: Int
    public var cnnSteps: Int
    /// The OpenBLAS kernel the figures were measured with, and why it runs (`BLASKernel.status`).
    public var blasKernel: String?
    public var blasKernelReason: String?
    public var cpu: String?
    /// What a GEMM could reach on these cores with this kernel (`BLASKernel.peakGFLOPS`).
    public var peakGEMMGFLOPS: Double?
    /// The MLP training step's bound at the measured GEMM rate: GEMM GFLOP/s over the step's
    /// FLOPs per sample (`mlpTrainingFLOPsPerSample`), and the fraction of it reached.
    public var mlpCeilingSamplesPerSecond: Double?
    public var mlpFractionOfCeiling: Double?

    /// The MLP 784-512-512-10 step's multiply-adds × 2 per sample: the forward pass, the
    /// weight gradients, and the input gradients of the two upper layers (the first layer's
    /// is not needed) — 3,209,216 FLOPs.
    public static let mlpTrainingFLOPsPerSample: Double = {
        let layers = [(784, 512), (512, 512), (512, 10)]
        let macs = layers.map { Double($0.0 * $0.1) }
        return 2 * macs.reduce(0, +) * 2 + 2 * macs.dropFirst().reduce(0, +)
    }()

    /// Warnings about the figures: a GEMM far below what the kernel should reach.
    public var warnings: [String] {
        guard let gemm = gemmGFLOPS, let peak = peakGEMMGFLOPS, gemm < 0.3 * peak else { return [] }
        return [String(format: "GEMM reached %.0f GFLOP/s, under 30%% of the %.0f ", gemm, peak)
                    + "the \(blasKernel ?? "loaded") kernel could reach on \(threads) cores — check `credence doctor` "
                    + "(is the right BLAS kernel running? is the machine busy?)"]
    }
}

/// The parts of `credence perf`.
public enum PerformancePart: String, CaseIterable, Codable, Sendable {
    /// 2048³ SGEMM: the machine's ceiling.
    case gemm
    /// MLP 784-512-512-10 training.
    case mlp
    /// Small CNN training.
    case cnn
    /// MC-dropout inference, 32 passes.
    case mcDropout = "mc-dropout"
    /// Mean-field VI training of the MLP, local reparameterization and Flipout.
    case vi
    /// PGD-10 on the MLP.
    case pgd
    /// SGLD, pSGLD and SGHMC steps of the MLP against the MAP step.
    case sgmcmc
    /// Full-batch log-posterior gradients of the small networks HMC and NUTS sample.
    case hmc
    /// LeNet-5 training.
    case lenet5
    /// ResNet-20 training (batch normalization, residual blocks).
    case resnet20
    /// DenseNet-BC-40 training.
    case densenet
}

/// How much work `measurePerformance` does.
public struct PerformanceOptions: Sendable {
    public var parts = Set(PerformancePart.allCases)
    /// Timed MLP training steps (after `warmupSteps`); 840 ≈ two epochs of 55k, as the reference.
    public var mlpSteps = 840
    public var cnnSteps = 150
    /// Timed ResNet-20 and DenseNet steps (LeNet-5 runs four times as many).
    public var architectureSteps = 30
    /// Timed steps per round of each workload that `vi` and `sgmcmc` compare with the MAP
    /// step, in `interleavingBlocks` blocks that take turns with the MAP step's.
    public var variationalSteps = 200
    public var variationalRounds = 3
    public var interleavingBlocks = 10
    public var warmupSteps = 20
    /// Timed log-density gradients per chain for `hmc`.
    public var hamiltonianEvaluations = 3000
    public var dataDirectory: String?
    public init() {}
}

/// Measures the reference workloads; `log` receives one line per finished part.
public func measurePerformance(_ options: PerformanceOptions, log: (String) -> Void = { _ in }) throws -> PerformanceReport {
    BLASKernel.warnIfSlowerKernel()
    var report = PerformanceReport(threads: Parallel.workerCount, mlpSteps: options.mlpSteps, cnnSteps: options.cnnSteps)
    (report.blasKernel, report.blasKernelReason) = BLASKernel.status
    report.cpu = CPUFeatures.current.description
    report.peakGEMMGFLOPS = BLASKernel.peakGFLOPS(cores: Parallel.workerCount)
    if options.parts.contains(.gemm) {
        report.gemmGFLOPS = measureGEMM()
        log(String(format: "GEMM 2048³: %.1f GFLOP/s", report.gemmGFLOPS!))
    }
    if !options.parts.isSubset(of: [.gemm, .hmc]) {
        let (train, test) = try loadDataset(.fashionMNIST, options: DataOptions(directory: options.dataDirectory, trainLimit: 55_000))
        try measureFashionMNISTParts(options, train: train, test: test, into: &report, log: log)
    }
    if options.parts.contains(.hmc) {
        var rates: [String: Double] = [:]
        for task in try hamiltonianTasks() {
            rates[task.name] = try hamiltonianGradientThroughput(task.target, evaluations: options.hamiltonianEvaluations)
            log(String(format: "HMC gradient (%@, %d parameters, N = %d): %.0f gradients/s", task.name, task.target.dimension,
                       task.target.posterior.datasetSize, rates[task.name]!))
        }
        report.hamiltonianGradientsPerSecond = rates
    }
    return report
}

/// The parts on Fashion-MNIST (every part but `gemm` and `hmc`).
func measureFashionMNISTParts(_ options: PerformanceOptions, train: InMemoryDataset, test: InMemoryDataset, into report: inout PerformanceReport,
                              log: (String) -> Void) throws {
    if options.parts.contains(.mlp) {
        let mlp = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10))
        report.mlpTrainingSamplesPerSecond = try trainingThroughput(mlp, data: train, steps: options.mlpSteps, warmup: options.warmupSteps)
        log(String(format: "MLP training: %.0f samples/s", report.mlpTrainingSamplesPerSecond!))
        if let gemm = report.gemmGFLOPS {
            let ceiling = gemm * 1e9 / PerformanceReport.mlpTrainingFLOPsPerSample
            report.mlpCeilingSamplesPerSecond = ceiling
            report.mlpFractionOfCeiling = report.mlpTrainingSamplesPerSecond! / ceiling
        }
    }
    if options.parts.contains(.cnn) {
        let cnn = try Sequential(.smallCNN())
        report.cnnTrainingSamplesPerSecond = try trainingThroughput(cnn, data: train, steps: options.cnnSteps, warmup: options.warmupSteps)
        log(String(format: "CNN training: %.0f samples/s", report.cnnTrainingSamplesPerSecond!))
    }
    for (part, kind) in [(PerformancePart.lenet5, ModelKind.lenet5), (.resnet20, .resnet20), (.densenet, .densenet)]
    where options.parts.contains(part) {
        var training = TrainingOptions()
        training.model = kind
        let model = try training.modelSpec(inputShape: [1, 28, 28], task: .classification(classCount: 10)).makeModel()
        let steps = options.architectureSteps * (kind == .lenet5 ? 4 : 1)
        let rate = try trainingThroughput(model, data: train, steps: steps, warmup: 5)
        report.architectureTrainingSamplesPerSecond = (report.architectureTrainingSamplesPerSecond ?? [:]).merging([kind.rawValue: rate]) { $1 }
        log(String(format: "\(kind.rawValue) training: %.0f samples/s", rate))
    }
    if options.parts.contains(.mcDropout) {
        report.mcDropoutImagesPerSecond = try monteCarloDropoutThroughput(test.inputs)
        log(String(format: "MC dropout (32 passes, batch 1000): %.0f images/s", report.mcDropoutImagesPerSecond!))
    }
    if options.parts.contains(.pgd) {
        report.pgdImagesPerSecond = try pgdThroughput(test)
        log(String(format: "PGD-10 (ε 0.1, batch 1000): %.0f images/s", report.pgdImagesPerSecond!))
    }
    if options.parts.contains(.vi) {
        let rounds = try interleavedWithMAP(data: train, options: options, candidates: [
            (WeightNoiseEstimator.localReparameterization.rawValue, { try variationalStep(.localReparameterization, data: train, rng: &$0) }),
            (WeightNoiseEstimator.flipout.rawValue, { try variationalStep(.flipout, data: train, rng: &$0) }),
        ], log: { log("VI (\($0)) training, " + $1) })
        (report.variationalTrainingSamplesPerSecond, report.variationalRatiosToMAP) = (rounds.throughput, rounds.ratios)
    }
    if options.parts.contains(.sgmcmc) {
        let rounds = try interleavedWithMAP(data: train, options: options, candidates: [
            ("sgld", { try samplerStep(LangevinDynamics(), data: train, rng: &$0) }),
            ("psgld", { try samplerStep(PreconditionedLangevinDynamics(decay: 0.99, damping: 1e-5, gradientScale: 1 / Double(train.count)),
                                        data: train, rng: &$0) }),
            ("sghmc", { try samplerStep(SGHMCDynamics(friction: 0.1), data: train, rng: &$0) }),
        ], log: { log("\($0.uppercased()) step, " + $1) })
        (report.samplerStepSamplesPerSecond, report.samplerRatiosToMAP) = (rounds.throughput, rounds.ratios)
    }
}

/// The log-posteriors of the gold-standard tasks, as `credence train --method nuts` builds
/// them (Gaussian prior of precision 1, the whole training set): two moons (1,000 points, MLP
/// 2-16-16-2, cross-entropy), the 1-D regression (1,000 points, MLP 1-16-16-2, heteroscedastic
/// Gaussian) and an Auto MPG-shaped regression (392 × 7 standard normal inputs, targets a
/// random linear function plus noise; MLP 7-16-16-1 and one learned noise variance) — the
/// same shapes as `scripts/hmc-gradient-reference.py`'s PyTorch versions.
func hamiltonianTasks() throws -> [(name: String, target: NetworkLogDensity)] {
    var rng = RandomGenerator(seed: 0)
    let moons = try loadDataset(.twoMoons, options: DataOptions()).train
    let cubic = try loadDataset(.regression1D, options: DataOptions()).train
    let inputs = Tensor.randomNormal(shape: [392, 7], rng: &rng)
    let coefficients = Tensor.randomNormal(shape: [7, 1], rng: &rng)
    let targets = try inputs.matmul(coefficients) + Tensor.randomNormal(shape: [392, 1], rng: &rng) * 0.3
    let autoMPG = try InMemoryDataset(name: "auto-mpg-shaped", inputs: inputs, targets: targets)
    var homoscedastic = ModelSpec.mlp(inputShape: [7], hidden: [16, 16], outputs: 1)
    homoscedastic.layers.append(.homoscedasticNoise(outputs: 1))
    let tasks: [(String, ModelSpec, InMemoryDataset, Predictive.Task)] = [
        ("two-moons", .mlp(inputShape: [2], hidden: [16, 16], outputs: 2), moons, .classification),
        ("regression-1d", .mlp(inputShape: [1], hidden: [16, 16], outputs: 2), cubic, .regression),
        ("auto-mpg", homoscedastic, autoMPG, .regression),
    ]
    return try tasks.map { name, spec, data, task in
        let model = try spec.makeModel()
        let posterior = try LogPosterior(model: model, objective: .default(for: task), prior: GaussianPrior(precision: 1), datasetSize: data.count)
        return (name, try NetworkLogDensity(posterior: posterior, data: data))
    }
}

/// Gradients/s of `target` at PyTorch-initialised weights: one chain per worker thread (as
/// `HamiltonianSampler` runs them), each evaluating the log-density and its gradient
/// `evaluations` times after one untimed evaluation; the total over the threads.
func hamiltonianGradientThroughput(_ target: NetworkLogDensity, evaluations: Int) throws -> Double {
    var rng = RandomGenerator(seed: 1)
    let position = target.posterior.model.initialParameters(rng: &rng).values.map(Double.init)
    _ = try target.logDensity(at: position)
    let chains = Parallel.workerCount
    let start = Date()
    _ = try Parallel.map(chains) { _ in
        for _ in 0..<evaluations { _ = try target.logDensity(at: position) }
    }
    return Double(chains * evaluations) / Date().timeIntervalSince(start)
}

/// One step of a timed workload on a batch of 128; the workload's state (θ, optimizer,
/// chain) lives in the closure, so workloads can take turns.
typealias TimedStep = (TrainingBatch, inout RandomGenerator) throws -> Void

/// The order in which `interleavedWithMAP` times its workloads within a round: `blocks`
/// blocks, each timing every workload once, the order rotated by one from block to block so
/// that no workload always runs first or always follows the same one.
func interleavingOrder(workloads: Int, blocks: Int) -> [Int] {
    (0..<blocks).flatMap { block in (0..<workloads).map { (block + $0) % workloads } }
}

/// Times the MAP MLP step (Adam) and each candidate's step in `options.variationalRounds`
/// rounds of `options.variationalSteps` steps each, every workload's steps cut into
/// `options.interleavingBlocks` blocks that take turns (`interleavingOrder`): this host's speed
/// drifts by ±20 % over seconds, and blocks a fraction of a second long put both sides of a
/// ratio under the same drift, where timing one part after another (seconds apart) did not.
/// Each workload first takes `options.warmupSteps` untimed steps. Returns the median
/// samples/s per candidate and every round's ratio to the MAP step's samples/s.
func interleavedWithMAP(data: InMemoryDataset, options: PerformanceOptions,
                        candidates: [(name: String, makeStep: (inout RandomGenerator) throws -> TimedStep)],
                        log: (_ name: String, _ line: String) -> Void) throws -> (throughput: [String: Double], ratios: [String: [Double]]) {
    let mlp = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10))
    let map: (inout RandomGenerator) throws -> TimedStep = { adamStep(mlp, rng: &$0) }
    var workloads: [(step: TimedStep, rng: RandomGenerator)] = []
    for makeStep in [map] + candidates.map(\.makeStep) {
        var rng = RandomGenerator(seed: 0)
        workloads.append((try makeStep(&rng), rng))
    }
    Parallel.flushSubnormalsToZero()
    var orderRNG = RandomGenerator(seed: 0)
    let order = orderRNG.permutation(data.count)
    var batchesTaken = Array(repeating: 0, count: workloads.count)
    func run(_ w: Int, steps: Int) throws {
        for _ in 0..<steps {
            try workloads[w].step(try timedBatch(batchesTaken[w], order: order, data: data), &workloads[w].rng)
            batchesTaken[w] += 1
        }
    }
    for w in workloads.indices { try run(w, steps: options.warmupSteps) }
    let blocks = Swift.max(1, Swift.min(options.interleavingBlocks, options.variationalSteps))
    let blockSteps = Swift.max(1, options.variationalSteps / blocks)
    var figures: [String: [Double]] = [:], ratios: [String: [Double]] = [:]
    for round in 1...Swift.max(options.variationalRounds, 1) {
        var seconds = Array(repeating: 0.0, count: workloads.count)
        for w in interleavingOrder(workloads: workloads.count, blocks: blocks) {
            let start = Date()
            try run(w, steps: blockSteps)
            seconds[w] += Date().timeIntervalSince(start)
        }
        let rates = seconds.map { Double(blocks * blockSteps * 128) / $0 }
        for (k, candidate) in candidates.enumerated() {
            let rate = rates[k + 1]
            figures[candidate.name, default: []].append(rate)
            ratios[candidate.name, default: []].append(rate / rates[0])
            log(candidate.name, String(format: "round %d: %.0f samples/s, %.2f× the MAP step's %.0f", round, rate, rate / rates[0], rates[0]))
        }
    }
    return (figures.mapValues(median), ratios)
}

/// SG-MCMC steps (`SGMCMC.update`: the mini-batch log-posterior's gradient, the dynamics'
/// update with noise) on the MLP at batch 128.
func samplerStep<D: SGMCMCDynamics>(_ dynamics: D, data: InMemoryDataset, rng: inout RandomGenerator) throws -> TimedStep {
    let mlp = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10))
    let target = try LogPosterior(model: mlp, objective: .crossEntropy(labelSmoothing: 0), prior: GaussianPrior(precision: 1),
                                  datasetSize: data.count)
    let chain = SGMCMC(target: target, dynamics: dynamics, schedule: .constant(stepSize: 1e-3 / Double(data.count), burnInSteps: 0, thinning: .max),
                       method: "perf")
    var state = try chain.initialState(model: mlp, parameters: mlp.initialParameters(rng: &rng), task: .classification, rng: &rng)
    return { batch, rng in _ = try chain.update(&state, batch: batch, rng: &rng) }
}

/// Images/s of PGD-10 (L∞ ε 0.1, step 0.01, random start) on an MLP of untrained weights (the
/// time does not depend on them) over the first 10,000 test images in batches of 1000, after
/// one untimed batch; median of 3. Every example gets its ten steps, as in the reference
/// (`stopWhenFooled` off: on untrained weights most examples are misclassified from the start).
func pgdThroughput(_ test: InMemoryDataset) throws -> Double {
    let model = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10))
    var rng = RandomGenerator(seed: 0)
    let posterior = try PointPosterior(model: model, parameters: model.initialParameters(rng: &rng), task: .classification)
    let target = AttackTarget(posterior: posterior)
    let pgd = PGD(norm: .linf, epsilon: 0.1, steps: 10, stepSize: 0.01, randomStart: true, stopWhenFooled: false)
    let n = Swift.min(10_000, test.count)
    let batches = try stride(from: 0, to: n, by: 1000).map { start in
        let rows = start..<Swift.min(start + 1000, n)
        return (try test.inputs.rows(rows), Array(test.labels[rows]))
    }
    _ = try pgd.perturb(batches[0].0, labels: batches[0].1, target: target, rng: &rng)
    var times: [Double] = []
    for _ in 0..<3 {
        let start = Date()
        for (x, y) in batches { _ = try pgd.perturb(x, labels: y, target: target, rng: &rng) }
        times.append(Date().timeIntervalSince(start))
    }
    return Double(n) / median(times)
}

/// The middle value (the mean of the two middle ones for an even count).
func median(_ values: [Double]) -> Double {
    let sorted = values.sorted(), n = sorted.count
    guard n > 0 else { return .nan }
    return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2
}

/// Mean-field VI training steps (`MeanFieldVI.update`: the ELBO's gradient through the
/// estimator, the KL, Adam) of the MLP at batch 128, every layer Bayesian, one weight sample.
func variationalStep(_ estimator: WeightNoiseEstimator, data: InMemoryDataset, rng: inout RandomGenerator) throws -> TimedStep {
    let mlp = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10))
    let vi = MeanFieldVI(datasetSize: data.count, estimator: estimator)
    var state = try vi.initialState(model: mlp, parameters: mlp.initialParameters(rng: &rng), task: .classification, rng: &rng)
    return { batch, rng in _ = try vi.update(&state, batch: batch, rng: &rng) }
}

/// Images/s of 32-pass MC dropout over `images` in batches of 1000 (median of 3 runs).
func monteCarloDropoutThroughput(_ images: Tensor) throws -> Double {
    let model = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10, dropout: 0.1))
    var rng = RandomGenerator(seed: 0)
    let theta = model.initialParameters(rng: &rng)
    let n = images.shape[0]
    var times: [Double] = []
    for _ in 0..<3 {
        let start = Date()
        for chunk in Parallel.ranges(n, parts: Swift.max(1, n / 1000)) {
            let probs = try model.monteCarloProbabilities(try images.rows(chunk), parameters: theta, samples: 32, rng: &rng)
            _ = try probs.mean(axes: [0])
        }
        times.append(Date().timeIntervalSince(start))
    }
    return Double(n) / times.sorted()[1]
}

/// GFLOP/s of an n×n×n SGEMM through Credence's BLAS wrapper (the best of four).
public func measureGEMM(size n: Int = 2048) -> Double {
    var rng = RandomGenerator(seed: 1)
    let a = Tensor.randomNormal(shape: [n, n], rng: &rng), b = Tensor.randomNormal(shape: [n, n], rng: &rng)
    var best = Double.infinity
    for _ in 0..<4 {
        let start = Date()
        _ = try? a.matmul(b)
        best = Swift.min(best, Date().timeIntervalSince(start))
    }
    return 2 * Double(n * n * n) / best / 1e9
}

/// Samples/s of Adam training at batch 128, timing `steps` steps after `warmup` untimed ones
/// (subnormals flushed, as the training loop does).
func trainingThroughput(_ model: any NetworkModel, data: InMemoryDataset, steps: Int, warmup: Int) throws -> Double {
    var rng = RandomGenerator(seed: 0)
    let step = adamStep(model, rng: &rng)
    Parallel.flushSubnormalsToZero()
    let order = rng.permutation(data.count)
    var start = Date()
    for k in 0..<(warmup + steps) {
        if k == warmup { start = Date() }
        try step(try timedBatch(k, order: order, data: data), &rng)
    }
    return Double(steps * 128) / Date().timeIntervalSince(start)
}

/// The `k`-th batch of 128 of `data` in the shuffled `order`, round after round of its whole
/// batches.
func timedBatch(_ k: Int, order: [Int], data: InMemoryDataset) throws -> TrainingBatch {
    let s = k % (data.count / 128)
    return try data.trainingBatch(Array(order[(s * 128)..<((s + 1) * 128)]))
}

/// Adam training steps of `model` (the MAP step), from its PyTorch initialisation.
func adamStep(_ model: any NetworkModel, rng: inout RandomGenerator) -> TimedStep {
    var theta = model.initialParameters(rng: &rng)
    var trainer = Trainer(model: model, optimizer: .adam(learningRate: .constant(1e-3), parameterCount: model.parameterCount),
                          configuration: TrainingConfiguration(epochs: 1))
    return { batch, rng in
        let step = try trainer.shardedStep(parameters: theta, batch: batch, rng: &rng)
        trainer.update(&theta, gradientParts: step.gradientParts)
        if !step.batchStatistics.isEmpty { trainer.model = try trainer.model.updatingBuffers(with: step.batchStatistics) }
    }
}
