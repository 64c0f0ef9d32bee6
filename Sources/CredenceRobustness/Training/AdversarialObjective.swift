import CredenceData
import CredenceInference
import CredenceNN
import CredenceTensor

/// Adversarial training as a training objective: each step attacks the batch against the
/// network of the moment (L∞ or L2, budget ε, within the valid input range), then returns the loss
/// the kind prescribes (`AdversarialTrainingKind`) — so any method that trains through the
/// one training loop (MAP, MC dropout, ensemble members, and the networks post-hoc methods
/// start from) trains adversarially.
///
/// The attack's passes run in the training pass's mode (dropout on; batch normalization on
/// the batch's statistics) with randomness of their own, and record no running statistics;
/// only the loss's own passes do, as in PyTorch's PGD-AT and TRADES code. With `eotSamples`
/// K > 1 a stochastic model's attack steps follow the mean input gradient of K passes with
/// fresh noise (expectation over transformation). The training accuracy the loop reports is
/// on the adversarial inputs (TRADES: the clean ones, which its loss also sees).
///
/// ```swift
/// var options = TrainingOptions()
/// options.dataset = .fashionMNIST; options.model = .cnn
/// options.adversarial = AdversarialTraining(kind: .pgd, epsilon: 0.1, steps: 7)
/// let result = try train(options, objective: try AdversarialObjective(options))
/// ```
public struct AdversarialObjective: TrainingObjective {
    public let settings: AdversarialTraining
    /// Label smoothing of the cross-entropy terms.
    public let labelSmoothing: Float
    /// Pixels stay in here (images: 0…1); nil for unbounded features.
    public let inputRange: ClosedRange<Float>?

    public init(_ settings: AdversarialTraining, labelSmoothing: Float = 0, inputRange: ClosedRange<Float>? = 0...1) throws {
        try settings.validate()
        self.settings = settings
        self.labelSmoothing = labelSmoothing
        self.inputRange = inputRange
    }

    /// The objective `options.adversarial` asks for: image inputs are pixels in 0…1, other
    /// features are unbounded. Throws when the options ask for no adversarial training.
    public init(_ options: TrainingOptions) throws {
        guard let settings = options.adversarial else {
            throw TrainingError.invalidConfiguration("the training options ask for no adversarial training (set `adversarial`)")
        }
        let images = DatasetFacts(options.dataset).inputShape.count == 3
        try self.init(settings, labelSmoothing: options.labelSmoothing, inputRange: images ? 0...1 : nil)
    }

    /// The objective of `options` when they ask for adversarial training; nil otherwise.
    public static func forOptions(_ options: TrainingOptions) throws -> AdversarialObjective? {
        options.adversarial == nil ? nil : try AdversarialObjective(options)
    }

    public var identity: String { settings.identity + (labelSmoothing == 0 ? "" : " label-smoothing=\(labelSmoothing)") }
    public var isClassification: Bool { true }

    public func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
                     context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor) {
        guard !batch.labels.isEmpty else {
            throw TrainingError.invalidConfiguration("adversarial training needs class labels; this batch has none (a regression set?)")
        }
        let scale = settings.warmupFraction(epochsDone: batch.epochsDone)
        let attack = InnerAttack(settings: settings, scale: scale, inputRange: inputRange,
                                 passes: model.isStochastic ? settings.resolvedEOTSamples : 1)
        var rng = RandomGenerator(seed: context.rng.next())
        let theta = Variable(constant: parameters.value)
        let crossEntropy = { (logits: Variable) in
            try Loss.softmaxCrossEntropy(logits: logits, labels: batch.labels, labelSmoothing: labelSmoothing)
        }
        switch settings.kind {
        case .pgd, .fgsmRS, .nFGSM:
            let adversarial = scale == 0 ? batch.inputs
                : try attack.perturb(batch.inputs, model: model, parameters: theta, mode: context.mode, rng: &rng) { logits in
                    try Loss.softmaxCrossEntropy(logits: logits, labels: batch.labels)
                }
            let logits = try model(Variable(constant: adversarial), parameters: parameters, context: &context)
            return (try crossEntropy(logits), logits.value)
        case .ibp:
            let clean = try model(Variable(constant: batch.inputs), parameters: parameters, context: &context)
            let natural = try crossEntropy(clean)
            guard scale > 0 else { return (natural, clean.value) }
            let bounds = try IntervalBoundPropagation(model: model, inputRange: inputRange)
            // The worst-case logits relative to the true class are minus the margins' lower bounds.
            let margins = try bounds.marginLowerBounds(batch.inputs, labels: batch.labels, epsilon: settings.epsilon * scale, parameters: parameters)
            let robust = try Loss.softmaxCrossEntropy(logits: margins * -1, labels: batch.labels)
            let kappa = 1 - 0.5 * scale
            return (try natural * kappa + robust * (1 - kappa), clean.value)
        case .trades:
            let clean = try model(Variable(constant: batch.inputs), parameters: parameters, context: &context)
            let natural = try crossEntropy(clean)
            guard scale > 0, settings.resolvedBeta > 0 else { return (natural, clean.value) }
            // The inner maximisation's target, p(x) at the current weights, is fixed during the attack.
            let target = Variable(constant: clean.value)
            let adversarial = try attack.perturb(batch.inputs, model: model, parameters: theta, mode: context.mode, rng: &rng) { logits in
                try Self.meanKL(fromLogits: target, toLogits: logits)
            }
            let perturbed = try model(Variable(constant: adversarial), parameters: parameters, context: &context)
            // Both terms on the tape: the KL's gradient flows through f(x) and f(x′), as in TRADES.
            let kl = try Self.meanKL(fromLogits: clean, toLogits: perturbed)
            return (try natural + kl * settings.resolvedBeta, clean.value)
        }
    }

    /// (1/N) Σₙ KL(softmax(aₙ) ‖ softmax(bₙ)) for logits a, b [N, C].
    static func meanKL(fromLogits a: Variable, toLogits b: Variable) throws -> Variable {
        let n = Float(Swift.max(b.shape.first ?? 1, 1))
        return try (a.softmax() * (a.logSoftmax() - b.logSoftmax())).sum() * (1 / n)
    }
}

