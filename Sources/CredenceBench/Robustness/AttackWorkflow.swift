import CredenceData
import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceRobustness
import CredenceTensor
import Foundation

/// The attacks `credence attack` runs.
public enum AttackKind: String, Codable, Sendable, CaseIterable {
    case fgsm, pgd, mim
    case apgdCE = "apgd-ce", apgdDLR = "apgd-dlr", apgdT = "apgd-t"
    case fabT = "fab-t"
    case square, zoo
    /// AutoAttack's standard protocol (APGD-CE → APGD-T → FAB-T → Square), and its 'rand' version
    /// (APGD-CE → APGD-DLR with EOT) for stochastic models.
    case autoattack, autoattackRand = "autoattack-rand"

    /// Steps when none are asked for: PGD's and MIM's 10 (torchattacks'), APGD's 100 (AutoAttack's).
    public var defaultSteps: Int {
        switch self {
        case .fgsm, .square: return 1
        case .pgd, .mim: return 10
        case .apgdCE, .apgdDLR, .apgdT, .fabT, .autoattack, .autoattackRand, .zoo: return 100
        }
    }

    /// Whether the attack sets its own step size (`--step-size` is refused).
    var choosesStepSize: Bool { ![.pgd, .mim].contains(self) }
    /// Whether random restarts mean something for it.
    var takesRestarts: Bool { [.pgd, .apgdCE, .apgdDLR, .apgdT, .square].contains(self) }
    var usesSteps: Bool { ![.fgsm, .square].contains(self) }
}

/// What `credence attack` (and a suite's attack evaluation) does: the attack and its budgets,
/// its settings, and how the posterior is attacked and scored.
public struct AttackSettings: Codable, Sendable, Hashable {
    public var attack: AttackKind
    public var norm: AttackNorm = .linf
    public var epsilons: [Float]
    /// nil: the attack's default (`AttackKind.defaultSteps`).
    public var steps: Int?
    /// α of PGD (default 2.5ε/steps) and MIM (ε/steps); the others choose their own.
    public var stepSize: Float?
    public var restarts = 1
    /// APGD-T's and AutoAttack's targets per example (2nd, 3rd, … most likely classes).
    public var targetClasses = 9
    /// Square's (and AutoAttack's Square's) queries per example.
    public var queries = 5000
    /// ZOO: coordinates estimated per step, and the finite-difference step h.
    public var coordinates = 128
    public var differenceStep: Float = 1e-4
    /// PGD and MIM stop attacking an example once a deterministic model misclassifies it (not
    /// in a transfer attack: an input only just across the surrogate's boundary transfers poorly).
    public var stopWhenFooled = true
    /// K posterior samples per gradient or query, and which loss they share.
    public var eotSamples = 1
    public var eotLoss: EOTLoss = .bayesModelAverage
    /// The first N test examples are attacked.
    public var examples = 1000
    /// Examples attacked together (nil: `defaultBatchSize`). Each batch draws its random numbers
    /// from a stream of its own, so the numbers depend on the batch size but not on how many
    /// MPI ranks share the batches; smaller batches spread over more ranks.
    public var batchSize: Int?
    /// Monte-Carlo samples of the predictive that is scored.
    public var samples = 32
    /// A stochastic posterior's adversarial inputs are scored this many times; an example is
    /// robust only if it is classified correctly every time.
    public var repeats = 5
    /// Run the gradient-masking checks (`GradientMaskingChecks`) after the evaluation (not for
    /// transfer attacks).
    public var checks = true
    /// A transfer attack: the adversarial inputs are crafted on this posterior file (a Bayesian
    /// surrogate's samples attacked with its EOT) and scored on the attacked one.
    public var surrogate: String?
    public var seed: UInt64 = 0

    public init(attack: AttackKind, epsilons: [Float]) {
        self.attack = attack
        self.epsilons = epsilons
    }

    public static let defaultBatchSize = 250
    public var resolvedBatchSize: Int { batchSize ?? Self.defaultBatchSize }

