import CredenceData
import CredenceInference
import CredenceNN
import CredenceRobustness
import Foundation

/// Reads a parsed suite (`SuiteNode`) field by field, rejecting unknown fields, wrong types,
/// unknown names and impossible combinations with the line and field of the culprit, and
/// expands the grid into run configurations. See `docs/bench-suites.md`.
struct SuiteDecoder {
    /// The file name (or "built-in suite 'quick'") errors start with.
    let source: String

    static let topFields = ["name", "description", "datasets", "models", "methods", "seeds", "epochs", "batchSize",
                            "learningRate", "samples", "trainLimit", "training", "evaluations", "ood", "attacks", "certifications", "shifts"]
    static let datasetFields = ["name", "trainLimit", "heldOutClasses", "evaluations", "ood"]
    static let modelFields = ["kind", "hidden"]
    /// Run options a method entry may override (and grid over).
    static let runOverrides = [MethodOption("epochs", .integer(atLeast: 1), help: "training epochs"),
                               MethodOption("batchSize", .integer(atLeast: 1), help: "mini-batch size"),
                               MethodOption("learningRate", .real(above: 0, below: nil), help: "learning rate"),
                               MethodOption("samples", .integer(atLeast: 1), help: "Monte-Carlo samples of the predictive")]
    static let trainingSettings = [MethodOption("holdout", .integer(atLeast: 0), help: "training examples held out"),
                                   MethodOption("weightDecay", .nonNegativeReal, help: "weight decay"),
                                   MethodOption.choice("optimizer", OptimizerKind.self, default: nil, help: "optimizer"),
                                   MethodOption.choice("schedule", ScheduleKind.self, default: nil, help: "learning-rate schedule"),
                                   MethodOption("momentum", .nonNegativeReal, help: "SGD momentum"),
                                   MethodOption.choice("augmentation", Augmentation.self, default: nil, help: "training-image augmentation"),
                                   MethodOption("augmentationPadding", .integer(atLeast: 0), help: "crop-flip padding, pixels"),
                                   MethodOption("noiseSigma", .real(above: 0, below: nil), help: "σ of gaussian-noise augmentation"),
                                   MethodOption.choice("regressionNoise", RegressionNoise.self, default: nil, help: "noise of a regression MLP"),
                                   MethodOption.choice("adversarial", AdversarialTrainingKind.self, default: nil, help: "adversarial training"),
                                   MethodOption("adversarialEpsilon", .real(above: 0, below: nil), help: "adversarial training's budget ε"),
                                   MethodOption.choice("adversarialNorm", AttackNorm.self, default: nil, help: "adversarial training's norm (linf, l2)"),
                                   MethodOption("attackSteps", .integer(atLeast: 1), help: "attack steps of pgd/trades adversarial training"),
                                   MethodOption("attackStepSize", .real(above: 0, below: nil), help: "adversarial training's attack step size"),
                                   MethodOption("attackNoise", .nonNegativeReal, help: "single-step adversarial training's uniform start half-width"),
                                   MethodOption("tradesBeta", .nonNegativeReal, help: "TRADES's β"),
                                   MethodOption("epsWarmup", .nonNegativeReal, help: "epochs of linear ε warm-up"),
                                   MethodOption("attackEot", .integer(atLeast: 1), help: "forward passes per adversarial-training attack gradient (EOT)")]

    // MARK: - Errors and typed reads

    func fail(_ node: SuiteNode, _ field: String, _ message: String) -> SuiteError {
        .invalid(source: source, line: node.line, field: field, message: message)
    }

