import CredenceBench
import CredenceData
import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct ScoreTests {
    @Test func perfectPredictorScoresAccuracyOneAndNLLZero() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let labels = [0, 3, 1, 2, 2, 0, 1, 3]
        let oneHot = labels.flatMap { y in (0..<4).map { Float($0 == y ? 1 : 0) } }
        let result = try scoreExternalPredictions(
            probabilities: try files.npy("p.npy", shape: [8, 4], oneHot), labels: try files.npyLabels("y.npy", labels),
            ood: [], options: ScoreOptions())
        #expect(result.metrics.classification!.accuracy == 1)
        #expect(result.metrics.classification!.negativeLogLikelihood < 1e-9)
        #expect(result.metrics.classification!.brierScore < 1e-12)
        #expect(result.metrics.classification!.expectedCalibrationError < 1e-12)
        #expect(result.metrics.classification!.aurc == 0)
        #expect(result.metrics.rejection.allSatisfy { $0.accuracy == 1 })
        #expect(result.metrics.misclassification.isEmpty, "no errors to detect")
        #expect(result.notes.contains { $0.contains("every prediction is right") })
        #expect(result.metrics.classification!.examples == 8 && result.metrics.classification!.samples == 1 && result.metrics.classification!.classes == 4)
    }

    @Test func scoresEqualTheMetricsComputedDirectly() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let (p, y) = syntheticPredictions(examples: 300, classes: 5, seed: 1)
        let result = try scoreExternalPredictions(probabilities: try files.npy("p.npy", shape: [300, 5], p),
                                                  labels: try files.npyLabels("y.npy", y), ood: [], options: ScoreOptions())
        let predictive = try Predictive(probabilities: Tensor(shape: [300, 5], values: p))
        let labels = y.map { Int32($0) }
        #expect(result.metrics.classification! == (try metricsSummary(predictive, labels: labels)))
        #expect(result.metrics.reliability == (try reliabilityDiagram(predictive, labels: labels)))
        #expect(result.metrics.rejection == (try accuracyRejectionCurve(predictive, labels: labels)))
        #expect(result.metrics.riskCoverage == (try riskCoverage(predictive, labels: labels)))
        #expect(result.metrics.misclassification["entropy"] == (try misclassificationDetection(predictive, labels: labels, score: .entropy)))
        #expect(Set(result.metrics.misclassification.keys) == ["maxProbability", "entropy"], "no mutual information for S = 1")
        #expect(result.metrics.classification!.accuracy > 0.5 && result.metrics.classification!.accuracy < 1, "a realistic, imperfect classifier")
    }

    @Test func npyCSVAndSafetensorsGiveTheSameScores() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let (n, c) = (120, 4)
        let (p, y) = syntheticPredictions(examples: n, classes: c, seed: 2)
        let reference = try scoreExternalPredictions(probabilities: try files.npy("p.npy", shape: [n, c], p),
                                                     labels: try files.npyLabels("y.npy", y), ood: [], options: ScoreOptions())
        // Swift prints the shortest decimal that reads back to the same Float, so the text files are exact.
        func rows(_ separator: String) -> String {
            (0..<n).map { i in (0..<c).map { "\(p[i * c + $0])" }.joined(separator: separator) }.joined(separator: "\n")
        }
        let csvWithHeader = try files.text("p.csv", "p0,p1,p2,p3\n" + rows(",") + "\n")
        let labelsColumn = try files.text("y.csv", "label\n" + y.map(String.init).joined(separator: "\n") + "\n")
        let fromCSV = try scoreExternalPredictions(probabilities: csvWithHeader, labels: labelsColumn, ood: [], options: ScoreOptions())
        #expect(fromCSV.metrics.classification! == reference.metrics.classification!)
        #expect(fromCSV.probabilities.format == .csv && fromCSV.probabilities.shape == [n, c])

        // np.savetxt's default (space-separated, no header) and labels on one line, as floats.
        let spaced = try files.text("p.txt", rows(" ") + "\n")
        let oneLine = try files.text("y.txt", y.map { "\(Double($0))" }.joined(separator: ",") + "\n")
        #expect(try scoreExternalPredictions(probabilities: spaced, labels: oneLine, ood: [], options: ScoreOptions()).metrics.classification!
                == reference.metrics.classification!)

        // pandas' to_csv(index=False) header of column indices is recognised and skipped.
        let pandas = try files.text("pandas.csv", "0,1,2,3\n" + rows(",") + "\n")
        let fromPandas = try scoreExternalPredictions(probabilities: pandas, labels: labelsColumn, ood: [], options: ScoreOptions())
        #expect(fromPandas.metrics.classification! == reference.metrics.classification!)
        #expect(fromPandas.notes.contains { $0.contains("header of column indices") })

        // One safetensors file holding both (labels as float, as safetensors.torch stores y.float()).
        let both = try files.safetensors("both.safetensors", [
            ("probs", Tensor(shape: [n, c], values: p)), ("labels", Tensor(y.map(Float.init))),
        ])
        var options = ScoreOptions()
        options.tensor = "probs"
        options.labelsTensor = "labels"
        let fromSafetensors = try scoreExternalPredictions(probabilities: both, labels: both, ood: [], options: options)
        #expect(fromSafetensors.metrics.classification! == reference.metrics.classification!)
        #expect(fromSafetensors.probabilities.tensor == "probs" && fromSafetensors.labels.tensor == "labels")
        // Without a name the first tensor in the file is read.
        let single = try files.safetensors("p.safetensors", [("output", Tensor(shape: [n, c], values: p))])
        #expect(try scoreExternalPredictions(probabilities: single, labels: try files.npyLabels("y2.npy", y), ood: [],
                                             options: ScoreOptions()).metrics.classification! == reference.metrics.classification!)
    }

    /// Three examples, two samples that disagree, three classes:
    /// example 0: sample 0 says class 0, sample 1 says class 1 → p̄ = (0.5, 0.5, 0), high MI;
    /// example 1: both say class 2; example 2: both say (0.7, 0.2, 0.1).
    static let perSample: [[[Float]]] = [
        [[1, 0, 0], [0, 1, 0]],
        [[0, 0, 1], [0, 0, 1]],
        [[0.7, 0.2, 0.1], [0.7, 0.2, 0.1]],
    ]

    @Test func perSampleFilesAreReadExampleMajorByDefaultAndSampleMajorOnRequest() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let nsc = Self.perSample.flatMap { $0.flatMap { $0 } }
        let snc = (0..<2).flatMap { s in (0..<3).flatMap { n in Self.perSample[n][s] } }
        let labels = try files.npyLabels("y.npy", [1, 2, 0])
        let fromNSC = try scoreExternalPredictions(probabilities: try files.npy("nsc.npy", shape: [3, 2, 3], nsc),
                                                   labels: labels, ood: [], options: ScoreOptions())
        var options = ScoreOptions()
        options.layout = .snc
        let fromSNC = try scoreExternalPredictions(probabilities: try files.npy("snc.npy", shape: [2, 3, 3], snc),
                                                   labels: labels, ood: [], options: options)
        #expect(fromNSC.metrics.classification! == fromSNC.metrics.classification!)
        let s = fromNSC.metrics.classification!
        #expect(s.examples == 3 && s.samples == 2 && s.classes == 3)
        // p̄ = (0.5, 0.5, 0), (0, 0, 1), (0.7, 0.2, 0.1): the first is a tie (argmax takes class 0, label 1 → wrong).
        #expect(abs(s.accuracy - 2.0 / 3) < 1e-12)
        #expect(abs(s.negativeLogLikelihood - (-(log(0.5) + log(1.0) + log(0.7)) / 3)) < 1e-6)
        // Mutual information: log 2 for example 0, 0 for the others.
        #expect(abs(s.meanMutualInformation - log(2.0) / 3) < 1e-6)
        #expect(fromNSC.metrics.misclassification["mutualInformation"]?.auroc == 1, "the one error is the one the samples disagree on")
    }

    @Test func logitsAreTurnedIntoProbabilities() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let logits: [Float] = [2, 0, -1, 0.5, 0.5, 3, -2, 4, 1]
        let probabilities = (0..<3).flatMap { i -> [Float] in
            let row = logits[(i * 3)..<(i * 3 + 3)].map { Foundation.exp(Double($0)) }
            return row.map { Float($0 / row.reduce(0, +)) }
        }
        let labels = try files.npyLabels("y.npy", [0, 2, 1])
        var options = ScoreOptions()
        options.logits = true
        let fromLogits = try scoreExternalPredictions(probabilities: try files.npy("z.npy", shape: [3, 3], logits),
                                                      labels: labels, ood: [], options: options)
        let fromProbabilities = try scoreExternalPredictions(probabilities: try files.npy("p.npy", shape: [3, 3], probabilities),
                                                             labels: labels, ood: [], options: ScoreOptions())
        #expect(fromLogits.metrics.classification!.accuracy == 1)
        #expect(abs(fromLogits.metrics.classification!.negativeLogLikelihood - fromProbabilities.metrics.classification!.negativeLogLikelihood) < 1e-6)
    }

    @Test func everyOODFileGetsItsOwnRecord() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let (p, y) = syntheticPredictions(examples: 200, classes: 4, seed: 3, margin: 4)
        let (noise, _) = syntheticPredictions(examples: 150, classes: 4, seed: 4, margin: 0)
        let uniform = [Float](repeating: 0.25, count: 50 * 4)
        let result = try scoreExternalPredictions(
            probabilities: try files.npy("p.npy", shape: [200, 4], p), labels: try files.npyLabels("y.npy", y),
            ood: [try files.npy("noise.npy", shape: [150, 4], noise), try files.npy("flat.npy", shape: [50, 4], uniform)],
            options: ScoreOptions())
        #expect(result.metrics.ood.map(\.set) == ["noise", "flat"])
        #expect(result.oodFiles.map(\.shape) == [[150, 4], [50, 4]])
        for record in result.metrics.ood { #expect(Set(record.scores.keys) == ["maxProbability", "entropy"]) }
        #expect(result.metrics.ood.map { $0.scores["entropy"]!.positiveCount } == [150, 50])
        #expect(result.metrics.classification!.oodAUROCEntropy == nil, "OOD figures are per file, in ood, and nowhere else")
        #expect(result.metrics.ood[1].scores["entropy"]!.auroc == 1, "uniform predictions have the largest entropy there is")
        #expect(result.metrics.ood[0].scores["entropy"]!.auroc > 0.7, "confident in-distribution, unsure on noise")
    }

    @Test func oodMutualInformationNeedsSamplesOnBothSides() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let nsc = Self.perSample.flatMap { $0.flatMap { $0 } }
        let result = try scoreExternalPredictions(
            probabilities: try files.npy("p.npy", shape: [3, 2, 3], nsc), labels: try files.npyLabels("y.npy", [1, 2, 0]),
            ood: [try files.npy("sampled.npy", shape: [3, 2, 3], nsc.reversed()),
                  try files.npy("point.npy", shape: [2, 3], [0.2, 0.3, 0.5, 0.4, 0.4, 0.2])],
            options: ScoreOptions())
        #expect(result.metrics.ood[0].scores["mutualInformation"] != nil)
        #expect(result.metrics.ood[1].scores["mutualInformation"] == nil)
    }

    @Test func runRecordAndReportCarryTheScores() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let (p, y) = syntheticPredictions(examples: 100, classes: 3, seed: 5)
        let probs = try files.npy("p.npy", shape: [100, 3], p)
        let ood = try files.npy("ood.npy", shape: [100, 3], syntheticPredictions(examples: 100, classes: 3, seed: 6, margin: 0).probabilities)
        var options = ScoreOptions(name: "torch-resnet")
        let result = try scoreExternalPredictions(probabilities: probs, labels: try files.npyLabels("y.npy", y), ood: [ood],
                                                  options: options)
        let record = result.runRecord(options: options)
        #expect(record.configuration.method == "torch-resnet")
        #expect(record.configuration.settings["probs"] == probs && record.configuration.settings["ood"] == ood)
        #expect(record.configuration.settings["dataset"] == "external", "the dataset field is a marked placeholder")
        #expect(record.configuration.isExternal && record.configuration.datasetLabel == "external predictions")
        #expect(record.configuration.evaluations == [.inDistribution, .ood])
        #expect(record.configuration.samples == 1 && record.configuration.epochs == 0)
        #expect(record.metrics.classification == result.metrics.classification! && record.metrics.reliability == result.metrics.reliability)
        #expect(record.metrics.rejection == result.metrics.rejection && record.metrics.ood == result.metrics.ood)
        #expect(record.metrics.misclassification == result.metrics.misclassification)
        #expect(record.key == result.runRecord(options: options).key, "same files and options, same run key")

        options.dataset = .wine
        let named = result.runRecord(options: options)
        #expect(named.configuration.dataset == .wine && named.configuration.settings["dataset"] == nil)

        let written = try writeScoreReport([record], to: files.path("report"))
        #expect(written.map { ($0 as NSString).lastPathComponent } == ["run-record.json", "index.html"])
        let data = try #require(FileManager.default.contents(atPath: files.path("report/run-record.json")))
        let decoded = try ResultStore.decoder.decode([RunRecord].self, from: data)
        #expect(decoded.count == 1 && decoded[0].metrics.classification == result.metrics.classification! && decoded[0].metrics.ood == result.metrics.ood)
        let html = try String(contentsOfFile: files.path("report/index.html"), encoding: .utf8)
        #expect(html.contains("torch-resnet") && html.contains("<svg"))
        #expect(html.contains("external predictions") && !html.contains("Fashion-MNIST images"), "no placeholder data set in the report")
    }

    @Test func resultEncodesAsJSONWithInfiniteThresholds() throws {
        let files = try ScoreFiles()
        defer { files.cleanup() }
        let (p, y) = syntheticPredictions(examples: 50, classes: 3, seed: 7)
        let result = try scoreExternalPredictions(probabilities: try files.npy("p.npy", shape: [50, 3], p),
                                                  labels: try files.npyLabels("y.npy", y), ood: [], options: ScoreOptions())
        let json = try ScoreResult.jsonEncoder().encode(result)
        let object = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any])
        let metrics = object["metrics"] as? [String: Any]
        #expect((metrics?["classification"] as? [String: Any])?["accuracy"] as? Double == result.metrics.classification!.accuracy)
        #expect(String(decoding: json, as: UTF8.self).contains("\"threshold\":\"Infinity\""))
    }
}

