import ArgumentParser
import Credence

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit a post-hoc method (\(MethodRegistry.names(phase: .postHoc).joined(separator: ", "))) on a trained checkpoint or posterior, save it, and evaluate it.",
        discussion: MethodArguments.discussion)

    @Option(name: [.customLong("checkpoint"), .customLong("posterior")], help: "Trained checkpoint or posterior file.")
    var checkpoint: String
    @OptionGroup var method: MethodArguments
    @Option(help: "Where to write the fitted posterior (safetensors).") var out: String?
    @Option(help: "Monte-Carlo samples for stochastic posteriors.") var samples = 32
    @Option(parsing: .upToNextOption, help: oodHelp, transform: OODSource.init(parsing:)) var ood: [OODSource] = []
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Output format.") var format: OutputFormat = .text

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
        guard let chosen = try method.make() else { throw ValidationError("fit needs --method (\(MethodRegistry.names(phase: .postHoc).joined(separator: ", ")))") }
        guard type(of: chosen).phase == .postHoc else {
            throw ValidationError("\(type(of: chosen).name) trains its own networks: use `credence train --method \(type(of: chosen).name)`")
        }
    }

    func run() throws {
        let chosen = try method.make()!
        let result = try reportingErrors {
            try fitPostHoc(chosen, posteriorAt: checkpoint, out: out, samples: samples, ood: ood, seed: seed,
                           onStage: { Terminal.error($0) })
        }
        if format == .json { return try printJSON(result) }
        print("\(result.method) fitted in " + String(format: "%.2f s", result.evaluation.metrics.scalability?.fitSeconds ?? 0))
        printDetails(result.details)
        printEvaluation(result.evaluation)
        if let path = result.posterior { print("posterior: \(path)") }
    }
}

/// A method's fitted scalars, one per line ("temperature 1.2345").
func printDetails(_ details: [String: Double]) {
    for (key, value) in details.sorted(by: { $0.key < $1.key }) {
        // Counts (a distillation's lessons) print as integers, fitted values to four places.
        print("  \(key) " + (value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(format: "%.4f", value)))
    }
}
