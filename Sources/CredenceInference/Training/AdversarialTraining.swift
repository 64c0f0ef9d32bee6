import CredenceNN

/// The norm of an attack's perturbation budget (the attacks in CredenceRobustness, and
/// adversarial training's inner attack).
public enum AttackNorm: String, Codable, Sendable, CaseIterable {
    case linf, l2
}

/// The adversarial training objectives (`credence train --adversarial KIND`).
public enum AdversarialTrainingKind: String, Codable, CaseIterable, Sendable {
    /// PGD adversarial training (Madry et al. 2018): the cross-entropy at a PGD point — a
    /// uniform start in the L∞ ε-ball, `steps` signed-gradient steps, each projected back.
    case pgd
    /// TRADES (Zhang et al. 2019): CE(f(x), y) + β·KL(f(x) ‖ f(x′)), x′ found by PGD on the KL
    /// from x + 0.001·N(0, I).
    case trades
    /// FGSM with random start (Wong et al. 2020): one signed-gradient step of 1.25ε from a
    /// uniform point of the ε-ball, projected back.
    case fgsmRS = "fgsm-rs"
    /// N-FGSM (de Jorge et al. 2022): one signed-gradient step of ε from uniform noise of ±2ε,
    /// not projected back to the ε-ball (only into the input range).
    case nFGSM = "n-fgsm"
    /// Interval bound propagation training (Gowal et al. 2018): κ·CE(f(x), y) + (1 − κ)·CE at
    /// the worst-case logits IBP bounds give over the ε-box, κ going from 1 to ½ as ε warms up.
    /// No attack; needs a chain of dense, convolution, pooling and monotone activations.
    case ibp

    /// Whether the inner attack takes one step (the FGSM family) rather than `steps`.
    public var isSingleStep: Bool { self == .fgsmRS || self == .nFGSM }
    /// Whether an attack finds the training inputs (all but IBP).
    public var attacks: Bool { self != .ibp }
}

/// Settings of adversarial training, a training option (`TrainingOptions.adversarial`): the
/// training loop minimises the loss at inputs an attack of budget ε (L∞, or L2 for PGD and
/// TRADES) found against the network of the moment. The objective itself lives in CredenceRobustness
/// (`AdversarialObjective`); this is what a run records, so a checkpoint trained one way is
/// never resumed another. A field left nil takes the kind's default (`resolved…`).
public struct AdversarialTraining: Codable, Equatable, Sendable {
    public var kind: AdversarialTrainingKind
    /// ε, the budget (L∞: pixels in 0…1; L2: the perturbation's Euclidean length).
    public var epsilon: Float
    /// Attack steps (PGD, TRADES; default 10). The FGSM family takes one.
    public var steps: Int?
    /// α, the size of a step. Default: 2.5ε/steps (PGD), ε/4 (TRADES), 1.25ε (FGSM-RS), ε (N-FGSM).
    public var stepSize: Float?
    /// TRADES's β, the weight of the KL term (default 6, the paper's).
    public var beta: Float?
    /// Half-width of the uniform noise the single-step attacks start from. Default: ε
    /// (FGSM-RS), 2ε (N-FGSM).
    public var noise: Float?
    /// ε (and with it the step size and noise) grows linearly from 0 over this many epochs
    /// (fractional, per step); 0 or nil: the full ε from the first step.
    public var warmupEpochs: Double?
    /// Forward passes whose input gradients one attack step averages (EOT for a stochastic
    /// model, e.g. over dropout masks); a deterministic model takes one. Default 1.
    public var eotSamples: Int?
    /// The budget's norm; nil: L∞. L2 for PGD and TRADES: a uniform start in the L2 ball
    /// (PGD), steps along ∇/‖∇‖₂, projection onto the ball.
    public var norm: AttackNorm?

    public init(kind: AdversarialTrainingKind, epsilon: Float, steps: Int? = nil, stepSize: Float? = nil, beta: Float? = nil,
                noise: Float? = nil, warmupEpochs: Double? = nil, eotSamples: Int? = nil, norm: AttackNorm? = nil) {
        self.kind = kind
        self.epsilon = epsilon
        self.steps = steps
        self.stepSize = stepSize
        self.beta = beta
        self.noise = noise
        self.warmupEpochs = warmupEpochs
        self.eotSamples = eotSamples
        self.norm = norm
    }