/// What pandas writes: `DataFrame(p).to_csv(path)` adds an index column with an empty header
/// cell; `Series(y).to_csv(path, index=False)` adds the header line "0".
@Test func pandasCSVFilesAreReadOrExplained() throws {
    let files = try ScoreFiles()
    defer { files.cleanup() }
    let probs = try files.text("p.csv", ",0,1,2\n0,0.8,0.1,0.1\n1,0.1,0.8,0.1\n2,0.1,0.1,0.8\n")
    let labels = try files.text("y.csv", ",0\n0,0\n1,1\n2,1\n")
    let result = try scoreExternalPredictions(probabilities: probs, labels: labels, ood: [], options: ScoreOptions())
    #expect(result.probabilities.shape == [3, 3] && result.labels.shape == [3, 1])
    #expect(abs(result.metrics.classification!.accuracy - 2.0 / 3) < 1e-12)
    #expect(result.notes.filter { $0.contains("row index") }.count == 2)
    let headed = try files.text("y0.csv", "0\n0\n1\n2\n")
    let m = try #require(scoreErrorMessage {
        try scoreExternalPredictions(probabilities: probs, labels: headed, ood: [], options: ScoreOptions())
    })
    #expect(m.contains("holds 4 labels") && m.contains("header=False"), "\(m)")
}
