import ArgumentParser
import Credence
import Foundation

extension ProbabilityLayout: ExpressibleByArgument {}

struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Score predictions made elsewhere (PyTorch, JAX, ...) with Credence's metrics and report.",
        discussion: """
            Files are .npy (np.save), .csv (rows = examples, columns = classes; header optional; \
            labels one per line) or .safetensors (the first tensor, or --tensor NAME). Probabilities \
            are N×C, or N×S×C for S posterior samples (S×N×C with --layout snc); labels are N class \
            indices. Example:
              credence score --probs p.npy --labels y.npy --ood-probs ood.npy --report out/
            """)

    @Option(help: "Probabilities (or logits with --logits), N×C or N×S×C: .npy, .csv or .safetensors.")
    var probs: String
    @Option(help: "Labels: N integer class indices, .npy, .csv or .safetensors.") var labels: String
    @Option(name: .customLong("ood-probs"), parsing: .upToNextOption,
            help: "Probabilities of out-of-distribution inputs from the same model, one file per OOD set.")
    var oodProbs: [String] = []
    @Option(help: "Method name for the table and the report.") var name = "external"
    @Flag(help: "The files hold logits: apply a softmax to every row.") var logits = false
    @Option(help: "Axis order of rank-3 probability files.") var layout: ProbabilityLayout = .nsc
    @Option(help: "Tensor to read from .safetensors probability files (default: the first).") var tensor: String?
    @Option(help: "Tensor to read from a .safetensors labels file (default: the first).") var labelsTensor: String?
    @Option(help: "Largest accepted |row sum − 1| of a probability row.") var tolerance = Predictive.defaultRowTolerance
    @Option(help: "Equal-width bins of the reliability diagram and ECE.") var bins = 15
    @Option(help: "The Credence data set the predictions were made on, if any (recorded in the report).")
    var dataset: DatasetName?
    @Option(help: "Output format.") var format: OutputFormat = .text
    @Option(help: "Write the report (run-record.json and the HTML page) into this directory.") var report: String?

    func run() throws {
        let options = ScoreOptions(name: name, logits: logits, layout: layout, tensor: tensor, labelsTensor: labelsTensor,
                                   rowTolerance: tolerance, binCount: bins, dataset: dataset)
        let (result, written) = try reportingErrors { () throws -> (ScoreResult, [String]) in
            let result = try scoreExternalPredictions(probabilities: probs, labels: labels, ood: oodProbs, options: options)
            let title = "Credence report: \(name) on \((probs as NSString).lastPathComponent)"
            let written = try report.map { try writeScoreReport([result.runRecord(options: options)], to: $0, title: title) } ?? []
            return (result, written)
        }
        if format == .json {
            print(String(decoding: try ScoreResult.jsonEncoder().encode(result), as: UTF8.self))
        } else {
            printScore(result)
        }
        for note in result.notes { Terminal.error("note: \(note)") }
        if report != nil {
            Terminal.error("report: wrote \(written.joined(separator: ", "))")
            if dataset == nil {
                Terminal.error("note: the report files these predictions under the data set 'fashion-mnist' as a placeholder "
                    + "(run records can only name Credence's own sets); pass --dataset NAME if they were made on one of them")
            }
        }
    }
}

func printScore(_ r: ScoreResult) {
    if let s = r.metrics.classification {
        print("\(r.name): \(s.examples) examples, S = \(s.samples), C = \(s.classes)  (\(r.probabilities.path), \(r.labels.path))")
    }
    printMetrics(r.metrics)
}
