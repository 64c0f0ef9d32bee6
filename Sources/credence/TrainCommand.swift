import ArgumentParser
import Credence
import Foundation

extension AdversarialTrainingKind: ExpressibleByArgument {}
extension RegressionNoise: ExpressibleByArgument {}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a model on a data set, save a checkpoint, and report test accuracy and NLL.",
        discussion: "With --method, trains what the method needs (a post-hoc method trains its network first), writes the posterior to --out and reports calibration and OOD figures.\n\n" + MethodArguments.discussion)

    @Option(help: "Data set.") var dataset: DatasetName = .twoMoons
    @Option(help: "Architecture.") var model: ModelKind = .mlp
    @Option(help: "Hidden widths of the MLP, comma-separated (default 512,512 for images, 64,64 otherwise).")
    var hidden: String?
    @Option(help: "Dropout rate after each hidden layer.") var dropout: Float = 0
    @Option(help: "Noise of a regression MLP: heteroscedastic (a variance per input, the default) or homoscedastic (one learned variance per output).")
    var regressionNoise: RegressionNoise?
    @Option(help: "Training epochs.") var epochs = 10
    @Option(help: "Mini-batch size.") var batchSize = 128
    @Option(name: .customLong("lr"), help: "Learning rate.") var learningRate: Float = 1e-3
    @Option(help: "Optimizer.") var optimizer: OptimizerKind = .adam
    @Option(help: "Momentum (SGD only).") var momentum: Float = 0.9
    @Option(help: "Weight decay (L2 for sgd/adam, decoupled for adamw).") var weightDecay: Float = 0
    @Option(help: "Learning-rate schedule.") var schedule: ScheduleKind = .constant
    @Option(help: "Linear warm-up steps.") var warmup = 0
    @Option(help: "Clip the gradient's global norm to this value.") var clipNorm: Float?
    @Option(help: "Label smoothing for cross-entropy.") var labelSmoothing: Float = 0
    @Option(help: "Random augmentation of training inputs (crop-flip: a shift of up to --augment-padding pixels and a horizontal flip; gaussian-noise: N(0, σ²) noise of σ --noise-sigma, for randomized smoothing).")
    var augment: Augmentation?
    @Option(help: "Zero padding of the random crop, pixels (default 2).") var augmentPadding: Int?
    @Option(help: "σ of gaussian-noise augmentation (default 0.25).") var noiseSigma: Float?
    @Option(help: ArgumentHelp("Adversarial training: train on the inputs an attack of budget --eps finds at each step (L∞, or L2 with --adversarial-norm l2).",
                               discussion: "pgd (Madry et al.), trades (Zhang et al.), fgsm-rs (FGSM with random start, Wong et al.), n-fgsm (de Jorge et al.); ibp trains on interval bounds instead of an attack (Gowal et al.; --eps-warmup ramps ε and the robust term's weight)."))
    var adversarial: AdversarialTrainingKind?
    @Option(help: "Adversarial training's budget ε (L∞: pixels in 0…1; L2: the perturbation's length).") var eps: Float?
    @Option(help: "The budget's norm: linf (default) or l2 (pgd and trades).") var adversarialNorm: AttackNorm?
    @Option(help: "Attack steps of pgd/trades adversarial training (default 10).") var attackSteps: Int?
    @Option(help: "Attack step size (default 2.5ε/steps for pgd, ε/4 for trades, 1.25ε for fgsm-rs, ε for n-fgsm).")
    var attackStepSize: Float?
    @Option(help: "Half-width of the single-step attacks' uniform start (default ε for fgsm-rs, 2ε for n-fgsm).")
    var attackNoise: Float?
    @Option(help: "TRADES's β, the weight of the KL term (default 6).") var tradesBeta: Float?
    @Option(help: "Epochs over which ε grows linearly from 0 (default 0: the full ε from the start).") var epsWarmup: Double?
    @Option(help: "Forward passes averaged per attack gradient of a stochastic model (EOT over dropout masks; default 1).")
    var attackEot: Int?
    @Option(help: "Random seed (initialisation, shuffling, dropout, synthetic data).") var seed: UInt64 = 0
    @Option(help: "Directory holding the data set's files (default: the data set's standard location).")
    var dataDir: String?
    @Option(help: "Use only the first N training examples (quick runs).") var trainLimit: Int?
    @Option(help: "Keep N training examples out of training for post-hoc calibration (`credence fit`).") var holdout = 0
    @Option(help: "Classes to leave out of training and testing, comma-separated (e.g. 5,6,7,8,9); their test examples are the OOD set held-out-classes.")
    var heldOutClasses: String?
    @Option(help: "Checkpoint to write (safetensors); rewritten atomically after every epoch, with the optimizer state.")
    var out: String?
    @Flag(help: ArgumentHelp(
        "Continue the run saved in --out if it exists (same options; --epochs may grow) instead of overwriting it.",
        discussion: "The resumed run ends bit for bit where the uninterrupted one would. A checkpoint that already holds every epoch is evaluated without training."))
    var resume = false
    @OptionGroup var method: MethodArguments
    @Option(help: "Monte-Carlo samples when evaluating a stochastic posterior.") var samples = 32
    @Option(parsing: .upToNextOption, help: oodHelp, transform: OODSource.init(parsing:)) var ood: [OODSource] = []
    @Option(help: "Output format.") var format: OutputFormat = .text

    func options() throws -> TrainingOptions {
        var o = TrainingOptions()
        o.dataset = dataset; o.model = model; o.dropout = dropout; o.regressionNoise = regressionNoise; o.epochs = epochs; o.batchSize = batchSize
        o.learningRate = learningRate; o.optimizer = optimizer; o.momentum = momentum; o.weightDecay = weightDecay
        o.schedule = schedule; o.warmupSteps = warmup; o.clipNorm = clipNorm; o.labelSmoothing = labelSmoothing
        o.augmentation = augment; o.augmentationPadding = augmentPadding; o.noiseSigma = noiseSigma
        if let adversarial {
            guard let eps else { throw ValidationError("--adversarial \(adversarial.rawValue) needs its budget: --eps E (e.g. 0.1 for Fashion-MNIST)") }
            o.adversarial = AdversarialTraining(kind: adversarial, epsilon: eps, steps: attackSteps, stepSize: attackStepSize, beta: tradesBeta,
                                                noise: attackNoise, warmupEpochs: epsWarmup, eotSamples: attackEot, norm: adversarialNorm)
        } else if eps != nil || attackSteps != nil || attackStepSize != nil || attackNoise != nil || tradesBeta != nil || epsWarmup != nil
                    || attackEot != nil || adversarialNorm != nil {
            throw ValidationError("--eps, --attack-steps, --attack-step-size, --attack-noise, --trades-beta, --eps-warmup, --attack-eot and --adversarial-norm set adversarial training: add --adversarial pgd|trades|fgsm-rs|n-fgsm")
        }
        o.seed = seed; o.dataDirectory = dataDir; o.trainLimit = trainLimit; o.holdout = holdout
        if let hidden { o.hidden = try integerList(hidden, option: "--hidden", example: "512,512") }
        if let heldOutClasses { o.heldOutClasses = try integerList(heldOutClasses, option: "--held-out-classes", example: "5,6,7,8,9") }
        return o
    }

    func validate() throws {
        do { try options().validate() } catch let e as TrainingError { throw ValidationError(e.description) }
        if resume && out == nil { throw ValidationError("--resume continues the checkpoint given by --out FILE; pass --out") }
        let chosen = try method.make()
        if chosen == nil && !ood.isEmpty { throw ValidationError("--ood needs --method (or use `credence evaluate --ood` on the checkpoint)") }
        guard samples >= 1 else { throw ValidationError("--samples must be ≥ 1, got \(samples)") }
    }

    func run() throws {
        let opts = try options()
        if let a = opts.adversarial, a.kind == .ibp, (a.warmupEpochs ?? 0) == 0 {
            Terminal.error("warning: IBP training at the full ε from the first step often collapses to a constant predictor (the Fashion-MNIST MLP at ε 0.05: loss 2.3027, accuracy 0.10); ramp ε with --eps-warmup E as Gowal et al. do, e.g. over half the epochs")
        }
        // Under mpirun: data-parallel training over the ranks (rank 0 writes and prints).
        let world = try sharedWorld()
        if let chosen = try method.make() {
            guard let world else { return try runPosterior(opts, chosen) }
            guard chosen is DeepEnsembleMethod || chosen.spreadsOverRanks else {
                Terminal.error("error: under mpirun (\(world.size) ranks) `credence train --method` runs ensembles (members over ranks), hmc and nuts (chains over ranks); run \(type(of: chosen).name) as one process — plain `credence train` (no --method) trains data parallel")
                throw ExitCode.failure
            }
            guard let out else {
                Terminal.error("error: a posterior trained over MPI ranks needs --out FILE on a path every rank reaches (its networks' checkpoints go next to it)")
                throw ExitCode.failure
            }
            return try runOverRanks(opts, chosen, world: world, out: out)
        }
        let speaks = (world?.rank ?? 0) == 0
        if let world, speaks {
            Terminal.error("data parallel over \(world.size) ranks × \(Parallel.workerCount) thread(s): each takes its shards of every batch of \(opts.batchSize)")
        }
        let result = try reportingErrors {
            try train(opts, checkpointPath: out, resume: resume, objective: try AdversarialObjective.forOptions(opts), dataParallel: world,
                      onProgress: speaks ? Terminal.show : { _ in }, onResume: speaks ? Self.showResume : { _ in })
        }
        guard speaks else { return }
        if format == .json { return try printJSON(result) }
        print("\(result.model) on \(result.dataset): \(result.parameterCount) parameters, \(result.trainExamples) training examples, \(result.epochs) epochs")
        if let k = result.resumedFromEpoch, k >= result.epochs {
            print(String(format: "training: already complete in the checkpoint, final loss %.4f", result.lossHistory.last ?? .nan))
        } else {
            print(String(format: "training: %.1f s, %.0f samples/s, final loss %.4f", result.trainingSeconds,
                         result.samplesPerSecond, result.lossHistory.last ?? .nan))
        }
        printSummary(result.test)
        if let path = result.checkpoint { print("checkpoint: \(path)") }
    }

    func runPosterior(_ opts: TrainingOptions, _ method: any RegisteredMethod) throws {
        let identity = try self.method.identity()  // the --method/--set arguments' canonical line
        let result = try reportingErrors {
            try trainPosterior(opts, method: method, samples: samples, ood: ood, out: out, resume: resume, methodIdentity: identity,
                               onStage: { Terminal.error($0) }, onProgress: Terminal.show)
        }
        if format == .json { return try printJSON(result) }
        let seconds = result.runs.reduce(0) { $0 + $1.trainingSeconds }
        print(String(format: "trained %d network(s) in %.1f s", result.runs.count, seconds)
              + (result.posteriorSeconds > 0 ? String(format: ", then %.1f s fitting the posterior", result.posteriorSeconds) : ""))
        printDetails(result.details)
        printEvaluation(result.evaluation)
        if let path = result.posterior { print("posterior: \(path)") }
    }

    /// `--method ensemble|hmc|nuts` under mpirun: members or chains over the ranks; rank 0
    /// mixes or gathers them, writes and reports.
    func runOverRanks(_ opts: TrainingOptions, _ method: any RegisteredMethod, world: MPIWorld, out: String) throws {
        let ensemble = method as? DeepEnsembleMethod
        if world.rank == 0 {
            Terminal.error(ensemble.map { "\($0.members) members over \(world.size) ranks (rank r trains members r, r + \(world.size), …)" }
                           ?? "\(type(of: method).name) chains over \(world.size) ranks (chain c on rank c mod \(world.size))")
        }
        let identity = try self.method.identity()
        let result = try reportingErrors {
            try trainPosteriorOverRanks(opts, method: method, world: world, samples: samples, ood: ood, out: out, resume: resume,
                                        methodIdentity: identity,
                                        onStage: { Terminal.error($0) }, onProgress: world.rank == 0 ? Terminal.show : { _ in })
        }
        guard let result else { return }
        if format == .json { return try printJSON(result) }
        print((ensemble.map { String(format: "trained %d member(s) over %d ranks in %.1f s", $0.members, world.size, result.distributedSeconds ?? 0) }
               ?? String(format: "trained the network in %.1f s, then ran the chains over %d ranks", result.distributedSeconds ?? 0, world.size))
              + (result.posteriorSeconds > 0 ? String(format: ", then %.1f s fitting the posterior", result.posteriorSeconds) : ""))
        printDetails(result.details)
        printEvaluation(result.evaluation)
        if let path = result.posterior { print("posterior: \(path)") }
    }

    /// Says on stderr where a `--resume` run picks up.
    static func showResume(_ point: ResumePoint) {
        if !point.found {
            Terminal.error("no checkpoint at \(point.path) yet: starting from epoch 0 of \(point.epochs)")
        } else if point.isComplete {
            Terminal.error("resuming from epoch \(point.epoch) of \(point.epochs): \(point.path) holds the complete run; reporting it without training")
        } else {
            Terminal.error("resuming from epoch \(point.epoch) of \(point.epochs) (\(point.path))")
        }
    }
}

/// "5, 6,7" → [5, 6, 7]; anything else is a usage error naming the option.
func integerList(_ text: String, option: String, example: String) throws -> [Int] {
    let values = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
        throw ValidationError("\(option) takes comma-separated integers such as \(example); got '\(text)'")
    }
    return values.map { $0! }
}

func printSummary(_ s: EvaluationSummary) {
    var parts: [String] = []
    if let a = s.accuracy { parts.append(String(format: "accuracy %.4f", a)) }
    if let r = s.rootMeanSquaredError { parts.append(String(format: "RMSE %.4f", r)) }
    if let n = s.negativeLogLikelihood { parts.append(String(format: "NLL %.4f", n)) }
    print("test (\(s.dataset), \(s.examples) examples): " + parts.joined(separator: ", "))
}
