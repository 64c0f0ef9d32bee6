import ArgumentParser
import Credence
import Foundation

extension CertificationMethod: ExpressibleByArgument {}

struct CertifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certify",
        abstract: "Certify a posterior (or a plain checkpoint, as MAP) on test examples: randomized smoothing's class and certified L2 radius per example, certified accuracy per radius, abstention rate and time; or IBP's verified accuracy per L∞ ε.",
        discussion: "Randomized smoothing (Cohen et al. 2019) classifies n0 noisy copies to choose a class, n more to bound its probability from below (Clopper–Pearson at level 1 − alpha) and certifies the radius sigma·Φ⁻¹(bound), abstaining below ½. The base classifier is the posterior's predictive over --posterior-samples samples. Models certify more when trained on noise of the same sigma (`credence train --augment gaussian-noise --noise-sigma S`).\n\nInterval bound propagation (Gowal et al. 2018; --method ibp --eps 0.01,0.1) bounds a deterministic network's logits over each L∞ box and counts the examples whose every point keeps the true class; IBP-trained networks (`credence train --adversarial ibp`) verify far more.\n\nProbabilistic safety (after Wicker et al. 2020; --method probabilistic-safety) bounds from below the posterior probability that a network drawn from it keeps the true class on the whole ε-box: for mean-field VI and a diagonal Laplace, the exact Gaussian mass of weight boxes IBP certifies (around the mean, and with --weight-boxes N around N samples); for other posteriors, a Clopper–Pearson bound on the fraction of --posterior-samples networks IBP verifies.")

    @Option(name: [.customLong("posterior"), .customLong("checkpoint")],
            help: "Posterior file from `credence train`/`fit`, or a checkpoint (read as MAP).") var posterior: String
    @Option(help: "Certificate.") var method: CertificationMethod = .smoothing
    @Option(help: "Standard deviation σ of the smoothing noise (pixels in 0…1).") var sigma: Float = 0.25
    @Option(help: "Noise samples that choose the class.") var n0 = 100
    @Option(help: "Noise samples that bound the class's probability.") var n = 100_000
    @Option(help: "Every certificate holds with probability ≥ 1 − alpha.") var alpha = 0.001
    @Option(help: "Test examples certified.") var examples = 100
    @Option(help: "Certify every k-th test example (0, k, 2k, …).") var skip = 1
    @Option(help: "Smoothing: posterior samples whose mean probabilities are the base classifier; probabilistic safety of a sampled posterior: networks drawn and verified.")
    var posteriorSamples = 1
    @Option(help: "Noisy copies per forward pass.") var batchSize = 1000
    @Flag(help: "Smoothing: draw the noise in input space even where it is drawn after the first layer (a narrowing dense layer: Wx + b + σ·L·z with L·Lᵀ = W·Wᵀ, the same distribution with less work) — for checks and comparisons.")
    var inputSpaceNoise = false
    @Option(help: "Probabilistic safety of a diagonal Gaussian posterior (mean-field VI, diagonal Laplace): also grow weight boxes around this many samples (Wicker et al.) besides the box at the mean; the bound is the larger mass.")
    var weightBoxes = 0
    @Option(help: "Radii at which to report certified accuracy, comma-separated.", transform: Self.parseRadii)
    var radii: [Double] = [0, 0.25, 0.5, 0.75, 1, 1.25, 1.5]
    @Option(help: "IBP and probabilistic safety: the L∞ budgets ε, comma-separated.", transform: AttackCommand.parseList)
    var eps: [Float] = [0.01, 0.03, 0.05, 0.1]
    @Option(help: "Write the result (JSON) here — smoothing: after every example, and a file from the same run is continued.") var out: String?
    @Option(help: "Data set (default: the one recorded in the file).") var dataset: DatasetName?
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Random seed (noise, posterior samples).") var seed: UInt64 = 0
    @Flag(help: "Smoothing: run PREDICT instead of CERTIFY — the smoothed classifier's class from --n noisy copies, or an abstention when a binomial test at --alpha cannot separate the top two; prints accuracy and abstention rate.")
    var predict = false
    @Option(help: "Output format.") var format: OutputFormat = .text

    static func parseRadii(_ text: String) throws -> [Double] {
        try text.split(separator: ",").map { part in
            guard let v = Double(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--radii: '\(part)' is not a number") }
            return v
        }
    }

    func settings() -> CertificationSettings {
        var s = CertificationSettings()
        s.method = method; s.sigma = sigma; s.selectionSamples = n0; s.estimationSamples = n; s.alpha = alpha
        s.examples = examples; s.skip = skip; s.posteriorSamples = posteriorSamples; s.batchSize = batchSize
        s.noiseInInputSpace = inputSpaceNoise ? true : nil
        s.weightBoxes = weightBoxes == 0 ? nil : weightBoxes
        s.radii = radii; s.epsilons = eps; s.seed = seed
        return s
    }

    func validate() throws {
        do { try settings().validate() } catch let e as InferenceError { throw ValidationError(e.description) }
        if predict && method != .smoothing { throw ValidationError("--predict is randomized smoothing's PREDICT; it does not go with --method \(method.rawValue)") }
    }

    func run() throws {
        // Under mpirun: smoothing's examples over the ranks; rank 0 writes --out and prints.
        let world = try sharedWorld()
        if let world, predict || method != .smoothing {
            Terminal.error("error: under mpirun (\(world.size) ranks) `credence certify` splits randomized smoothing's CERTIFY over the ranks; run \(predict ? "--predict" : "--method \(method.rawValue)") as one process")
            throw ExitCode.failure
        }
        let speaks = (world?.rank ?? 0) == 0
        if predict {
            let result = try reportingErrors {
                try predictSmoothedPosteriorFile(at: posterior, settings: settings(), dataset: dataset, dataDirectory: dataDir)
            }
            if format == .json { return try printJSON(result) }
            print("\(result.dataset) (\(result.indices.count) examples): randomized smoothing PREDICT, σ = \(result.settings.sigma), n \(result.settings.estimationSamples), α \(result.settings.alpha)")
            print(String(format: "  accuracy %.4f, abstained %.4f, %.1f s", result.accuracy, result.abstentionRate, result.seconds))
            return
        }
        let result = try reportingErrors {
            try certifyPosteriorFile(at: posterior, settings: settings(), dataset: dataset, dataDirectory: dataDir, out: out, world: world) { done, total, r in
                Terminal.error(String(format: "\rcertified %d/%d  (%.1f s each, certified accuracy at 0: %.3f)", done, total,
                                      r.seconds / Double(done), r.points.first?.certifiedAccuracy ?? 0), terminator: done == total ? "\n" : "")
            }
        }
        guard speaks else { return }
        if format == .json { return try printJSON(result) }
        if result.settings.method != .smoothing {
            let safety = result.settings.method == .probabilisticSafety
            print("\(result.method) on \(result.dataset) (\(result.settings.examples) examples): "
                  + (safety ? "probabilistic safety (mean lower bound on P(the ε-box keeps the true class))" : "interval bound propagation") + ", L∞")
            for p in result.points {
                let line = String(format: "  ε = %-8g %@ %.4g", p.radius, (safety ? "P(safe) ≥" : "verified accuracy") as NSString, p.certifiedAccuracy)
                guard let bounds = result.safetyBounds?.filter({ Double($0.epsilon) == p.radius }), !bounds.isEmpty else { print(line); continue }
                // The mean hides bounds far below 1e-308; the median log10 and the count above ½ do not.
                let log10s = bounds.map { $0.logProbability / log(10) }.sorted()
                print(line + String(format: " (mean over examples; median log10 bound %.4g; %d of %d examples ≥ 0.5)",
                                    log10s[log10s.count / 2], bounds.filter { $0.probability >= 0.5 }.count, bounds.count))
            }
            print(String(format: "  %.1f s", result.seconds))
            return
        }
        print("\(result.method) on \(result.dataset) (\(result.perExample.count) examples): randomized smoothing σ = \(result.settings.sigma), "
              + "n0 \(result.settings.selectionSamples), n \(result.settings.estimationSamples), α \(result.settings.alpha), "
              + "base classifier over \(result.baseClassifierSamples) posterior sample(s)")
        for p in result.points {
            print(String(format: "  radius %-6g certified accuracy %.4f", p.radius, p.certifiedAccuracy))
        }
        print(String(format: "  abstained %.4f, mean certified radius %.3f", result.abstentionRate, result.meanRadius))
        print(String(format: "  %.1f s (%.2f s per example, %.0f noisy inputs/s)", result.seconds,
                     result.seconds / Double(Swift.max(result.perExample.count, 1)), result.noiseSamplesPerSecond))
        if let out { print("result: \(out)") }
    }
}
