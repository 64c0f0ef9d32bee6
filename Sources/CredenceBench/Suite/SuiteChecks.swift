import CredenceData
import CredenceInference
import CredenceNN

// The combination checks of a suite: what each data set's inputs allow (shift, OOD sets,
// the cnn model) and what each method needs (held-out data, a Laplace that fits).
extension SuiteDecoder {
    /// The data set's evaluations (in-distribution always included, sorted) and OOD sets, checked against its inputs.
    func evaluationPlan(_ entry: DatasetEntry, topEvaluations: [Located<EvaluationKind>]?, topOOD: [Located<OODSource>]?) throws -> ([EvaluationKind], [OODSource]) {
        let listed = entry.evaluations ?? topEvaluations ?? []
        let facts = entry.facts, dataName = "\(entry.name.field) (\(entry.name.value.rawValue))"
        if let shift = listed.first(where: { $0.value == .shift }), !facts.isImage {
            throw fail(shift.node, shift.field, "shift transforms need image data; \(dataName) has inputs \(facts.shapeText) — drop \"shift\", or give this data set its own \"evaluations\"")
        }
        if let held = entry.heldOutClasses {
            do {
                _ = try keptClasses(classCount: facts.task.classCount, holdingOut: held.value, setName: dataName)
            } catch let DataError.invalidArgument(_, message) {
                throw fail(held.node, held.field, message)
            }
        }
        var kinds = Set(listed.map(\.value))
        kinds.insert(.inDistribution)
        var sets: [OODSource] = []
        if kinds.contains(.ood) {
            let ood = entry.ood ?? topOOD ?? []
            guard !ood.isEmpty else {
                let at = listed.first { $0.value == .ood }!
                throw fail(at.node, at.field, "the ood evaluation needs OOD sets: add \"ood\": [...] (choose from \(OODSource.names.joined(separator: ", ")), or give a file's path)")
            }
            for set in ood {
                switch set.value {
                case .builtIn(.mnist5k) where facts.inputShape != [1, 28, 28]:
                    throw fail(set.node, set.field, "mnist-5k are 28×28 digit images; \(dataName) has inputs \(facts.shapeText) (use far or uniform-noise)")
                case .builtIn(.inverted) where !facts.isImage, .builtIn(.flipped) where !facts.isImage:
                    throw fail(set.node, set.field, "\(set.value) images need image data; \(dataName) has inputs \(facts.shapeText) (use far, uniform-noise or gaussian-noise)")
                case .heldOutClasses where entry.heldOutClasses == nil:
                    throw fail(set.node, set.field, "held-out-classes needs classes held out of training: give \(dataName) \"heldOutClasses\": [...] (e.g. {\"name\": \"\(entry.name.value.rawValue)\", \"heldOutClasses\": [\(max((facts.task.classCount ?? 2) - 1, 1))]})")
                default:
                    if !sets.contains(set.value) { sets.append(set.value) }
                }
            }
        } else if let own = entry.ood, let node = entry.oodNode, !own.isEmpty {
            throw fail(node, join(entry.name.field, "ood"), "OOD sets are listed but \"ood\" is not among this data set's evaluations")
        }
        return (kinds.sorted(), sets)
    }

    /// Rejects method settings that cannot work with this data set and model.
    func checkCombination(_ method: MethodEntry, point: [String: Located<String>], dataset: DatasetEntry, model: ModelEntry,
                          training: [String: Located<String>]) throws {
        let facts = dataset.facts, dataName = "\(dataset.name.field) (\(dataset.name.value.rawValue))"
        let holdout = training["holdout"].map { Int($0.value)! } ?? 0
        let available = Swift.min(facts.trainCount, dataset.trainLimit ?? .max)
        if holdout > 0 && holdout >= available {
            throw fail(training["holdout"]!.node, "training.holdout",
                       "holding out \(holdout) examples leaves none to train on: \(dataName) has \(available) training examples")
        }
        var options = TrainingOptions()
        options.dataset = dataset.name.value
        options.model = model.kind
        options.hidden = model.hidden
        options.holdout = holdout
        options.trainLimit = dataset.trainLimit
        options.heldOutClasses = dataset.heldOutClasses?.value
        do {
            options.adversarial = try RunConfiguration.adversarialTraining(training.mapValues(\.value))
        } catch let error as TrainingSettingError {
            let node = training[error.setting]?.node ?? method.node
            throw fail(node, "training.\(error.setting)", error.message)
        }
        let name = method.method.name
        do {
            var values: [String: String] = [:]
            for option in method.options { values[option.key] = point[option.key]?.value }
            let built = try MethodRegistry.make(name, recorded: values)
            built.adjust(&options)
            try built.validateRun(MethodContext(options: options))
        } catch {
            let message = (error as? InferenceError).flatMap { if case let .invalidOption(m) = $0 { return m } else { return nil } } ?? "\(error)"
            throw fail(method.node, join(method.field, "name"), "\(name) on \(dataName): \(message)")
        }
    }
}

/// The name in `candidates` closest to `word` by edit distance, if it is close (a typo).
func closest(_ word: String, in candidates: [String]) -> String? {
    func distance(_ a: [Character], _ b: [Character]) -> Int {
        var previous = Array(0...b.count)
        for (i, ca) in a.enumerated() {
            var current = [i + 1] + Array(repeating: 0, count: b.count)
            for (j, cb) in b.enumerated() {
                current[j + 1] = Swift.min(previous[j + 1] + 1, current[j] + 1, previous[j] + (ca == cb ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
    let w = Array(word.lowercased())
    let scored = candidates.map { ($0, distance(w, Array($0.lowercased()))) }.min { $0.1 < $1.1 }
    guard let (best, d) = scored, d <= Swift.max(1, w.count / 3) else { return nil }
    return best
}