    /// The steps the attack takes.
    public var resolvedSteps: Int { attack.usesSteps ? steps ?? attack.defaultSteps : 1 }

    public func validate() throws {
        guard !epsilons.isEmpty, epsilons.allSatisfy({ $0 >= 0 && $0.isFinite }) else {
            throw InferenceError.invalidOption("--eps needs one or more budgets ≥ 0, got \(epsilons)")
        }
        guard examples >= 1, samples >= 1, eotSamples >= 1, targetClasses >= 1, queries >= 1, restarts >= 1, repeats >= 1, coordinates >= 1,
              resolvedBatchSize >= 1 else {
            throw InferenceError.invalidOption("--examples, --batch-size, --samples, --eot-samples, --target-classes, --queries, --restarts, --repeats and --coordinates must be ≥ 1")
        }
        guard differenceStep > 0, differenceStep.isFinite else {
            throw InferenceError.invalidOption("--difference-step must be > 0, got \(differenceStep)")
        }
        if attack.choosesStepSize, stepSize != nil {
            throw InferenceError.invalidOption("\(attack.rawValue) chooses its own step size; drop --step-size (it is for pgd and mim)")
        }
        if !attack.takesRestarts, restarts != 1 {
            throw InferenceError.invalidOption("\(attack.rawValue) takes no restarts; drop --restarts")
        }
        if let steps, !attack.usesSteps || steps < 1 {
            throw InferenceError.invalidOption(attack.usesSteps ? "--steps must be ≥ 1, got \(steps)" : "\(attack.rawValue) takes no --steps")
        }
    }

    /// The attack at budget ε on inputs in `inputRange`.
    func attacker(epsilon: Float, inputRange: ClosedRange<Float>) -> any Attack {
        let steps = resolvedSteps
        let apgd = { (loss: AttackLoss) in
            APGD(norm: norm, epsilon: epsilon, steps: steps, restarts: restarts, loss: loss, targetClasses: targetClasses, inputRange: inputRange)
        }
        switch attack {
        case .fgsm: return PGD.fgsm(norm: norm, epsilon: epsilon, inputRange: inputRange)
        case .pgd:
            return PGD(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, randomStart: true, restarts: restarts,
                       inputRange: inputRange, stopWhenFooled: stopWhenFooled)
        case .mim:
            var mim = PGD.mim(norm: norm, epsilon: epsilon, steps: steps, stepSize: stepSize, inputRange: inputRange)
            mim.stopWhenFooled = stopWhenFooled
            return mim
        case .apgdCE: return apgd(.crossEntropy)
        case .apgdDLR: return apgd(.dlr)
        case .apgdT: return apgd(.targetedDLR)
        case .fabT: return FAB(norm: norm, epsilon: epsilon, steps: steps, targetClasses: targetClasses, inputRange: inputRange)
        case .square: return Square(norm: norm, epsilon: epsilon, queries: queries, restarts: restarts, inputRange: inputRange)
        case .zoo:
            return ZOO(norm: norm, epsilon: epsilon, steps: steps, coordinates: coordinates, differenceStep: differenceStep, inputRange: inputRange)
        case .autoattack, .autoattackRand:
            return AutoAttack(version: attack == .autoattack ? .standard : .randomized, norm: norm, epsilon: epsilon, steps: steps,
                              targetClasses: targetClasses, queries: queries, inputRange: inputRange)
        }
    }
}

