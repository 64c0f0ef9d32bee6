import ArgumentParser
import Credence
import Foundation

extension RetrainedLayer: ExpressibleByArgument {}

struct LayerOptimaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "layer-optima",
        abstract: "Retrain one layer of a trained network from fresh initialisations (the rest fixed) and compare the solutions.",
        discussion: """
        The experiment behind STF-BNN: distinct solutions of similar loss, far apart and with a loss barrier \
        between them, make a layer's posterior multi-modal given the rest. Reports each restart's training loss \
        and test accuracy, the relative distances between solutions and to the trained layer, and the training \
        loss along the straight line between the first two.
        """)

    @Option(name: [.customLong("checkpoint"), .customLong("posterior")], help: "A trained network (e.g. map.safetensors).") var checkpoint: String
    @Option(help: "The layer to retrain.") var layer: RetrainedLayer = .first
    @Option(help: "Fresh initialisations (seeds 1…N).") var restarts = 3
    @Option(help: "Epochs of Adam per restart.") var epochs = 5
    @Option(help: "Adam's learning rate.") var lr: Float = 1e-3
    @Option(help: "Directory holding the data set's files.") var dataDir: String?
    @Option(help: "Output format.") var format: OutputFormat = .text

    func run() throws {
        let report = try reportingErrors {
            try layerOptimaExperiment(checkpoint: checkpoint, layer: layer, restarts: restarts, epochs: epochs, learningRate: lr,
                                      dataDirectory: dataDir, log: { Terminal.error($0) })
        }
        if format == .json { return try printJSON(report) }
        print("layer \(report.layer) (\(report.parameters) parameters), retrained \(restarts)× for \(epochs) epochs, the rest fixed")
        print(String(format: "trained network: train loss %.4f, test accuracy %.4f", report.original.trainLoss, report.original.testAccuracy))
        for (k, r) in report.restarts.enumerated() {
            print(String(format: "restart %d: train loss %.4f, test accuracy %.4f, relative distance to the trained layer %.3f",
                         k + 1, r.trainLoss, r.testAccuracy, report.relativeDistanceToOriginal[k]))
        }
        print("relative distances between restarts: " + report.relativeDistances.map { $0.map { String(format: "%.3f", $0) }.joined(separator: " ") }.joined(separator: " | "))
        print("train loss from restart 1 to restart 2: " + report.path.map { String(format: "%.4f", $0.trainLoss) }.joined(separator: " "))
        print(String(format: "barrier (max along the line − mean of the ends): %.4f", report.barrier))
    }
}