    func object(_ node: SuiteNode, _ field: String, known: [String], required: [String: String] = [:],
                what: String) throws -> [String: SuiteNode] {
        guard case let .object(members) = node.kind else { throw fail(node, field, "expected \(what), got \(node.description)") }
        var result: [String: SuiteNode] = [:]
        for (key, value) in members {
            guard known.contains(key) else {
                let hint = closest(key, in: known).map { "did you mean \"\($0)\"? " } ?? ""
                throw fail(value, join(field, key), "unknown field (\(hint)fields here: \(known.joined(separator: ", ")))")
            }
            result[key] = value
        }
        for key in known where required[key] != nil && result[key] == nil {
            throw fail(node, join(field, key), "missing required field (\(required[key]!))")
        }
        return result
    }

    func string(_ node: SuiteNode, _ field: String) throws -> String {
        guard case let .string(s) = node.kind else { throw fail(node, field, "expected a string, got \(node.description)") }
        return s
    }

    func integer(_ node: SuiteNode, _ field: String, atLeast minimum: Int) throws -> Int {
        switch canonical(MethodOption(field, .integer(atLeast: minimum), help: ""), node) {
        case let .success(text): return Int(text)!
        case let .failure(rejection): throw reject(rejection, node, field, owner: nil)
        }
    }

    func positive(_ node: SuiteNode, _ field: String) throws -> Float {
        switch canonical(MethodOption(leaf(field), .real(above: 0, below: nil), help: ""), node) {
        case let .success(text): return Float(text)!
        case let .failure(rejection): throw reject(rejection, node, field, owner: nil)
        }
    }

    /// The elements of a list; with `scalarAllowed`, a single value counts as a list of one.
    func list(_ node: SuiteNode, _ field: String, scalarAllowed: Bool = false, what: String) throws -> [SuiteNode] {
        if case let .array(elements) = node.kind {
            guard !elements.isEmpty else { throw fail(node, field, "the list is empty; give at least one \(what)") }
            return elements
        }
        guard scalarAllowed else { throw fail(node, field, "expected a list of \(what)s, got \(node.description)") }
        return [node]
    }

    func choice<E: RawRepresentable & CaseIterable>(_ node: SuiteNode, _ field: String, _ type: E.Type,
                                                    what: String) throws -> E where E.RawValue == String {
        let names = E.allCases.map(\.rawValue)
        guard case let .string(s) = node.kind else {
            throw fail(node, field, "expected a \(what) name (\(names.joined(separator: ", "))), got \(node.description)")
        }
        guard let value = E(rawValue: s) else { throw fail(node, field, unknown(s, names, what: what)) }
        return value
    }

    func unknown(_ value: String, _ names: [String], what: String) -> String {
        let hint = closest(value, in: names).map { "; did you mean '\($0)'?" } ?? ""
        return "unknown \(what) '\(value)' (choose from \(names.joined(separator: ", "))\(hint))"
    }

    /// A suite value checked as `option` says (lists, objects and booleans are never a setting's value).
    func canonical(_ option: MethodOption, _ node: SuiteNode) -> Result<String, SettingRejection> {
        switch node.kind {
        case let .number(v, text): return option.canonical(.number(v, text: text))
        case let .string(s): return option.canonical(.string(s))
        default:
            switch option.kind {
            case .integer: return .failure(.type("an integer"))
            case .real, .nonNegativeReal: return .failure(.type("a number"))
            case let .choice(values): return .failure(.type("one of \(values.joined(separator: ", "))"))
            }
        }
    }

    func reject(_ rejection: SettingRejection, _ node: SuiteNode, _ field: String, owner: String?) -> SuiteError {
        switch rejection {
        case let .type(expected): return fail(node, field, "expected \(expected), got \(node.description)")
        case let .range(message): return fail(node, field, owner.map { "\($0) \(message)" } ?? message)
        case let .unknown(value, choices): return fail(node, field, unknown(value, choices, what: "value"))
        }
    }

    func join(_ parent: String, _ key: String) -> String { parent.isEmpty ? key : "\(parent).\(key)" }
    func leaf(_ field: String) -> String { String(field.split(separator: ".").last ?? Substring(field)) }

    // MARK: - The suite

