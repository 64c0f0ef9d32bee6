@testable import CredenceBench
import CredenceData
import CredenceInference
import Foundation
import Testing

/// The example of `docs/bench-suites.md` (kept identical to it by a test).
let exampleSuiteJSON = """
{
  "name": "example",
  "description": "Two data sets, a grid over MC-dropout rates and Laplace structures, three seeds",
  "datasets": [
    "two-moons",
    {"name": "fashion-mnist", "trainLimit": 10000,
     "evaluations": ["in-distribution", "shift", "ood"], "ood": ["mnist-5k", "inverted"]}
  ],
  "models": [{"kind": "mlp", "hidden": [128, 128]}],
  "methods": [
    {"name": "map"},
    {"name": "mc-dropout", "dropout": [0.1, 0.3]},
    {"name": "ensemble", "members": 5, "epochs": 5},
    {"name": "swag", "rank": 20, "swagEpochs": 5, "swagLearningRate": 0.005},
    {"name": "laplace", "subset": "last-layer", "hessian": ["kronecker", "full"]},
    {"name": "temperature"}
  ],
  "seeds": [0, 1, 2],
  "epochs": 10,
  "batchSize": 128,
  "learningRate": 0.001,
  "samples": 32,
  "training": {"holdout": 200, "weightDecay": 0.0001},
  "evaluations": ["in-distribution", "ood"],
  "ood": ["far"]
}
"""

/// The same suite in the YAML subset.
let exampleSuiteYAML = """
# the README example, as YAML
name: example
description: "Two data sets, a grid over MC-dropout rates and Laplace structures, three seeds"
datasets:
  - two-moons
  - name: fashion-mnist
    trainLimit: 10000
    evaluations: [in-distribution, shift, ood]
    ood: [mnist-5k, inverted]
models:
  - {kind: mlp, hidden: [128, 128]}
methods:
  - name: map
  - name: mc-dropout
    dropout: [0.1, 0.3]
  - {name: ensemble, members: 5, epochs: 5}
  - name: swag
    rank: 20
    swagEpochs: 5
    swagLearningRate: 0.005   # SGD rate of the collection phase
  - name: laplace
    subset: last-layer
    hessian: [kronecker, full]
  - name: temperature
seeds: [0, 1, 2]
epochs: 10
batchSize: 128
learningRate: 0.001
samples: 32
training:
  holdout: 200
  weightDecay: 0.0001
evaluations:
- in-distribution
- ood
ood: [far]
"""

