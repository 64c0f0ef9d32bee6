import ArgumentParser
import Credence

struct PerfCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perf",
        abstract: "Measure training and MC-dropout throughput on Fashion-MNIST and the GEMM ceiling (use a release build).")

    @Option(help: "Timed MLP training steps of batch 128 (430 ≈ one epoch of 55k).") var mlpSteps = 430
    @Option(help: "Timed CNN training steps of batch 128.") var cnnSteps = 150
    @Option(help: "Directory holding the Fashion-MNIST files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        var options = PerformanceOptions()
        options.mlpSteps = mlpSteps
        options.cnnSteps = cnnSteps
        options.dataDirectory = dataDir
        let report = try reportingErrors { try measurePerformance(options, log: { Terminal.error($0) }) }
        if format == .json { return try printJSON(report) }
        print(String(format: "GEMM ceiling          %10.1f GFLOP/s", report.gemmGFLOPS))
        print(String(format: "MLP training          %10.0f samples/s", report.mlpTrainingSamplesPerSecond))
        print(String(format: "CNN training          %10.0f samples/s", report.cnnTrainingSamplesPerSecond))
        print(String(format: "MC dropout inference  %10.0f images/s", report.mcDropoutImagesPerSecond))
    }
}