    struct Located<T> {
        var value: T
        var node: SuiteNode
        var field: String
    }

    struct DatasetEntry {
        var name: Located<DatasetName>
        var facts: DatasetFacts
        var trainLimit: Int?
        var heldOutClasses: Located<[Int]>?
        var evaluations: [Located<EvaluationKind>]?
        var ood: [Located<OODSource>]?
        var oodNode: SuiteNode?
    }

    struct ModelEntry {
        var kind: ModelKind
        var hidden: [Int]?
        var node: SuiteNode
        var field: String
    }

    struct MethodEntry {
        var method: any RegisteredMethod.Type
        /// The method's options for this entry (a combinator's include its member's).
        var options: [MethodOption]
        var node: SuiteNode
        var field: String
        /// One axis per setting or run override: name and its values (canonical text, where written).
        var axes: [(name: String, values: [Located<String>])]
        /// The data sets this entry runs on (`"datasets"`; nil: every one of the suite's).
        var datasets: [Located<DatasetName>]?

        /// Every combination of the axes' values, first axis slowest.
        var grid: [[String: Located<String>]] {
            axes.reduce([[:]]) { points, axis in
                points.flatMap { point in axis.values.map { value in point.merging([axis.name: value]) { $1 } } }
            }
        }
    }

    /// Decodes, validates and expands the suite.
    func decode(_ root: SuiteNode, defaultName: String) throws -> (name: String, summary: String?, runs: [RunConfiguration]) {
        let top = try object(root, "", known: Self.topFields, required: [
            "datasets": "the data sets to run on, e.g. \"datasets\": [\"two-moons\"]",
            "methods": "the inference methods, e.g. \"methods\": [{\"name\": \"map\"}, {\"name\": \"ensemble\", \"members\": 5}]"],
            what: "a suite object { \"datasets\": [...], \"methods\": [...], ... }")
        let name = try top["name"].map { try string($0, "name") } ?? defaultName
        let summary = try top["description"].map { try string($0, "description") }
        let epochs = try top["epochs"].map { try integer($0, "epochs", atLeast: 1) } ?? 10
        let batchSize = try top["batchSize"].map { try integer($0, "batchSize", atLeast: 1) } ?? 128
        let learningRate = try top["learningRate"].map { try positive($0, "learningRate") } ?? 1e-3
        let samples = try top["samples"].map { try integer($0, "samples", atLeast: 1) } ?? 32
        let trainLimit = try top["trainLimit"].map { try integer($0, "trainLimit", atLeast: 1) }
        let seeds: [UInt64] = try top["seeds"].map { node in
            try list(node, "seeds", scalarAllowed: true, what: "seed").enumerated().map { i, n -> UInt64 in
                let field = node.kindIsArray ? "seeds[\(i)]" : "seeds"
                let seed = try integer(n, field, atLeast: 0)
                guard seed <= 1 << 53 else { throw fail(n, field, "seeds must be at most 2^53 (exact in JSON), got \(seed)") }
                return UInt64(seed)
            }
        } ?? [0]
        let training = try top["training"].map { try trainingSettings($0) } ?? [:]
        let topEvaluations = try top["evaluations"].map { try evaluations($0, "evaluations") }
        let topOOD = try top["ood"].map { try oodSets($0, "ood") }
        let attacks = try top["attacks"].map { try attackList($0) }
        let certifications = try top["certifications"].map { try certificationList($0) }
        let shifts = try top["shifts"].map { try choice($0, "shifts", ShiftSelection.self, what: "shift selection") }
        let datasets = try list(top["datasets"]!, "datasets", what: "data set").enumerated().map { i, node in
            try dataset(node, "datasets[\(i)]", defaultLimit: trainLimit)
        }
        let models = try top["models"].map { node in
            try list(node, "models", what: "model").enumerated().map { i, n in try model(n, "models[\(i)]") }
        } ?? [ModelEntry(kind: .mlp, hidden: nil, node: root, field: "models")]
        let methods = try list(top["methods"]!, "methods", what: "method").enumerated().map { i, node in
            try method(node, "methods[\(i)]")
        }

        for method in methods {
            for name in method.datasets ?? [] where !datasets.contains(where: { $0.name.value == name.value }) {
                throw fail(name.node, name.field, "\(name.value.rawValue) is not among the suite's data sets (\(datasets.map(\.name.value.rawValue).joined(separator: ", "))); add it to \"datasets\" or leave it out here")
            }
        }

        if topOOD != nil, let node = top["ood"], !datasets.contains(where: { entry in
            (entry.evaluations?.map(\.value) ?? topEvaluations?.map(\.value) ?? []).contains(.ood)
        }) {
            throw fail(node, "ood", "OOD sets are listed but no data set is evaluated on them: add \"ood\" to \"evaluations\"")
        }

        if let node = top["shifts"], !datasets.contains(where: { entry in
            (entry.evaluations?.map(\.value) ?? topEvaluations?.map(\.value) ?? []).contains(.shift)
        }) {
            throw fail(node, "shifts", "a shift selection is given but no data set is evaluated under shift: add \"shift\" to \"evaluations\"")
        }

        try checkClassifierEvaluation(.attacks, list: "attacks", given: attacks != nil, in: top, datasets: datasets, topEvaluations: topEvaluations,
                                      example: "[{\"attack\": \"pgd\", \"eps\": [0.05, 0.1]}]", what: "the attacks are for classifiers")
        try checkClassifierEvaluation(.certification, list: "certifications", given: certifications != nil, in: top, datasets: datasets,
                                      topEvaluations: topEvaluations, example: "[{\"method\": \"smoothing\", \"sigma\": 0.25}]",
                                      what: "certification is for classifiers")

        var runs: [RunConfiguration] = []
        var seen = Set<String>()
        for entry in datasets {
            let (kinds, sets) = try evaluationPlan(entry, topEvaluations: topEvaluations, topOOD: topOOD)
            for model in models {
                if model.kind != .mlp && !entry.facts.isImage {
                    throw fail(model.node, model.field, "the \(model.kind.rawValue) model needs image inputs; \(entry.name.field) (\(entry.name.value.rawValue)) has inputs \(entry.facts.shapeText) — use mlp for it, or run it in another suite")
                }
                let entryMethods = methods.filter { $0.datasets?.contains { $0.value == entry.name.value } ?? true }
                for method in entryMethods {
                    for point in method.grid {
                        try checkCombination(method, point: point, dataset: entry, model: model, training: training)
                    }
                }
                // Seed-major: every method's first seed finishes before any second seed starts.
                for seed in seeds {
                    for method in entryMethods {
                        for point in method.grid {
                            var settings: [String: String] = [:]
                            for option in method.options { settings[option.key] = point[option.key]?.value }
                            // The entry's run overrides (a key the method owns is its setting, above).
                            let overrides = point.filter { key, _ in !method.options.contains { $0.key == key } }
                            let configuration = RunConfiguration(
                                dataset: entry.name.value, model: model.kind, hidden: model.hidden, method: method.method.name,
                                settings: settings, epochs: overrides["epochs"].map { Int($0.value)! } ?? epochs,
                                batchSize: overrides["batchSize"].map { Int($0.value)! } ?? batchSize,
                                learningRate: overrides["learningRate"].map { Float($0.value)! } ?? learningRate,
                                seed: seed, trainLimit: entry.trainLimit,
                                samples: overrides["samples"].map { Int($0.value)! } ?? samples,
                                evaluations: kinds, oodSets: sets, training: training.isEmpty ? nil : training.mapValues(\.value),
                                heldOutClasses: entry.heldOutClasses?.value, attacks: kinds.contains(.attacks) ? attacks : nil)
                            var run = configuration
                            run.shifts = kinds.contains(.shift) && shifts != .all ? shifts : nil
                            run.certifications = kinds.contains(.certification) ? certifications : nil
                            if seen.insert(run.key).inserted { runs.append(run) }
                        }
                    }
                }
            }
        }
        return (name, summary, runs)
    }