/// What `attackPosteriorFile` measured.
public struct AttackResult: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        public var epsilon: Float
        public var robustAccuracy: Double
        /// AutoAttack: the fraction still classified correctly after each of its attacks, in order.
        public var stages: [Stage]?
        /// A stochastic posterior: the fraction classified correctly in every one of `repeats` scorings.
        public var robustInEveryRepeat: Double?
        /// Does the posterior know it is being fooled? The mean predictive entropy and mutual
        /// information (sampled posteriors) on the adversarial inputs, and the AUROC of telling
        /// them from the clean ones by each uncertainty score.
        public var meanEntropy: Double
        public var meanMutualInformation: Double?
        public var detectionAUROC: [String: Double]
        /// The ROC curve of detection by predictive entropy (for the report's chart).
        public var entropyROC: [ROCPoint]?
    }
    public struct Stage: Codable, Sendable, Equatable {
        public var attack: String
        public var robustAccuracy: Double
    }
    public var method: String
    public var dataset: String
    public var examples: Int
    /// The surrogate a transfer attack crafted its inputs on (its method and file).
    public var surrogate: String?
    public var attack: AttackKind
    public var norm: AttackNorm
    public var steps: Int
    /// α per step; nil: 2.5ε/steps (PGD), ε/steps (MIM) or ε (FGSM), per ε; the others choose their own.
    public var stepSize: Float?
    public var restarts: Int
    /// APGD-T's and AutoAttack's targets per example.
    public var targetClasses: Int?
    /// Square's and AutoAttack's queries per example.
    public var queries: Int?
    /// ZOO's coordinates per step and difference step.
    public var coordinates: Int?
    public var differenceStep: Float?
    /// PGD and MIM stopped attacking an example once a deterministic model misclassified it.
    public var stopWhenFooled: Bool
    /// K posterior samples per gradient, and which loss they share.
    public var eotSamples: Int
    public var eotLoss: EOTLoss
    /// The valid input range the perturbations are clipped to (the test inputs' own range).
    public var inputRange: [Float]
    public var cleanAccuracy: Double
    public var cleanMeanEntropy: Double
    public var cleanMeanMutualInformation: Double?
    public var points: [Point]
    /// The gradient-masking checks (nil when turned off).
    public var checks: [MaskingCheck]?
    public var seconds: Double
    /// Set when a stochastic posterior was attacked with one sample per gradient (no EOT).
    public var warning: String?
}