@Suite struct SuiteParsingTests {
    /// Every registered method is a suite entry with its quick settings, in JSON and YAML,
    /// and keeps its settings in the run — no list of methods in the suite reader.
    @Test func everyRegisteredMethodIsASuiteEntry() throws {
        let entries = MethodRegistry.methods.map { type -> String in
            let fields = [#""name": "\#(type.name)""#] + type.quickSettings.sorted { $0.key < $1.key }.map { key, value in
                #""\#(key)": "# + (Double(value) != nil ? value : #""\#(value)""#)
            }
            return "{" + fields.joined(separator: ", ") + "}"
        }
        let json = #"{"name": "walk", "datasets": ["two-moons"], "models": [{"kind": "mlp", "hidden": [8]}], "methods": ["#
            + entries.joined(separator: ", ") + #"], "seeds": [0], "epochs": 1, "training": {"holdout": 50}}"#
        let suite = try Suite.parse(json, source: "walk.json")
        #expect(suite.configurations.map(\.method) == MethodRegistry.names)
        for (run, type) in zip(suite.configurations, MethodRegistry.methods) {
            for (key, value) in type.quickSettings { #expect(run.settings[key] == value, "\(type.name).\(key)") }
        }
    }

    @Test func theExampleExpandsToTheFullGrid() throws {
        let suite = try Suite.parse(exampleSuiteJSON, source: "example.json")
        #expect(suite.name == "example")
        // Per data set: map 1 + mc-dropout 2 + ensemble 1 + swag 1 + laplace 2 + temperature 1 = 8 runs × 3 seeds.
        #expect(suite.configurations.count == 2 * 8 * 3)
        #expect(Set(suite.configurations.map(\.key)).count == suite.configurations.count, "keys are unique")

        let moons = suite.configurations.filter { $0.dataset == .twoMoons }
        let fashion = suite.configurations.filter { $0.dataset == .fashionMNIST }
        #expect(moons.count == 24 && fashion.count == 24)
        // Seed-major within a data set: all 8 runs of seed 0 first.
        #expect(moons.prefix(8).allSatisfy { $0.seed == 0 } && moons[8].seed == 1)
        #expect(moons.prefix(8).map(\.method) == ["map", "mc-dropout", "mc-dropout", "ensemble", "swag", "laplace", "laplace", "temperature"])
        #expect(moons.filter { $0.method == "mc-dropout" }.map { $0.settings["dropout"]! }.prefix(2) == ["0.1", "0.3"])

        let ensemble = try #require(moons.first { $0.method == "ensemble" })
        #expect(ensemble.settings == ["members": "5"] && ensemble.epochs == 5 && ensemble.batchSize == 128)
        #expect(ensemble.learningRate == 0.001 && ensemble.samples == 32 && ensemble.hidden == [128, 128])
        #expect(ensemble.training == ["holdout": "200", "weightDecay": "0.0001"])
        #expect(ensemble.evaluations == [.inDistribution, .ood] && ensemble.oodSets == [.builtIn(.far)])
        #expect(ensemble.trainLimit == nil)
        let laplace = moons.filter { $0.method == "laplace" }.map(\.settings)
        #expect(laplace.prefix(2).map { $0["hessian"] } == ["kronecker", "full"])
        #expect(laplace[0] == ["subset": "last-layer", "hessian": "kronecker", "predictive": "glm", "link": "probit"],
                "unset settings take their defaults, so the key records them")
        let swag = try #require(moons.first { $0.method == "swag" })
        #expect(swag.settings == ["rank": "20", "swagEpochs": "5", "swagLearningRate": "0.005"])
        #expect(swag.label == "swag (rank 20, swagEpochs 5, swagLearningRate 0.005)")

        let f = try #require(fashion.first)
        #expect(f.trainLimit == 10000 && f.evaluations == [.inDistribution, .ood, .shift] && f.oodSets == [.builtIn(.mnist5k), .builtIn(.inverted)])
    }

    @Test func yamlReadsAsTheSameSuite() throws {
        let json = try Suite.parse(exampleSuiteJSON, source: "example.json")
        let yaml = try Suite.parse(exampleSuiteYAML, source: "example.yaml", yaml: true)
        #expect(yaml.configurations.map(\.key) == json.configurations.map(\.key))
        #expect(yaml.name == json.name && yaml.summary == json.summary)
    }