    // MARK: - Parts

    /// An evaluation that needs a list of its own (`attacks`, `certifications`): the list is
    /// given exactly when some data set is evaluated with it, and every such data set is a
    /// classification set.
    func checkClassifierEvaluation(_ kind: EvaluationKind, list key: String, given: Bool, in top: [String: SuiteNode],
                                   datasets: [DatasetEntry], topEvaluations: [Located<EvaluationKind>]?,
                                   example: String, what: String) throws {
        let evaluated = datasets.filter { entry in (entry.evaluations?.map(\.value) ?? topEvaluations?.map(\.value) ?? []).contains(kind) }
        if let node = top[key], evaluated.isEmpty {
            throw fail(node, key, "\(key) are listed but no data set is evaluated with them: add \"\(kind.rawValue)\" to \"evaluations\"")
        }
        if !given, let entry = evaluated.first {
            throw fail(entry.name.node, entry.name.field, "\"\(kind.rawValue)\" is among the evaluations but the suite lists no \(key): add \"\(key)\": \(example)")
        }
        for entry in evaluated where entry.facts.task.classCount == nil {
            throw fail(entry.name.node, entry.name.field, "\(what); \(entry.name.value.rawValue) is a regression data set")
        }
    }


    func trainingSettings(_ node: SuiteNode) throws -> [String: Located<String>] {
        let fields = try object(node, "training", known: Self.trainingSettings.map(\.key),
                                what: "an object of training options { \"holdout\": 5000, ... }")
        var result: [String: Located<String>] = [:]
        for option in Self.trainingSettings {
            guard let value = fields[option.key] else { continue }
            let field = "training.\(option.key)"
            switch canonical(option, value) {
            case let .success(text): result[option.key] = Located(value: text, node: value, field: field)
            case let .failure(rejection): throw reject(rejection, value, field, owner: nil)
            }
        }
        return result
    }