/// Attacks the posterior (or plain checkpoint, as MAP) at `path` on the first
/// `settings.examples` test images of its data set, at each ε, and reports clean and robust
/// accuracy (the posterior's predictive with `settings.samples` Monte-Carlo samples on the
/// adversarial inputs). `saveAdversarials`: a `.npy` path for the adversarial inputs (with
/// several ε, one file each, "-eps<ε>" before the extension). `world` and `onProgress`: as for
/// `attackPosterior`.
public func attackPosteriorFile(at path: String, settings: AttackSettings, dataset: DatasetName? = nil,
                                dataDirectory: String? = nil, saveAdversarials: String? = nil, world: MPIWorld? = nil,
                                onProgress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> AttackResult {
    try settings.validate()
    let archive = try PosteriorArchive.load(from: path)
    let posterior = try loadPosterior(from: archive, path: path)
    guard posterior.task == .classification else {
        throw InferenceError.invalidOption("\(path) holds a regression posterior; the attacks are for classifiers")
    }
    let (test, _) = try recordedTestSet(of: path, metadata: archive.provenance, dataset: dataset,
                                        dataDirectory: dataDirectory, inputShape: posterior.model.spec.inputShape)
    // A transfer attack crafts on the surrogate, which must read the same inputs and classes.
    var surrogate: (any Posterior)?
    if let surrogatePath = settings.surrogate {
        let crafting = try loadPosterior(from: surrogatePath)
        guard crafting.model.spec.inputShape == posterior.model.spec.inputShape,
              crafting.model.outputShape == posterior.model.outputShape, crafting.task == .classification else {
            throw InferenceError.invalidOption(
                "the surrogate \(surrogatePath) takes inputs \(crafting.model.spec.inputShape) to \(crafting.model.outputShape), the attacked posterior \(posterior.model.spec.inputShape) to \(posterior.model.outputShape): they must match")
        }
        surrogate = crafting
    }
    return try attackPosterior(posterior, test: test, settings: settings, surrogate: surrogate, saveAdversarials: saveAdversarials,
                               world: world, onProgress: onProgress)
}

/// Attacks `posterior` on the first `settings.examples` examples of `test` (the workflow of
/// `attackPosteriorFile`, and of a suite's `attacks` evaluation); `surrogate`, when given,
/// is the posterior the inputs are crafted on.
///
/// The examples go in batches of `settings.resolvedBatchSize`, each a job with a random stream
/// of its own: its clean predictive, then per ε the attack and the scoring of its adversarial
/// inputs; the gradient-masking checks are further jobs on batches of their first examples.
/// With `world` (an MPI job of several ranks, every rank calling this alike) the jobs are dealt
/// out over the ranks (`MPIWorld.dealOut`) and every rank returns the whole result — the same
/// numbers as one process, since no job's numbers depend on another's; only rank 0 writes
/// `saveAdversarials`. `onProgress(done, total)` after each job (on rank 0).
public func attackPosterior(_ posterior: any Posterior, test: InMemoryDataset, settings: AttackSettings, surrogate: (any Posterior)? = nil,
                            saveAdversarials: String? = nil, world: MPIWorld? = nil,
                            onProgress: (_ done: Int, _ total: Int) -> Void = { _, _ in }) throws -> AttackResult {
    try settings.validate()
    var settings = settings
    if surrogate != nil { settings.stopWhenFooled = false }
    let crafting = surrogate ?? posterior
    let n = Swift.min(settings.examples, test.count)
    let inputs = try test.inputs.rows(0..<n), labels = Array(test.labels[0..<n])
    let values = inputs.values
    let range = (values.min() ?? 0)...(values.max() ?? 1)
    let target = AttackTarget(posterior: crafting, eotSamples: settings.eotSamples, loss: settings.eotLoss)
    let start = Date()
    let masking = GradientMaskingChecks(samples: settings.samples)
    let largest = settings.epsilons.max() ?? 0
    func batches(of count: Int) -> [Range<Int>] {
        stride(from: 0, to: count, by: settings.resolvedBatchSize).map { $0..<Swift.min($0 + settings.resolvedBatchSize, count) }
    }
    let attacked = batches(of: n)
    let checked = settings.checks && surrogate == nil && largest > 0 ? batches(of: Swift.min(masking.examples, n)) : []
    var root = RandomGenerator(seed: settings.seed)
    let streams = root.split(into: attacked.count + checked.count)

    func job(_ j: Int) throws -> AttackJob {
        var rng = streams[j]
        guard j < attacked.count else {
            let rows = checked[j - attacked.count]
            return .checks(try masking.measure(target: target, inputs: try inputs.rows(rows), labels: Array(labels[rows]), norm: settings.norm,
                                               epsilon: largest, inputRange: range, rng: &rng))
        }
        let rows = attacked[j]
        let x = try inputs.rows(rows), y = Array(labels[rows])
        let clean = try posterior.predictive(x, samples: settings.samples, rng: &rng)
        let budgets = try settings.epsilons.map { epsilon -> AttackedBatch.Budget in
            let attacker = settings.attacker(epsilon: epsilon, inputRange: range)
            if let protocolRun = attacker as? AutoAttack {  // keeping its count after each attack
                let run = try protocolRun.run(x, labels: y, target: target, rng: &rng)
                let scored = try scoreRobustness(run.adversarial, labels: y, posterior: posterior, samples: settings.samples,
                                                 repeats: settings.repeats, rng: &rng)
                return .init(evaluation: scored, stages: run.robustAfter.map { .init(attack: $0.name, robust: $0.robust) })
            }
            return .init(evaluation: try evaluateRobustness(attacker, target: target, inputs: x, labels: y, victim: posterior,
                                                            samples: settings.samples, repeats: settings.repeats, batchSize: rows.count,
                                                            rng: &rng), stages: nil)
        }
        return .batch(AttackedBatch(clean: clean, budgets: budgets))
    }
    let total = attacked.count + checked.count
    var outcomes = [AttackJob?](repeating: nil, count: total), done = 0
    func record(_ j: Int, _ outcome: AttackJob) {
        outcomes[j] = outcome
        done += 1
        onProgress(done, total)
    }
    Parallel.flushSubnormalsToZero()
    if let world, world.size > 1 {
        try world.dealOut(total, tag: MPITag.attackJobs.rawValue, { try job($0).encoded() }, received: { j, bytes in
            let outcome = try AttackJob(encoded: bytes, from: j % world.size)
            try outcome.requireFits(job: j, rows: j < attacked.count ? attacked[j].count : nil, budgets: settings.epsilons.count,
                                    from: j % world.size)
            record(j, outcome)
        })
        guard world.rank == 0 else {
            return try ResultStore.decoder.decode(AttackResult.self, from: try world.broadcast(Data(), from: 0))
        }
    } else {
        for j in 0..<total { record(j, try job(j)) }
    }

    let results = outcomes.compactMap { $0 }
    let parts = results.compactMap(\.batch)
    let cleanPredictive = try Predictive.concatenating(parts.map(\.clean))
    let clean = try accuracy(cleanPredictive, labels: labels)
    let sampled = posterior.sampleCount(requested: 2) > 1
    let scores: [UncertaintyScore] = sampled ? [.maxProbability, .entropy, .mutualInformation] : [.maxProbability, .entropy]
    func mean(_ values: [Double]) -> Double { values.reduce(0, +) / Double(Swift.max(values.count, 1)) }
    func fraction(_ count: Int) -> Double { Double(count) / Double(Swift.max(n, 1)) }
    var points: [AttackResult.Point] = []
    for (e, epsilon) in settings.epsilons.enumerated() {
        let budgets = parts.map { $0.budgets[e] }
        let adversarial = try Tensor.concatenate(budgets.map(\.adversarial), axis: 0)
        let predictive = try Predictive.concatenating(budgets.map(\.predictive))
        let everyRepeat = budgets.allSatisfy { $0.correctInEveryRepeat != nil }
            ? fraction(budgets.flatMap { $0.correctInEveryRepeat! }.filter { $0 }.count) : nil
        if let first = budgets.first?.stages?.count, let b = budgets.firstIndex(where: { $0.stages?.count != first }) {
            throw MPIError.unexpectedMessage(from: b % (world?.size ?? 1),
                                             message: "an attack result with \(budgets[b].stages?.count ?? 0) AutoAttack stages where job 0's has \(first)")
        }
        let stages = budgets.first?.stages.map { first in
            first.indices.map { i in
                AttackResult.Stage(attack: first[i].attack, robustAccuracy: fraction(budgets.reduce(0) { $0 + ($1.stages?[i].robust ?? 0) }))
            }
        }
        if let saveAdversarials {
            try NumPy.write(adversarial, to: settings.epsilons.count == 1 ? saveAdversarials : adversarialsPath(saveAdversarials, epsilon: epsilon))
        }
        var detection: [String: Double] = [:], entropyROC: [ROCPoint]?
        for score in scores {
            let scored = try oodDetection(inDistribution: cleanPredictive, outOfDistribution: predictive, score: score, maxROCPoints: 100)
            detection[score.rawValue] = scored.auroc
            if score == .entropy { entropyROC = scored.rocCurve }
        }
        points.append(.init(epsilon: epsilon, robustAccuracy: try accuracy(predictive, labels: labels), stages: stages,
                            robustInEveryRepeat: everyRepeat, meanEntropy: mean(predictive.totalEntropy),
                            meanMutualInformation: sampled ? mean(predictive.mutualInformation) : nil, detectionAUROC: detection,
                            entropyROC: entropyROC))
    }
    let checks = settings.checks && surrogate == nil
        ? masking.checks(results.compactMap(\.measurement).reduce(GradientMaskingChecks.Measurement(), +),
                         robustByEpsilon: points.map { ($0.epsilon, $0.robustAccuracy) }, norm: settings.norm, inputRange: range,
                         inputSize: inputs.count / Swift.max(n, 1))
        : nil
    let warning = target.isStochastic && settings.eotSamples == 1
        ? "\(crafting.method) is stochastic and was attacked with one sample per gradient (no EOT): the attack is weakened; pass --eot-samples K"
        : nil
    let attack = settings.attack
    let result = AttackResult(method: posterior.method, dataset: test.name, examples: n,
                        surrogate: surrogate.map { _ in crafting.method + (settings.surrogate.map { " (\($0))" } ?? "") },
                        attack: attack, norm: settings.norm,
                        steps: settings.resolvedSteps, stepSize: settings.stepSize, restarts: settings.restarts,
                        targetClasses: [.apgdT, .fabT, .autoattack].contains(attack) ? settings.targetClasses : nil,
                        queries: [.square, .autoattack].contains(attack) ? settings.queries : nil,
                        coordinates: attack == .zoo ? settings.coordinates : nil, differenceStep: attack == .zoo ? settings.differenceStep : nil,
                        stopWhenFooled: settings.stopWhenFooled && (attack == .pgd || attack == .mim) && !target.isStochastic,
                        eotSamples: settings.eotSamples, eotLoss: settings.eotLoss, inputRange: [range.lowerBound, range.upperBound],
                        cleanAccuracy: clean, cleanMeanEntropy: mean(cleanPredictive.totalEntropy),
                        cleanMeanMutualInformation: sampled ? mean(cleanPredictive.mutualInformation) : nil, points: points,
                        checks: checks, seconds: Date().timeIntervalSince(start), warning: warning)
    if let world, world.size > 1 { _ = try world.broadcast(try ResultStore.encoder.encode(result), from: 0) }
    return result
}

/// One batch of examples attacked: its clean predictive, and per ε the adversarial inputs and
/// their scoring.
package struct AttackedBatch {
    package struct Stage: Codable { package var attack: String; package var robust: Int }
    package struct Budget {
        package var adversarial: Tensor
        package var predictive: Predictive
        package var correctInEveryRepeat: [Bool]?
        /// AutoAttack: the examples still classified correctly after each of its attacks.
        package var stages: [Stage]?
    }
    package var clean: Predictive
    package var budgets: [Budget]
}

extension AttackedBatch.Budget {
    init(evaluation: RobustEvaluation, stages: [AttackedBatch.Stage]?) {
        self.init(adversarial: evaluation.adversarial, predictive: evaluation.predictive,
                  correctInEveryRepeat: evaluation.correctInEveryRepeat, stages: stages)
    }
}

/// A job of `attackPosterior`, and the bytes it travels in between MPI ranks (safetensors:
/// the predictives' per-sample probabilities and the adversarial inputs as tensors, the rest
/// as metadata). Package-visible for its fuzz target.
package enum AttackJob {
    case batch(AttackedBatch)
    case checks(GradientMaskingChecks.Measurement)

    var batch: AttackedBatch? { if case let .batch(b) = self { return b } else { return nil } }
    var measurement: GradientMaskingChecks.Measurement? { if case let .checks(m) = self { return m } else { return nil } }

    /// Sorted keys: the same job encodes to the same bytes.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    package func encoded() throws -> Data {
        var file = SafeTensorsFile()
        switch self {
        case let .checks(measurement):
            file.metadata["checks"] = String(decoding: try Self.encoder.encode(measurement), as: UTF8.self)
        case let .batch(batch):
            file.metadata["budgets"] = String(batch.budgets.count)
            store(batch.clean, as: "clean", in: &file)
            for (e, budget) in batch.budgets.enumerated() {
                file["\(e).adversarial"] = budget.adversarial
                store(budget.predictive, as: "\(e).predictive", in: &file)
                if let correct = budget.correctInEveryRepeat {
                    file["\(e).correctInEveryRepeat"] = Tensor(shape: [correct.count], values: correct.map { $0 ? 1 : 0 })
                }
                if let stages = budget.stages {
                    file.metadata["\(e).stages"] = String(decoding: try Self.encoder.encode(stages), as: UTF8.self)
                }
            }
        }
        return try file.encoded()
    }

    /// A job's result as `rank` sent it; sizes that disagree within it are refused.
    package init(encoded bytes: Data, from rank: Int) throws {
        let file = try SafeTensorsFile(encoded: bytes, name: "rank \(rank)'s attack result")
        func bad(_ what: String) -> MPIError { .unexpectedMessage(from: rank, message: "an attack result with \(what)") }
        if let checks = file.metadata["checks"] {
            guard let measurement = try? JSONDecoder().decode(GradientMaskingChecks.Measurement.self, from: Data(checks.utf8)) else {
                throw bad("unreadable gradient-masking measurements")
            }
            let m = measurement, counts = [m.flatGradients, m.fgsm, m.pgd, m.apgd, m.covering, m.square ?? 0]
            guard (0...(1 << 40)).contains(m.examples), counts.allSatisfy({ (0...m.examples).contains($0) }) else {
                throw bad("gradient-masking counts outside 0…\(m.examples)")
            }
            self = .checks(measurement)
            return
        }
        guard let count = file.metadata["budgets"].flatMap(Int.init), count >= 0 else { throw bad("neither a batch nor checks") }
        func predictive(_ name: String) throws -> Predictive {
            guard let probabilities = file[name] else { throw bad("no \(name)") }
            if let given = file.doubles(name + ".expectedEntropy") {
                return try Predictive(probabilities: probabilities.reshaped(Array(probabilities.shape.dropFirst())), expectedEntropy: given)
            }
            return try Predictive(probabilities: probabilities)
        }
        let budgets = try (0..<count).map { e -> AttackedBatch.Budget in
            guard let adversarial = file["\(e).adversarial"] else { throw bad("no adversarial inputs for budget \(e)") }
            let stages = try file.metadata["\(e).stages"].map { text in
                guard let stages = try? JSONDecoder().decode([AttackedBatch.Stage].self, from: Data(text.utf8)) else { throw bad("unreadable stages") }
                return stages
            }
            return .init(adversarial: adversarial, predictive: try predictive("\(e).predictive"),
                         correctInEveryRepeat: file["\(e).correctInEveryRepeat"].map { $0.values.map { $0 != 0 } }, stages: stages)
        }
        let clean = try predictive("clean"), rows = clean.exampleCount
        for (e, b) in budgets.enumerated() {
            guard b.adversarial.shape.first == rows, b.predictive.exampleCount == rows, b.predictive.outputCount == clean.outputCount,
                  b.correctInEveryRepeat?.count ?? rows == rows else {
                throw bad("budget \(e)'s sizes disagreeing with its \(rows) clean examples of \(clean.outputCount) classes")
            }
            guard b.stages?.count == budgets[0].stages?.count else { throw bad("budgets with different AutoAttack stages") }
        }
        self = .batch(AttackedBatch(clean: clean, budgets: budgets))
    }

    /// Refuses a result that is not the one job `index` makes: a batch of `rows` examples
    /// attacked at `budgets` ε, or (`rows` nil) gradient-masking checks.
    func requireFits(job index: Int, rows: Int?, budgets: Int, from rank: Int) throws {
        switch (self, rows) {
        case let (.batch(b), rows?) where b.clean.exampleCount == rows && b.budgets.count == budgets: return
        case (.checks, nil): return
        default: throw MPIError.unexpectedMessage(from: rank, message: "an attack result that does not fit job \(index)")
        }
    }

    /// A classification predictive's per-sample probabilities (and a distilled student's given
    /// expected entropies) under `name`.
    private func store(_ predictive: Predictive, as name: String, in file: inout SafeTensorsFile) {
        file[name] = predictive.probabilities
        if predictive.expectedEntropyIsGiven {
            file.setDoubles(predictive.expectedEntropy, shape: [predictive.expectedEntropy.count], name: name + ".expectedEntropy")
        }
    }
}

/// `path` with "-eps<ε>" before its extension (adversarial inputs of one budget).
func adversarialsPath(_ path: String, epsilon: Float) -> String {
    let url = URL(fileURLWithPath: path)
    let ext = url.pathExtension.isEmpty ? "npy" : url.pathExtension
    return url.deletingPathExtension().path + "-eps\(epsilon)." + ext
}
