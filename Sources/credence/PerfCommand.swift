import ArgumentParser
import Credence

extension PerformancePart: ExpressibleByArgument {}

struct PerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Measure training, VI, SG-MCMC, MC-dropout and PGD throughput on Fashion-MNIST, HMC's full-batch gradients and the GEMM ceiling (use a release build).")

    @Option(parsing: .upToNextOption, help: "Parts to measure (default: all).") var parts: [PerformancePart] = PerformancePart.allCases
    @Option(help: "Timed MLP training steps of batch 128 (840 ≈ two epochs of 55k, as the reference).") var mlpSteps = 840
    @Option(help: "Timed CNN training steps of batch 128.") var cnnSteps = 150
    @Option(help: "Directory holding the Fashion-MNIST files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        var options = PerformanceOptions()
        options.parts = Set(parts)
        options.mlpSteps = mlpSteps
        options.cnnSteps = cnnSteps
        options.dataDirectory = dataDir
        let report = try reportingErrors { try measurePerformance(options, log: { Terminal.error($0) }) }
        if format == .json { return try printJSON(report) }
        func line(_ name: String, _ value: Double?, _ unit: String) {
            if let value { print(name.padding(toLength: 22, withPad: " ", startingAt: 0) + String(format: "%10.1f ", value) + unit) }
        }
        print("BLAS kernel".padding(toLength: 22, withPad: " ", startingAt: 0)
              + "\(report.blasKernel ?? "?") (\(report.blasKernelReason ?? "?")); \(report.threads) threads")
        print("CPU".padding(toLength: 22, withPad: " ", startingAt: 0) + (report.cpu ?? "?"))
        line("GEMM ceiling", report.gemmGFLOPS, "GFLOP/s")
        line("  kernel peak", report.peakGEMMGFLOPS, "GFLOP/s (cores × clock × FLOPs/cycle)")
        line("MLP training", report.mlpTrainingSamplesPerSecond, "samples/s")
        if let ceiling = report.mlpCeilingSamplesPerSecond, let fraction = report.mlpFractionOfCeiling {
            line("  GEMM-bound ceiling", ceiling, String(format: "samples/s (%.1f MFLOP/sample); reached %.0f %%",
                                                        PerformanceReport.mlpTrainingFLOPsPerSample / 1e6, 100 * fraction))
        }
        line("CNN training", report.cnnTrainingSamplesPerSecond, "samples/s")
        for (name, label) in [("lenet5", "LeNet-5 training"), ("resnet20", "ResNet-20 training"), ("densenet", "DenseNet-BC-40 training")] {
            line(label, report.architectureTrainingSamplesPerSecond?[name], "samples/s")
        }
        line("MC dropout inference", report.mcDropoutImagesPerSecond, "images/s")
        line("PGD-10 attack", report.pgdImagesPerSecond, "images/s")
        func interleaved(_ name: String, _ samplesPerSecond: Double, _ ratios: [Double]?, _ middle: Double?) {
            var unit = "samples/s"
            if let ratios, let middle {
                unit += String(format: " (%.2f× MAP, median of %d interleaved rounds: ", middle, ratios.count)
                    + ratios.map { String(format: "%.2f", $0) }.joined(separator: ", ") + ")"
            }
            line(name, samplesPerSecond, unit)
        }
        for (estimator, samplesPerSecond) in (report.variationalTrainingSamplesPerSecond ?? [:]).sorted(by: { $0.key < $1.key }) {
            interleaved("VI training, " + (estimator == "flipout" ? "Flipout" : "local"), samplesPerSecond, report.variationalRatiosToMAP?[estimator],
                        report.variationalMedianRatioToMAP[estimator])
        }
        for (sampler, samplesPerSecond) in (report.samplerStepSamplesPerSecond ?? [:]).sorted(by: { $0.key < $1.key }) {
            interleaved(sampler.uppercased().replacingOccurrences(of: "PSGLD", with: "pSGLD") + " step", samplesPerSecond, report.samplerRatiosToMAP?[sampler],
                        report.samplerMedianRatioToMAP[sampler])
        }
        for (task, gradientsPerSecond) in (report.hamiltonianGradientsPerSecond ?? [:]).sorted(by: { $0.key < $1.key }) {
            line("HMC " + task, gradientsPerSecond, "log-posterior gradients/s (full batch, one chain per thread)")
        }
        for warning in report.warnings { Terminal.error("warning: \(warning)") }
    }
}