    /// A number ≥ 0 (its canonical text read back), or a rejection naming `field`.
    func nonNegativeReal(_ node: SuiteNode, _ field: String, key: String) throws -> Double {
        switch canonical(MethodOption(key, .nonNegativeReal, help: ""), node) {
        case let .success(text): return Double(text)!
        case let .failure(rejection): throw reject(rejection, node, field, owner: nil)
        }
    }

    /// One number ≥ 0 or a list of them ("eps": 0.1 or "eps": [0.05, 0.1]).
    func nonNegativeReals(_ node: SuiteNode, _ field: String, key: String) throws -> [Double] {
        try list(node, field, scalarAllowed: true, what: "number").enumerated().map { k, n in
            try nonNegativeReal(n, "\(field)[\(k)]", key: key)
        }
    }

    static let certificationFields = ["method", "sigma", "n0", "n", "alpha", "examples", "skip", "posteriorSamples", "batchSize",
                                      "weightBoxes", "radii", "eps", "seed"]

    /// The suite's certifications: [{"method": "smoothing", "sigma": 0.25, "n": 10000}, {"method": "ibp", "eps": [0.01, 0.1]}].
    func certificationList(_ node: SuiteNode) throws -> [CertificationSettings] {
        try list(node, "certifications", what: "certification").enumerated().map { i, entry in
            let field = "certifications[\(i)]"
            let f = try object(entry, field, known: Self.certificationFields,
                               required: ["method": "one of \(CertificationMethod.allCases.map(\.rawValue).joined(separator: ", "))"],
                               what: "a certification object { \"method\": \"smoothing\", \"sigma\": 0.25, ... }")
            func reals(_ key: String) throws -> [Double]? { try f[key].map { try nonNegativeReals($0, join(field, key), key: key) } }
            func real(_ key: String) throws -> Double? { try f[key].map { try nonNegativeReal($0, join(field, key), key: key) } }
            var settings = CertificationSettings()
            settings.method = try choice(f["method"]!, join(field, "method"), CertificationMethod.self, what: "certification")
            if let v = try real("sigma") { settings.sigma = Float(v) }
            if let v = try real("alpha") { settings.alpha = v }
            if let n = f["n0"] { settings.selectionSamples = try integer(n, join(field, "n0"), atLeast: 1) }
            if let n = f["n"] { settings.estimationSamples = try integer(n, join(field, "n"), atLeast: 1) }
            if let n = f["examples"] { settings.examples = try integer(n, join(field, "examples"), atLeast: 1) }
            if let n = f["skip"] { settings.skip = try integer(n, join(field, "skip"), atLeast: 1) }
            if let n = f["posteriorSamples"] { settings.posteriorSamples = try integer(n, join(field, "posteriorSamples"), atLeast: 1) }
            if let n = f["batchSize"] { settings.batchSize = try integer(n, join(field, "batchSize"), atLeast: 1) }
            if let n = f["weightBoxes"], case let boxes = try integer(n, join(field, "weightBoxes"), atLeast: 0), boxes > 0 {
                settings.weightBoxes = boxes
            }
            if let n = f["seed"] { settings.seed = UInt64(try integer(n, join(field, "seed"), atLeast: 0)) }
            if let v = try reals("radii") { settings.radii = v }
            if let v = try reals("eps") { settings.epsilons = v.map(Float.init) }
            do { try settings.validate() } catch let error as InferenceError { throw fail(entry, field, error.description) }
            return settings
        }
    }