    @Test func theReadmeShowsTheTestedExample() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../../docs/bench-suites.md").standardizedFileURL
        let text = try String(contentsOf: readme, encoding: .utf8)
        #expect(text.contains(exampleSuiteJSON), "docs/bench-suites.md's JSON example differs from exampleSuiteJSON")
        #expect(text.contains(exampleSuiteYAML), "docs/bench-suites.md's YAML example differs from exampleSuiteYAML")
    }

    @Test func builtInSuitesParseAndCountTheirRuns() throws {
        let quick = try Suite.load("quick")
        #expect(quick.source == "built-in suite 'quick'")
        #expect(quick.configurations.count == 60)  // 4 data sets × (map, mc-dropout, ensemble, swag, laplace) × 3 seeds
        #expect(Set(quick.configurations.map(\.datasetLabel)) == ["two-moons", "regression-1d", "shapes", "shapes without class 3"])
        #expect(quick.configurations.filter { $0.dataset != .shapes }.allSatisfy { $0.evaluations == [.inDistribution, .ood] && $0.oodSets == [.builtIn(.far)] })
        let shapes = quick.configurations.filter { $0.dataset == .shapes }
        #expect(shapes.filter { $0.heldOutClasses == nil }.allSatisfy { $0.evaluations.contains(.shift) && $0.oodSets == [.builtIn(.inverted), .builtIn(.uniformNoise)] })
        #expect(shapes.filter { $0.heldOutClasses == [3] }.allSatisfy { $0.evaluations == [.inDistribution, .ood] && $0.oodSets == [.heldOutClasses] })
        let fashion = try Suite.load("fashion-mnist")
        let methods = ["map", "temperature", "mc-dropout", "ensemble", "swag", "laplace", "laplace", "ensemble", "ensemble", "vi", "vi-flipout", "stf-bnn", "sgld", "csghmc", "gped", "bdk"]
        #expect(fashion.configurations.map(\.method) == methods + methods)
        #expect(fashion.configurations.allSatisfy { $0.training == ["holdout": "5000"] && $0.hidden == [512, 512] && $0.epochs == 10 })
        #expect(fashion.configurations.filter { $0.heldOutClasses == nil }.allSatisfy {
            $0.evaluations == [.inDistribution, .ood, .shift] && $0.oodSets == [.builtIn(.mnist5k), .builtIn(.uniformNoise), .builtIn(.gaussianNoise), .builtIn(.inverted), .builtIn(.flipped)]
        })
        #expect(fashion.configurations.filter { $0.heldOutClasses == [5, 6, 7, 8, 9] }.allSatisfy {
            $0.evaluations == [.inDistribution, .ood] && $0.oodSets == [.heldOutClasses, .builtIn(.mnist5k)]
        })
        #expect(fashion.configurations.first { $0.method == "ensemble" }?.settings == ["members": "5"])
        let resnet = try Suite.load("fashion-mnist-resnet20")
        #expect(resnet.configurations.map(\.method) == ["map", "temperature", "mc-dropout", "ensemble", "swag", "laplace", "vi", "stf-bnn"])
        #expect(resnet.configurations.allSatisfy {
            $0.model == .resnet20 && $0.shifts == .strongest && $0.shiftsEvaluated.count == 13 && $0.training?["augmentation"] == "crop-flip"
        })
        #expect(Shift.strongest.contains(Shift(.rotation, severity: 180)) && Shift.strongest.filter { $0.kind.isCorruption }.allSatisfy { $0.severity == 5 })
        let gold = try Suite.load("gold-standard")
        #expect(gold.configurations.count == 2 * 10 * 3 && gold.configurations.prefix(2).map(\.method) == ["nuts", "hmc"])
        // SG-MCMC's step on the 1-D regression is 1/100 of two moons' (its likelihood is that much sharper).
        #expect(gold.configurations.filter { ["sgld", "csghmc"].contains($0.method) }.allSatisfy {
            $0.settings["learningRate"] == ($0.dataset == .regression1D ? "0.0001" : nil) && $0.learningRate == 0.005
        })
        #expect(gold.configurations.first?.settings == ["warmup": "500", "iterations": "500", "chains": "4"])
        #expect(throws: SuiteError.unknownSuite(name: "quik", builtIns: ["quick", "fashion-mnist", "fashion-mnist-resnet20", "gold-standard"])) { try Suite.load("quik") }
        #expect(throws: SuiteError.unreadable(path: "no/such/suite.json", message: "no such file")) { try Suite.load("no/such/suite.json") }
    }

    @Test func suiteFilesAreReadByTheirExtension() throws {
        let dir = try StoreFixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let yaml = dir.appendingPathComponent("mine.yml"), json = dir.appendingPathComponent("mine.json")
        try Data(exampleSuiteYAML.utf8).write(to: yaml)
        try Data(exampleSuiteJSON.utf8).write(to: json)
        let a = try Suite.load(yaml.path), b = try Suite.load(json.path)
        #expect(a.source == yaml.path && a.configurations.map(\.key) == b.configurations.map(\.key))
        // The file name is the default suite name; errors name the file as given.
        try Data(#"{"datasets": ["two-moons"], "methods": [{"name": "map"}]}"#.utf8).write(to: json)
        #expect(try Suite.load(json.path).name == "mine")
        try Data("datasets: [two-moons]\nmethods: [{name: mapp}]\n".utf8).write(to: yaml)
        #expect(throws: SuiteError.invalid(source: yaml.path, line: 2, field: "methods[0].name",
                                           message: "unknown method 'mapp' (choose from \(MethodRegistry.names.joined(separator: ", ")); did you mean 'map'?)")) {
            try Suite.load(yaml.path)
        }
        #expect(throws: SuiteError.unreadable(path: dir.path, message: "it is a directory")) { try Suite.load(dir.path) }
        let latin1 = dir.appendingPathComponent("latin1.json")
        try Data([0x7B, 0xE9, 0x7D]).write(to: latin1)
        #expect((try? Suite.load(latin1.path)) == nil)
    }

    @Test func runKeysAreStableAcrossVersions() {
        // A results database written earlier must keep matching: a changed key re-runs everything.
        #expect(RunConfiguration(dataset: .twoMoons, method: "map").key == "219e833170405587")
        var c = RunConfiguration(dataset: .twoMoons, method: "map")
        c.training = ["holdout": "200"]
        #expect(c.key != "219e833170405587")
    }

    @Test func duplicateGridValuesAndMethodsCollapse() throws {
        let suite = try Suite.parse("""
            {"datasets": ["two-moons"], "methods": [{"name": "mc-dropout", "dropout": [0.1, 0.10, 0.2]}, {"name": "map"}, {"name": "map"}],
             "seeds": 4, "evaluations": ["ood"], "ood": ["far", "far"]}
            """, source: "s.json")
        #expect(suite.configurations.map(\.label) == ["mc-dropout (dropout 0.1)", "mc-dropout (dropout 0.2)", "map"])
        #expect(suite.configurations.allSatisfy { $0.seed == 4 && $0.oodSets == [.builtIn(.far)] && $0.evaluations == [.inDistribution, .ood] })
        #expect(suite.name == "suite")
    }

    @Test func heldOutClassesAndOODFilesReachTheRuns() throws {
        let suite = try Suite.parse("""
            {"datasets": [{"name": "shapes", "heldOutClasses": [3, 1], "ood": ["held-out-classes", "ood/kmnist.npy"]}, "two-moons"],
             "methods": [{"name": "map"}], "evaluations": ["ood"], "ood": ["far"]}
            """, source: "s.json")
        let shapes = try #require(suite.configurations.first { $0.dataset == .shapes })
        #expect(shapes.heldOutClasses == [3, 1] && shapes.oodSets == [.heldOutClasses, .file(path: "ood/kmnist.npy")])
        #expect(shapes.datasetLabel == "shapes without classes 3, 1")
        #expect(try shapes.trainingOptions().heldOutClasses == [3, 1])
        let moons = try #require(suite.configurations.first { $0.dataset == .twoMoons })
        #expect(moons.heldOutClasses == nil && moons.datasetLabel == "two-moons")
        // Absent held-out classes leave the key's JSON (and so every stored key) as before.
        let json = String(decoding: try JSONEncoder().encode(moons), as: UTF8.self)
        #expect(!json.contains("heldOutClasses") && json.contains(#""oodSets":["far"]"#))
    }

    /// Adversarial training, noise augmentation and the regression noise reach the runs'
    /// training options; methods with a training phase of their own, attack settings without
    /// `adversarial` and an unknown regression noise are refused.
    @Test func adversarialTrainingReachesTheRuns() throws {
        let suite = try Suite.parse("""
            {"datasets": ["two-moons"], "methods": [{"name": "map"}, {"name": "mc-dropout"}],
             "training": {"adversarial": "trades", "adversarialEpsilon": 0.1, "attackSteps": 3, "tradesBeta": 2, "epsWarmup": 1}}
            """, source: "s.json")
        for run in suite.configurations {
            let adversarial = try #require(try run.trainingOptions().adversarial)
            #expect(adversarial == AdversarialTraining(kind: .trades, epsilon: 0.1, steps: 3, beta: 2, warmupEpochs: 1))
        }
        let noisy = try Suite.parse(#"{"datasets": ["two-moons"], "methods": [{"name": "map"}], "training": {"augmentation": "gaussian-noise", "noiseSigma": 0.5}}"#,
                                    source: "s.json")
        #expect(try noisy.configurations[0].trainingOptions().noiseSigma == 0.5)
        let homoscedastic = try Suite.parse(#"{"datasets": ["auto-mpg"], "methods": [{"name": "nuts"}], "training": {"regressionNoise": "homoscedastic"}}"#,
                                            source: "s.json")
        #expect(try homoscedastic.configurations[0].trainingOptions().regressionNoise == .homoscedastic)
        expectRejected("""
            {
              "datasets": ["auto-mpg"],
              "training": {"regressionNoise": "constant"},
              "methods": [{"name": "map"}]
            }
            """, line: 3, ["regressionNoise", "homoscedastic"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "training": {"adversarial": "pgd", "adversarialEpsilon": 0.1},
              "methods": [{"name": "sgld"}]
            }
            """, line: 4, ["sgld trains in a phase of its own"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "training": {"attackSteps": 3},
              "methods": [{"name": "map"}]
            }
            """, line: 3, ["attackSteps", "adversarial"])
    }

    /// Parses `text` and checks the error names the file, the line and the field.
    func expectRejected(_ text: String, line: Int, _ fragments: [String], yaml: Bool = false,
                        sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            let suite = try Suite.parse(text, source: "suite.json", yaml: yaml)
            Issue.record("accepted a bad suite (\(suite.configurations.count) runs)", sourceLocation: sourceLocation)
        } catch let error as SuiteError {
            let message = error.description
            #expect(message.hasPrefix("suite.json line \(line)"), "\(message)", sourceLocation: sourceLocation)
            for fragment in fragments {
                #expect(message.contains(fragment), "\(message)\n  lacks: \(fragment)", sourceLocation: sourceLocation)
            }
        } catch {
            Issue.record("not a SuiteError: \(error)", sourceLocation: sourceLocation)
        }
    }

    /// A suite's attacks reach every run that evaluates them (and no other); mistakes are refused
    /// with their line and field.
    @Test func attacksReachTheRunsThatEvaluateThem() throws {
        let suite = try Suite.parse("""
            {"datasets": [{"name": "two-moons", "evaluations": ["in-distribution", "attacks"]}, "spirals"],
             "methods": [{"name": "map"}],
             "attacks": [{"attack": "pgd", "eps": [0.05, 0.1], "eotSamples": 4}, {"attack": "apgd-ce", "eps": 0.1, "checks": false, "batchSize": 100}]}
            """, source: "a.json")
        let attacked = try #require(suite.configurations.first { $0.dataset == .twoMoons })
        let attacks = try #require(attacked.attacks)
        #expect(attacks.map(\.attack) == [.pgd, .apgdCE] && attacks[0].epsilons == [0.05, 0.1] && attacks[0].eotSamples == 4)
        #expect(attacks[1].epsilons == [0.1] && !attacks[1].checks && attacks[1].batchSize == 100 && attacks[0].batchSize == nil)
        #expect(suite.configurations.first { $0.dataset == .spirals }?.attacks == nil)
        expectRejected("""
            {"datasets": ["two-moons"], "methods": [{"name": "map"}],
             "attacks": [{"attack": "pgd", "eps": [0.1]}]}
            """, line: 2, ["attacks", "add \"attacks\" to \"evaluations\""])
        expectRejected("""
            {"datasets": ["two-moons"], "methods": [{"name": "map"}], "evaluations": ["attacks"]}
            """, line: 1, ["the suite lists no attacks"])
        expectRejected("""
            {"datasets": ["two-moons"], "methods": [{"name": "map"}], "evaluations": ["attacks"],
             "attacks": [{"attack": "pgdd", "eps": [0.1]}]}
            """, line: 2, ["attacks[0].attack", "pgd"])
        expectRejected("""
            {"datasets": ["two-moons"], "methods": [{"name": "map"}], "evaluations": ["attacks"],
             "attacks": [{"attack": "apgd-ce", "eps": [-0.1]}]}
            """, line: 2, ["attacks[0].eps[0]"])
        expectRejected("""
            {"datasets": ["two-moons"], "methods": [{"name": "map"}], "evaluations": ["attacks"],
             "attacks": [{"attack": "apgd-ce", "eps": [0.1], "stepSize": 0.01}]}
            """, line: 2, ["attacks[0].stepSize", "unknown field"])
        expectRejected("""
            {"datasets": ["regression-1d"], "methods": [{"name": "map"}], "evaluations": ["attacks"],
             "attacks": [{"attack": "pgd", "eps": [0.1]}]}
            """, line: 1, ["attacks are for classifiers"])
    }

    /// A method entry's `datasets` runs it on those of the suite's data sets only (so a method
    /// can take settings of its own per data set); a data set the suite does not list is
    /// refused, named. An SG-MCMC entry's `learningRate` is its chain's step: its network
    /// trains at the suite's rate, where other methods' `learningRate` overrides that rate.
    @Test func methodEntriesCanBeLimitedToSomeDataSets() throws {
        let suite = try Suite.parse("""
            {"datasets": ["two-moons", "regression-1d"], "learningRate": 0.005,
             "methods": [{"name": "map", "learningRate": 0.01},
                         {"name": "sgld", "thinning": 4, "datasets": "two-moons"},
                         {"name": "sgld", "thinning": 4, "learningRate": 0.0001, "datasets": ["regression-1d"]}]}
            """, source: "s.json")
        #expect(suite.configurations.map { "\($0.dataset.rawValue) \($0.method)" } == ["two-moons map", "two-moons sgld", "regression-1d map", "regression-1d sgld"])
        let sgld = suite.configurations.filter { $0.method == "sgld" }
        #expect(sgld.map(\.settings["learningRate"]) == [nil, "0.0001"])
        #expect(sgld.allSatisfy { $0.learningRate == 0.005 })
        #expect(suite.configurations.filter { $0.method == "map" }.allSatisfy { $0.learningRate == 0.01 })
        expectRejected("""
            {"datasets": ["two-moons"],
             "methods": [{"name": "map", "datasets": ["regression-1d"]}]}
            """, line: 2, ["methods[0].datasets[0]: regression-1d is not among the suite's data sets (two-moons)"])
        expectRejected("""
            {"datasets": ["two-moons"],
             "methods": [{"name": "map", "datasets": "two-moon"}]}
            """, line: 2, ["methods[0].datasets: unknown data set 'two-moon'"])
    }

    @Test func badSuitesNameTheLineAndField() {
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [
                {"name": "map"},
                {"name": "ensemble"},
                {"name": "lapalce"}
              ]
            }
            """, line: 6, ["methods[2].name: unknown method 'lapalce' (choose from \(MethodRegistry.names.joined(separator: ", ")); did you mean 'laplace'?)"])
        expectRejected("""
            {
              "methods": [{"name": "map"}]
            }
            """, line: 1, ["datasets: missing required field"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [
                {"members": 5}
              ]
            }
            """, line: 4, ["methods[0].name: missing required field"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "epochs": "ten"
            }
            """, line: 4, ["epochs: expected an integer, got the string \"ten\""])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "epochs": 2.5
            }
            """, line: 4, ["epochs: expected an integer, got the number 2.5"])
        expectRejected("""
            {
              "datasets": "two-moons",
              "methods": [{"name": "map"}]
            }
            """, line: 2, ["datasets: expected a list of data sets, got the string \"two-moons\""])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [
                {"name": "mc-dropout",
                 "dropout": [0.1,
                             0]}
              ]
            }
            """, line: 6, ["methods[0].dropout[1]: mc-dropout needs 0 < dropout < 1, got 0"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "models": [
                "mlp",
                {"kind": "cnn"}
              ],
              "methods": [{"name": "map"}]
            }
            """, line: 5, ["models[1]: the cnn model needs image inputs; datasets[0] (two-moons) has inputs [2]"])
        expectRejected("""
            {
              "datasets": ["regression-1d"],
              "methods": [{"name": "map"}],
              "evaluations": [
                "in-distribution",
                "shift"
              ]
            }
            """, line: 6, ["evaluations[1]: shift transforms need image data; datasets[0] (regression-1d) has inputs [1]"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "evaluations": ["ood"],
              "ood": ["far", "held-out-classes"]
            }
            """, line: 5, ["ood[1]: held-out-classes needs classes held out of training", "\"heldOutClasses\""])
        expectRejected("""
            {
              "datasets": [{"name": "shapes",
                            "heldOutClasses": [4]}],
              "methods": [{"name": "map"}]
            }
            """, line: 3, ["datasets[0].heldOutClasses: class 4 does not exist: datasets[0] (shapes) has classes 0–3"])
        expectRejected("""
            {
              "datasets": [{"name": "regression-1d", "heldOutClasses": 0}],
              "methods": [{"name": "map"}]
            }
            """, line: 2, ["regression set"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "evaluations": ["ood"],
              "ood": ["fars"]
            }
            """, line: 5, ["ood[0]: unknown OOD set 'fars'", "did you mean 'far'?", "or the path of a file of inputs"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "seed": [0, 1]
            }
            """, line: 4, ["seed: unknown field (did you mean \"seeds\"?"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}]
              "seeds": [0]
            }
            """, line: 4, ["column 3", "expected ',' or '}' after the value of \"methods\""])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "ensemble", "members": 1}]
            }
            """, line: 3, ["methods[0].members: ensemble needs members ≥ 2, got 1"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map", "members": 3}]
            }
            """, line: 3, ["methods[0].members: unknown field", "fields here: name, epochs, batchSize, learningRate, samples"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [
                {"name": "temperature"}
              ]
            }
            """, line: 4, ["methods[0].name: temperature on datasets[0] (two-moons): temperature scaling needs held-out data", "\"holdout\""])
        expectRejected("""
            {
              "datasets": ["regression-1d"],
              "training": {"holdout": 100},
              "methods": [{"name": "temperature"}]
            }
            """, line: 4, ["methods[0].name: temperature on datasets[0] (regression-1d): temperature scaling calibrates class probabilities; regression-1d is a regression set"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "training": {
                "holdout": 1000
              },
              "methods": [{"name": "map"}]
            }
            """, line: 4, ["training.holdout: holding out 1000 examples leaves none to train on"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "evaluations": ["in-distribution", "ood"]
            }
            """, line: 4, ["evaluations[1]: the ood evaluation needs OOD sets"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "evaluations": ["ood"],
              "ood": ["far",
                      "mnist-5k"]
            }
            """, line: 6, ["ood[1]: mnist-5k are 28×28 digit images; datasets[0] (two-moons) has inputs [2]"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "shifts": "strongest"
            }
            """, line: 4, ["shifts: a shift selection is given but no data set is evaluated under shift"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "models": [{"kind": "resnet20"}],
              "methods": [{"name": "map"}]
            }
            """, line: 3, ["the resnet20 model needs image inputs"])
        expectRejected("""
            {
              "datasets": ["fashion-mnist"],
              "methods": [
                {"name": "laplace", "subset": "all",
                 "hessian": "full"}
              ]
            }
            """, line: 4, ["methods[0].name: laplace on datasets[0] (fashion-mnist)", "the all subset has 669706 weights"])
        expectRejected("""
            {
              "datasets": ["two-moons", "fashion_mnist"],
              "methods": [{"name": "map"}]
            }
            """, line: 2, ["datasets[1]: unknown data set 'fashion_mnist'", "did you mean 'fashion-mnist'?"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "map"}],
              "datasets": ["spirals"]
            }
            """, line: 4, ["the field \"datasets\" appears twice"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": []
            }
            """, line: 3, ["methods: the list is empty"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "swag", "swagLearningRate": -0.1}]
            }
            """, line: 3, ["methods[0].swagLearningRate: swag needs swagLearningRate > 0, got -0.1"])
        expectRejected("""
            {
              "datasets": ["two-moons"],
              "methods": [{"name": "laplace", "subset": "subnetwork"}]
            }
            """, line: 3, ["methods[0].name: laplace on datasets[0] (two-moons): illegal Laplace options: Kronecker factors describe whole layers"])
        expectRejected("[1, 2]", line: 1, ["expected a suite object"])
    }

    @Test func badYAMLSuitesNameTheLineToo() {
        expectRejected("""
            datasets: [two-moons]
            methods:
              - name: map
              - name: mc-dropout
                dropout: 0
            """, line: 5, ["methods[1].dropout: mc-dropout needs 0 < dropout < 1, got 0"], yaml: true)
        expectRejected("""
            datasets: [two-moons]
            methods:
              - name: lapalce
            """, line: 3, ["methods[0].name: unknown method 'lapalce'"], yaml: true)
        expectRejected("""
            datasets: [two-moons]
            methods:
              - name: map
               extra: 1
            """, line: 4, ["unexpected indentation"], yaml: true)
        expectRejected("""
            datasets: [two-moons
            methods: [{name: map}]
            """, line: 1, ["must close on the same line"], yaml: true)
    }
}
