import ArgumentParser
import Credence

extension PostHocMethod: ExpressibleByArgument {}

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit a post-hoc method (temperature scaling, ...) on a trained checkpoint or posterior, save it, and evaluate it.")

    @Option(name: [.customLong("checkpoint"), .customLong("posterior")], help: "Trained checkpoint or posterior file.")
    var checkpoint: String
    @Option(help: "Post-hoc method.") var method: PostHocMethod
    @Option(help: "Where to write the fitted posterior (safetensors).") var out: String?
    @Option(help: "Monte-Carlo samples for stochastic posteriors.") var samples = 32
    @Option(parsing: .upToNextOption, help: "OOD sets to score against.") var ood: [OODSetName] = []
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Output format.") var format: OutputFormat = .text

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
    }

    func run() throws {
        let result = try reportingErrors {
            try fitPostHoc(method, posteriorAt: checkpoint, out: out, samples: samples, ood: ood, seed: seed)
        }
        if format == .json { return try printJSON(result) }
        if let t = result.temperature, let before = result.heldOutNLLBefore, let after = result.heldOutNLLAfter {
            print(String(format: "temperature %.4f (held-out NLL %.4f → %.4f), fitted in %.2f s", t, before, after, result.fitSeconds))
        }
        printEvaluation(result.evaluation)
        if let path = result.posterior { print("posterior: \(path)") }
    }
}