    static let attackFields = ["attack", "norm", "eps", "steps", "restarts", "targetClasses", "queries", "eotSamples", "eotLoss",
                               "examples", "batchSize", "checks"]

    /// The suite's attacks: [{"attack": "pgd", "eps": [0.05, 0.1], "eotSamples": 8, ...}].
    func attackList(_ node: SuiteNode) throws -> [AttackSettings] {
        try list(node, "attacks", what: "attack").enumerated().map { i, entry in
            let field = "attacks[\(i)]"
            let f = try object(entry, field, known: Self.attackFields,
                               required: ["attack": "one of \(AttackKind.allCases.map(\.rawValue).joined(separator: ", "))",
                                          "eps": "the budgets, e.g. \"eps\": [0.05, 0.1]"],
                               what: "an attack object { \"attack\": \"pgd\", \"eps\": [0.05, 0.1], ... }")
            let eps = try nonNegativeReals(f["eps"]!, join(field, "eps"), key: "eps").map(Float.init)
            var settings = AttackSettings(attack: try choice(f["attack"]!, join(field, "attack"), AttackKind.self, what: "attack"),
                                          epsilons: eps)
            if let n = f["norm"] { settings.norm = try choice(n, join(field, "norm"), AttackNorm.self, what: "norm") }
            if let n = f["eotLoss"] { settings.eotLoss = try choice(n, join(field, "eotLoss"), EOTLoss.self, what: "EOT loss") }
            if let n = f["steps"] { settings.steps = try integer(n, join(field, "steps"), atLeast: 1) }
            if let n = f["restarts"] { settings.restarts = try integer(n, join(field, "restarts"), atLeast: 1) }
            if let n = f["targetClasses"] { settings.targetClasses = try integer(n, join(field, "targetClasses"), atLeast: 1) }
            if let n = f["queries"] { settings.queries = try integer(n, join(field, "queries"), atLeast: 1) }
            if let n = f["eotSamples"] { settings.eotSamples = try integer(n, join(field, "eotSamples"), atLeast: 1) }
            if let n = f["examples"] { settings.examples = try integer(n, join(field, "examples"), atLeast: 1) }
            if let n = f["batchSize"] { settings.batchSize = try integer(n, join(field, "batchSize"), atLeast: 1) }
            if let n = f["checks"] {
                guard case let .bool(b) = n.kind else { throw fail(n, join(field, "checks"), "expected true or false, got \(n.description)") }
                settings.checks = b
            }
            do { try settings.validate() } catch let error as InferenceError { throw fail(entry, field, error.description) }
            return settings
        }
    }

