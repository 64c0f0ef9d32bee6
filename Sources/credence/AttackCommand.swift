import ArgumentParser
import Credence
import Foundation

extension AttackKind: ExpressibleByArgument {}
extension AttackNorm: ExpressibleByArgument {}
extension EOTLoss: ExpressibleByArgument {}

struct AttackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attack",
        abstract: "Attack a posterior (or a plain checkpoint, as MAP) with FGSM, PGD, MIM, APGD (CE, DLR, targeted), FAB-T, Square, ZOO or AutoAttack, with EOT over its samples, or transfer from a surrogate; print clean and robust accuracy per ε, uncertainty on the adversarial inputs and the gradient-masking checks.")

    @Option(name: [.customLong("posterior"), .customLong("checkpoint")],
            help: "Posterior file from `credence train`/`fit`, or a checkpoint (read as MAP).") var posterior: String
    @Option(help: "Data set (default: the one recorded in the file).") var dataset: DatasetName?
    @Option(help: "Attack.") var attack: AttackKind = .pgd
    @Option(help: "Norm of the perturbation budget.") var norm: AttackNorm = .linf
    @Option(help: "Budgets ε, comma-separated (e.g. 0.05,0.1).", transform: Self.parseList) var eps: [Float]
    @Option(help: "Steps (default: 10 for PGD and MIM, 100 for APGD and AutoAttack's APGD).") var steps: Int?
    @Option(help: "Step size α of PGD (default 2.5ε/steps) and MIM (ε/steps); the others choose their own.") var stepSize: Float?
    @Option(help: "Restarts of PGD, APGD and Square (APGD and Square restart only the examples not yet fooled).") var restarts = 1
    @Option(help: "APGD-T, FAB-T and AutoAttack: target classes tried per example (its 2nd, 3rd, … most likely).") var targetClasses = 9
    @Option(help: "Square and AutoAttack: queries per example.") var queries = 5000
    @Option(help: "ZOO: coordinates estimated per step (2 queries each).") var coordinates = 128
    @Option(help: "ZOO: the finite-difference step h (larger than a quantising defence's grid to see through it).")
    var differenceStep: Float = 1e-4
    @Flag(inversion: .prefixedNo,
          help: "PGD and MIM: stop attacking an example once a deterministic model misclassifies it (same or lower robust accuracy, less work).")
    var stopWhenFooled = true
    @Option(help: "Posterior samples per gradient or query (expectation over transformation; AutoAttack's rand version uses 20).")
    var eotSamples = 1
    @Option(help: "Loss the EOT samples share.") var eotLoss: EOTLoss = .bayesModelAverage
    @Option(help: "Test examples attacked (the first N).") var examples = 1000
    @Option(help: "Examples attacked together (default \(AttackSettings.defaultBatchSize)); each batch has a random stream of its own, so results depend on it but not on the number of MPI ranks, which share the batches.")
    var batchSize: Int?
    @Option(help: "Monte-Carlo samples of the predictive that is scored.") var samples = 32
    @Option(help: "Scorings of a stochastic posterior's adversarial inputs; robust only if correct in every one.") var repeats = 5
    @Flag(inversion: .prefixedNo, help: "Run the gradient-masking checks (FGSM, PGD, APGD, Square and a box-sized ε on up to 500 examples).")
    var checks = true
    @Option(help: "Transfer attack: craft the adversarial inputs on this posterior file (with its EOT) and score them on --posterior.")
    var surrogate: String?
    @Option(help: "Write the adversarial inputs to this .npy file (one file per ε, suffixed -eps<ε>, when there are several).")
    var saveAdversarials: String?
    @Option(help: "Random seed (random starts, sampled networks).") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    static func parseList(_ text: String) throws -> [Float] {
        try text.split(separator: ",").map { part in
            guard let v = Float(part.trimmingCharacters(in: .whitespaces)) else { throw ValidationError("--eps: '\(part)' is not a number") }
            return v
        }
    }

    func run() throws {
        var settings = AttackSettings(attack: attack, epsilons: eps)
        settings.norm = norm
        settings.steps = steps
        settings.stepSize = stepSize
        settings.restarts = restarts
        settings.targetClasses = targetClasses
        settings.queries = queries
        settings.coordinates = coordinates
        settings.differenceStep = differenceStep
        settings.stopWhenFooled = stopWhenFooled
        settings.eotSamples = eotSamples
        settings.eotLoss = eotLoss
        settings.examples = examples
        settings.batchSize = batchSize
        settings.samples = samples
        settings.repeats = repeats
        settings.checks = checks
        settings.surrogate = surrogate
        settings.seed = seed
        // Under mpirun the batches are dealt out over the ranks; rank 0 writes and prints.
        let world = try sharedWorld()
        let started = Date()
        let result = try reportingErrors {
            try attackPosteriorFile(at: posterior, settings: settings, dataset: dataset, dataDirectory: dataDir, saveAdversarials: saveAdversarials,
                                    world: world) { done, total in
                guard Terminal.isInteractive else { return }
                Terminal.error(String(format: "\rattacked %d/%d batches (%.0f s)", done, total, Date().timeIntervalSince(started)),
                               terminator: done == total ? "\n" : "")
            }
        }
        guard (world?.rank ?? 0) == 0 else { return }
        if let warning = result.warning { Terminal.error("warning: \(warning)") }
        if format == .json { return try printJSON(result) }
        var details: [String] = []
        if ![.fgsm, .square].contains(result.attack) { details.append("\(result.steps) steps × \(result.restarts) restart(s)") }
        if let targets = result.targetClasses { details.append("\(targets) target classes") }
        if let queries = result.queries { details.append("\(queries) queries") }
        if let coordinates = result.coordinates, let h = result.differenceStep { details.append("\(coordinates) coordinates per step, h \(h)") }
        details.append("EOT \(result.eotSamples) sample(s) on the \(result.eotLoss.rawValue) loss")
        print("\(result.method) on \(result.dataset) (\(result.examples) examples): \(result.attack.rawValue) \(result.norm.rawValue), "
              + details.joined(separator: ", ") + (result.surrogate.map { ", crafted on the surrogate \($0)" } ?? ""))
        print(String(format: "  clean accuracy      %.4f   (mean entropy %.3f)", result.cleanAccuracy, result.cleanMeanEntropy))
        for p in result.points {
            var line = String(format: "  ε = %-8g        %.4f", Double(p.epsilon), p.robustAccuracy)
            if let every = p.robustInEveryRepeat { line += String(format: " (%.4f in all %d scorings)", every, repeats) }
            line += String(format: "   mean entropy %.3f", p.meanEntropy)
            line += "; detection AUROC " + p.detectionAUROC.sorted { $0.key < $1.key }.map { String(format: "%@ %.3f", $0.key as NSString, $0.value) }
                .joined(separator: ", ")
            print(line)
            if let stages = p.stages {
                print("      " + stages.map { String(format: "%@ %.4f", $0.attack as NSString, $0.robustAccuracy) }.joined(separator: " → "))
            }
        }
        for check in result.checks ?? [] {
            print("  \(check.passed ? "ok  " : "FAIL") \(check.name): \(check.detail)")
        }
        print(String(format: "  %.1f s", result.seconds))
        if let failed = result.checks?.filter({ !$0.passed }), !failed.isEmpty {
            Terminal.error("warning: \(failed.count) gradient-masking check(s) failed — the robust accuracy may reflect masked gradients or a weak attack, not robustness")
        }
    }
}
