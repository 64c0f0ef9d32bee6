import ArgumentParser
import Credence

extension PostHocMethod: ExpressibleByArgument {}
extension WeightSubset: ExpressibleByArgument {}
extension HessianStructure: ExpressibleByArgument {
    /// Also accepts laplace-torch's short name `kron`.
    public init?(argument: String) {
        self.init(rawValue: argument == "kron" ? "kronecker" : argument)
    }
}
extension PredictiveKind: ExpressibleByArgument {}
extension LinkApproximation: ExpressibleByArgument {}
extension PriorOptimization: ExpressibleByArgument {}
extension PriorStructure: ExpressibleByArgument {}

struct FitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fit",
        abstract: "Fit a post-hoc method (temperature scaling, Laplace) on a trained checkpoint or posterior, save it, and evaluate it.")

    @Option(name: [.customLong("checkpoint"), .customLong("posterior")], help: "Trained checkpoint or posterior file.")
    var checkpoint: String
    @Option(help: "Post-hoc method.") var method: PostHocMethod
    @Option(help: "Where to write the fitted posterior (safetensors).") var out: String?
    @Option(help: "Monte-Carlo samples for stochastic posteriors.") var samples = 32
    @Option(parsing: .upToNextOption, help: oodHelp, transform: OODSource.init(parsing:)) var ood: [OODSource] = []
    @Option(help: "Random seed.") var seed: UInt64 = 0
    @Option(help: "Laplace: which weights are Bayesian.") var subset: WeightSubset = .lastLayer
    @Option(help: "Laplace: structure of the generalized Gauss-Newton curvature.") var hessian: HessianStructure = .kronecker
    @Option(help: "Laplace: predictive (linearized GLM or Monte-Carlo over sampled weights).") var predictive: PredictiveKind = .glm
    @Option(help: "Laplace: link approximation of the GLM predictive.") var link: LinkApproximation = .probit
    @Option(help: "Laplace: prior precision (the start value when it is optimized).") var priorPrecision = 1.0
    @Option(help: "Laplace: how the prior precision is chosen.") var prior: PriorOptimization = .marginalLikelihood
    @Option(help: "Laplace: one prior precision for all weights, or one per layer.") var priorStructure: PriorStructure = .scalar
    @Option(help: "Laplace: rank of a low-rank curvature.") var rank = 20
    @Option(help: "Output format.") var format: OutputFormat = .text

    func validate() throws {
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
    }

    func run() throws {
        let result = try reportingErrors {
            let laplace = method == .laplace
                ? try Laplace(subset: subset, structure: hessian, predictive: predictive, link: link, priorPrecision: priorPrecision,
                              priorOptimization: prior, priorStructure: priorStructure, rank: rank)
                : nil
            return try fitPostHoc(method, posteriorAt: checkpoint, out: out, samples: samples, ood: ood, seed: seed, laplace: laplace)
        }
        if format == .json { return try printJSON(result) }
        if let t = result.temperature, let before = result.heldOutNLLBefore, let after = result.heldOutNLLAfter {
            print(String(format: "temperature %.4f (held-out NLL %.4f → %.4f), fitted in %.2f s", t, before, after, result.fitSeconds))
        }
        if result.method == "laplace" { print(String(format: "Laplace fitted in %.2f s", result.fitSeconds)) }
        printEvaluation(result.evaluation)
        if let path = result.posterior { print("posterior: \(path)") }
    }
}