    func evaluations(_ node: SuiteNode, _ field: String) throws -> [Located<EvaluationKind>] {
        try list(node, field, what: "evaluation").enumerated().map { i, n in
            Located(value: try choice(n, "\(field)[\(i)]", EvaluationKind.self, what: "evaluation"), node: n, field: "\(field)[\(i)]")
        }
    }

    func oodSets(_ node: SuiteNode, _ field: String) throws -> [Located<OODSource>] {
        try list(node, field, what: "OOD set").enumerated().map { i, n in
            let at = "\(field)[\(i)]"
            let text = try string(n, at)
            guard let source = try? OODSource(parsing: text) else {
                throw fail(n, at, unknown(text, OODSource.names, what: "OOD set")
                           + ", or the path of a file of inputs (.npy, .csv, .tsv, .txt, IDX …-idx3-ubyte or .idx; optionally .gz)")
            }
            return Located(value: source, node: n, field: at)
        }
    }

    /// Distinct class indices ≥ 0 (ranges are checked against the data set in `evaluationPlan`).
    func classList(_ node: SuiteNode, _ field: String) throws -> Located<[Int]> {
        let classes = try list(node, field, scalarAllowed: true, what: "class index").enumerated().map { i, n in
            try integer(n, node.kindIsArray ? "\(field)[\(i)]" : field, atLeast: 0)
        }
        guard Set(classes).count == classes.count else { throw fail(node, field, "a class is listed twice in \(classes)") }
        return Located(value: classes, node: node, field: field)
    }

    func dataset(_ node: SuiteNode, _ field: String, defaultLimit: Int?) throws -> DatasetEntry {
        if case .string = node.kind {
            let name = try choice(node, field, DatasetName.self, what: "data set")
            return DatasetEntry(name: Located(value: name, node: node, field: field), facts: DatasetFacts(name), trainLimit: defaultLimit)
        }
        let fields = try object(node, field, known: Self.datasetFields, required: ["name": "the data set's name, e.g. \"two-moons\""],
                                what: "a data set name or an object { \"name\": ..., \"heldOutClasses\": [...], \"evaluations\": [...], \"ood\": [...] }")
        let nameNode = fields["name"]!
        let name = try choice(nameNode, join(field, "name"), DatasetName.self, what: "data set")
        return DatasetEntry(
            name: Located(value: name, node: nameNode, field: field), facts: DatasetFacts(name),
            trainLimit: try fields["trainLimit"].map { try integer($0, join(field, "trainLimit"), atLeast: 1) } ?? defaultLimit,
            heldOutClasses: try fields["heldOutClasses"].map { try classList($0, join(field, "heldOutClasses")) },
            evaluations: try fields["evaluations"].map { try evaluations($0, join(field, "evaluations")) },
            ood: try fields["ood"].map { try oodSets($0, join(field, "ood")) }, oodNode: fields["ood"])
    }

    func model(_ node: SuiteNode, _ field: String) throws -> ModelEntry {
        if case .string = node.kind {
            return ModelEntry(kind: try choice(node, field, ModelKind.self, what: "model"), hidden: nil, node: node, field: field)
        }
        let fields = try object(node, field, known: Self.modelFields, required: ["kind": "mlp or cnn"],
                                what: "a model name or an object { \"kind\": \"mlp\", \"hidden\": [64, 64] }")
        let kind = try choice(fields["kind"]!, join(field, "kind"), ModelKind.self, what: "model")
        var hidden: [Int]?
        if let h = fields["hidden"] {
            guard kind == .mlp else { throw fail(h, join(field, "hidden"), "hidden widths apply to the mlp model only") }
            hidden = try list(h, join(field, "hidden"), what: "layer width").enumerated().map { i, n in
                try integer(n, join(field, "hidden") + "[\(i)]", atLeast: 1)
            }
        }
        return ModelEntry(kind: kind, hidden: hidden, node: node, field: field)
    }