    public var resolvedSteps: Int { kind.isSingleStep ? 1 : steps ?? 10 }
    public var resolvedStepSize: Float {
        if let stepSize { return stepSize }
        switch kind {
        case .pgd: return 2.5 * epsilon / Float(resolvedSteps)
        case .trades: return epsilon / 4
        case .fgsmRS: return 1.25 * epsilon
        case .nFGSM, .ibp: return epsilon
        }
    }
    public var resolvedBeta: Float { beta ?? 6 }
    public var resolvedNoise: Float { noise ?? (kind == .nFGSM ? 2 * epsilon : epsilon) }
    public var resolvedEOTSamples: Int { eotSamples ?? 1 }
    public var resolvedNorm: AttackNorm { norm ?? .linf }

    /// The fraction of ε in force after `epochsDone` epochs of training (1 without a warm-up,
    /// or outside a training loop).
    public func warmupFraction(epochsDone: Double?) -> Float {
        guard let w = warmupEpochs, w > 0, let done = epochsDone else { return 1 }
        return Float(Swift.min(1, done / w))
    }

    /// Names the objective and every setting that changes it ("pgd-at eps=0.1 steps=10 step=0.025").
    public var identity: String {
        guard kind.attacks else {
            return ["ibp eps=\(epsilon)", warmupEpochs.flatMap { $0 > 0 ? "warmup=\($0)" : nil }].compactMap { $0 }.joined(separator: " ")
        }
        var parts = ["\(kind.rawValue)-at", "eps=\(epsilon)"]
        if !kind.isSingleStep { parts.append("steps=\(resolvedSteps)") }
        parts.append("step=\(resolvedStepSize)")
        if kind == .trades { parts.append("beta=\(resolvedBeta)") }
        if kind.isSingleStep { parts.append("noise=\(resolvedNoise)") }
        if let w = warmupEpochs, w > 0 { parts.append("warmup=\(w)") }
        if resolvedEOTSamples > 1 { parts.append("eot=\(resolvedEOTSamples)") }
        if resolvedNorm == .l2 { parts.append("norm=l2") }
        return parts.joined(separator: " ")
    }

    /// Rejects settings no attack can run with, and settings the kind does not take.
    public func validate() throws {
        func bad(_ message: String) -> TrainingError { .invalidConfiguration("adversarial training: \(message)") }
        if resolvedNorm == .l2 {
            guard kind == .pgd || kind == .trades else {
                throw bad("L2 adversarial training takes --adversarial pgd or trades; \(kind.rawValue) is L∞ only")
            }
            guard epsilon > 0, epsilon.isFinite else { throw bad("--eps is \(epsilon); an L2 budget must be > 0") }
        } else {
            guard epsilon > 0, epsilon.isFinite, epsilon <= 1 else {
                throw bad("--eps is \(epsilon); it must be in (0, 1] (pixels are in 0…1)")
            }
        }
        if let s = steps {
            guard !kind.isSingleStep || s == 1 else { throw bad("\(kind.rawValue) takes one attack step; --attack-steps \(s) needs --adversarial pgd or trades") }
            guard s >= 1 else { throw bad("--attack-steps must be ≥ 1, got \(s)") }
        }
        if let a = stepSize, !(a > 0 && a.isFinite) { throw bad("--attack-step-size must be > 0, got \(a)") }
        if let b = beta {
            guard kind == .trades else { throw bad("--trades-beta is TRADES's; --adversarial \(kind.rawValue) does not take it") }
            guard b >= 0, b.isFinite else { throw bad("--trades-beta must be ≥ 0, got \(b)") }
        }
        if let n = noise {
            guard kind.isSingleStep else { throw bad("--attack-noise is the single-step attacks' (fgsm-rs, n-fgsm); \(kind.rawValue) starts otherwise") }
            guard n >= 0, n.isFinite else { throw bad("--attack-noise must be ≥ 0, got \(n)") }
        }
        if let w = warmupEpochs, !(w >= 0 && w.isFinite) { throw bad("--eps-warmup must be ≥ 0 epochs, got \(w)") }
        if let k = eotSamples, k < 1 { throw bad("--attack-eot must be ≥ 1, got \(k)") }
        if !kind.attacks, steps != nil || stepSize != nil || eotSamples != nil {
            throw bad("ibp propagates bounds instead of attacking: --attack-steps, --attack-step-size and --attack-eot do not apply")
        }
    }
}