/// The attack inside a training step: a random start, `steps` steps of the (ε-scaled) step size
/// — along the gradient's sign (L∞) or its unit direction per example (L2) — each projected
/// onto the ε-ball (not N-FGSM's) and the input range.
struct InnerAttack {
    var settings: AdversarialTraining
    /// The warm-up's fraction of ε, step size and noise.
    var scale: Float
    var inputRange: ClosedRange<Float>?
    /// Forward passes averaged per input gradient (EOT).
    var passes: Int

    var epsilon: Float { settings.epsilon * scale }

    func perturb(_ clean: Tensor, model: any NetworkModel, parameters: Variable, mode: ForwardMode,
                 rng: inout RandomGenerator, loss: (Variable) throws -> Variable) throws -> Tensor {
        let eps = epsilon, alpha = settings.resolvedStepSize * scale
        let perRow = clean.count / Swift.max(clean.shape.first ?? 1, 1)
        var x = clean
        // Starts: uniform in ±ε (PGD, FGSM-RS) or ±noise (N-FGSM), TRADES's 0.001·N(0, I); L2 PGD:
        // a random direction at a uniform fraction of ε (torchattacks' PGDL2).
        x.withUnsafeMutableBufferPointer { v in
            switch settings.kind {
            case .trades:
                for j in v.indices { v[j] += 0.001 * rng.normalFloat() }
            case .ibp:
                break  // never attacks
            case .pgd where settings.resolvedNorm == .l2:
                addRandomL2Offsets(v, radius: eps, perRow: perRow, rng: &rng)
            case .pgd, .fgsmRS, .nFGSM:
                let width = settings.kind == .pgd ? eps : settings.resolvedNoise * scale
                for j in v.indices { v[j] += width * (2 * rng.uniformFloat() - 1) }
            }
        }
        let projectsToBall = settings.kind != .nFGSM
        x = project(x, around: clean, epsilon: projectsToBall ? eps : nil)
        for _ in 0..<settings.resolvedSteps {
            let g = try inputGradient(at: x, model: model, parameters: parameters, mode: mode, rng: &rng, loss: loss)
            x = steepestAscentStep(x, along: g, stepSize: alpha, norm: settings.resolvedNorm, perRow: perRow)
            x = project(x, around: clean, epsilon: projectsToBall ? eps : nil)
        }
        return x
    }

    /// ∇ₓ of `loss` summed over `passes` forward passes, each with fresh noise; only its sign (L∞)
    /// or direction (L2) is used.
    func inputGradient(at x: Tensor, model: any NetworkModel, parameters: Variable, mode: ForwardMode,
                       rng: inout RandomGenerator, loss: (Variable) throws -> Variable) throws -> Tensor {
        var total: Tensor?
        for _ in 0..<passes {
            let tape = Tape()
            let input = tape.variable(x)
            var scratch = ForwardContext(mode: mode, rng: RandomGenerator(seed: rng.next()))
            let value = try loss(try model(input, parameters: parameters, context: &scratch))
            guard value.isTracked else { return Tensor(shape: x.shape, repeating: 0) }
            let g = tape.gradients(of: value)[input]
            if total == nil { total = g } else { total!.addInPlace(g, scale: 1) }
        }
        return total!
    }

    /// Into the ε-ball around `clean` (when `epsilon` is given) and the input range: the attacks'
    /// `Projection` in the training's norm, with an infinite ε or range for the constraints that
    /// do not apply.
    func project(_ x: Tensor, around clean: Tensor, epsilon: Float?) -> Tensor {
        Projection(norm: settings.resolvedNorm, epsilon: epsilon ?? .infinity, inputRange: inputRange ?? -Float.infinity...Float.infinity)
            .project(x, around: clean, perRow: clean.count / Swift.max(clean.shape.first ?? 1, 1))
    }
}