    func method(_ node: SuiteNode, _ field: String) throws -> MethodEntry {
        guard case let .object(members) = node.kind else {
            throw fail(node, field, "expected a method object such as { \"name\": \"ensemble\", \"members\": 5 }, got \(node.description)")
        }
        guard let nameNode = members.first(where: { $0.key == "name" })?.node else {
            throw fail(node, join(field, "name"), "missing required field (the method: \(MethodRegistry.names.joined(separator: ", ")))")
        }
        let nameField = join(field, "name")
        guard case let .string(name) = nameNode.kind else {
            throw fail(nameNode, nameField, "expected a method name (\(MethodRegistry.names.joined(separator: ", "))), got \(nameNode.description)")
        }
        guard let method = MethodRegistry.method(named: name) else {
            throw fail(nameNode, nameField, unknown(name, MethodRegistry.names, what: "method"))
        }
        // A combinator's options depend on its own single-valued settings (the ensemble's member method).
        var given: [String: String] = [:]
        for option in method.options {
            guard let value = members.first(where: { $0.key == option.key })?.node, case let .choice(choices) = option.kind else { continue }
            if case .string = value.kind {
                if case let .success(text) = canonical(option, value) { given[option.key] = text }
            } else if choices.contains(where: { method.options(given: [option.key: $0]).map(\.key) != method.options.map(\.key) }) {
                throw fail(value, join(field, option.key), "\(name) takes one \(option.key) per entry (it decides the other settings); write one entry per value")
            }
        }
        let options = method.options(given: given)
        // A method's own setting of a run override's name (SG-MCMC's `learningRate`, its step) is
        // the method's: the run's training keeps the suite's value.
        let specs = options + Self.runOverrides.filter { override in !options.contains { $0.key == override.key } }
        let fields = try object(node, field, known: ["name"] + specs.map(\.key) + ["datasets"], what: "a method object")
        let datasets = try fields["datasets"].map { value in
            try list(value, join(field, "datasets"), scalarAllowed: true, what: "data set").enumerated().map { i, element in
                let elementField = value.kindIsArray ? join(field, "datasets") + "[\(i)]" : join(field, "datasets")
                return Located(value: try choice(element, elementField, DatasetName.self, what: "data set"), node: element, field: elementField)
            }
        }
        var axes: [(name: String, values: [Located<String>])] = []
        for spec in specs {
            let axisField = join(field, spec.key)
            guard let value = fields[spec.key] else {
                if spec.recordsDefault, let d = spec.defaultValue { axes.append((spec.key, [Located(value: d, node: node, field: field)])) }
                continue
            }
            let elements = try list(value, axisField, scalarAllowed: true, what: "value")
            var values: [Located<String>] = []
            for (i, element) in elements.enumerated() {
                let elementField = value.kindIsArray ? axisField + "[\(i)]" : axisField
                switch canonical(spec, element) {
                case let .success(text):
                    if !values.contains(where: { $0.value == text }) { values.append(Located(value: text, node: element, field: elementField)) }
                case let .failure(rejection): throw reject(rejection, element, elementField, owner: name)
                }
            }
            axes.append((spec.key, values))
        }
        return MethodEntry(method: method, options: options, node: nameNode, field: field, axes: axes, datasets: datasets)
    }
}

extension SuiteNode {
    var kindIsArray: Bool {
        if case .array = kind { return true }
        return false
    }
}
