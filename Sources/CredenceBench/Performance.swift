import CredenceData
import CredenceNN
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
    /// MLP with dropout 0.1, 32 MC passes per batch of 1000, images/s (median of 3).
    public var mcDropoutImagesPerSecond: Double?
    public var threads: Int
    public var mlpSteps: Int
    public var cnnSteps: Int
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
}

/// How much work `measurePerformance` does.
public struct PerformanceOptions: Sendable {
    public var parts = Set(PerformancePart.allCases)
    /// Timed MLP training steps (after `warmupSteps`); 840 ≈ two epochs of 55k, as the reference.
    public var mlpSteps = 840
    public var cnnSteps = 150
    public var warmupSteps = 20
    public var dataDirectory: String?
    public init() {}
}

/// Measures the reference workloads; `log` receives one line per finished part.
public func measurePerformance(_ options: PerformanceOptions, log: (String) -> Void = { _ in }) throws -> PerformanceReport {
    let (train, test) = try loadDataset(.fashionMNIST, options: DataOptions(directory: options.dataDirectory, trainLimit: 55_000))

    var report = PerformanceReport(threads: Parallel.workerCount, mlpSteps: options.mlpSteps, cnnSteps: options.cnnSteps)
    if options.parts.contains(.gemm) {
        report.gemmGFLOPS = measureGEMM()
        log(String(format: "GEMM 2048³: %.1f GFLOP/s", report.gemmGFLOPS!))
    }
    if options.parts.contains(.mlp) {
        let mlp = try Sequential(.mlp(inputShape: [1, 28, 28], hidden: [512, 512], outputs: 10))
        report.mlpTrainingSamplesPerSecond = try trainingThroughput(mlp, data: train, steps: options.mlpSteps, warmup: options.warmupSteps)
        log(String(format: "MLP training: %.0f samples/s", report.mlpTrainingSamplesPerSecond!))
    }
    if options.parts.contains(.cnn) {
        let cnn = try Sequential(.smallCNN())
        report.cnnTrainingSamplesPerSecond = try trainingThroughput(cnn, data: train, steps: options.cnnSteps, warmup: options.warmupSteps)
        log(String(format: "CNN training: %.0f samples/s", report.cnnTrainingSamplesPerSecond!))
    }
    if options.parts.contains(.mcDropout) {
        report.mcDropoutImagesPerSecond = try monteCarloDropoutThroughput(test.inputs)
        log(String(format: "MC dropout (32 passes, batch 1000): %.0f images/s", report.mcDropoutImagesPerSecond!))
    }
    return report
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

func measureGEMM(size n: Int = 2048) -> Double {
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

/// Samples/s of Adam training at batch 128, timing `steps` steps after `warmup` untimed ones.
func trainingThroughput(_ model: any NetworkModel, data: InMemoryDataset, steps: Int, warmup: Int) throws -> Double {
    var rng = RandomGenerator(seed: 0)
    var theta = model.initialParameters(rng: &rng)
    let trainer = Trainer(model: model, optimizer: .adam(learningRate: .constant(1e-3), parameterCount: model.parameterCount),
                          configuration: TrainingConfiguration(epochs: 1))
    var optimizer = trainer.optimizer
    Parallel.flushSubnormalsToZero()
    let order = rng.permutation(data.count)
    let stepsPerEpoch = data.count / 128
    var start = Date()
    for step in 0..<(warmup + steps) {
        if step == warmup { start = Date() }
        let s = step % stepsPerEpoch
        let batch = try data.trainingBatch(Array(order[(s * 128)..<((s + 1) * 128)]))
        let (_, _, parts) = try trainer.lossAndGradientParts(parameters: theta, batch: batch, rng: &rng)
        optimizer.update(&theta, gradientParts: parts)
    }
    return Double(steps * 128) / Date().timeIntervalSince(start)
}
