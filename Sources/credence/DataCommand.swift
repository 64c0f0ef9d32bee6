import ArgumentParser
import Credence
import Foundation

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "The built-in data sets: list them, or export one as NumPy files.",
        subcommands: [ListData.self, ExportData.self])

    struct ListData: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the built-in data sets.")

        func run() {
            let width = DatasetName.allCases.map(\.rawValue.count).max() ?? 0
            for name in DatasetName.allCases {
                print(name.rawValue.padding(toLength: width + 2, withPad: " ", startingAt: 0) + name.summary)
            }
        }
    }

    struct ExportData: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export",
            abstract: "Write a built-in data set as .npy files (train and test inputs and labels or targets, shifted and OOD inputs) with a manifest.json, so PyTorch and JAX use exactly Credence's examples.")

        @Argument(help: "The data set (`credence data list`).") var dataset: DatasetName
        @Option(help: "Directory to write (created if missing).") var out: String
        @Option(help: "Seed of the split, the synthetic sets and the shifts' noise.") var seed: UInt64 = 0
        @Option(help: "Keep the first N training examples.") var trainLimit: Int?
        @Option(help: "Write the N training examples a run with --holdout N keeps out as holdout-*.npy (the train files hold the rest).") var holdout = 0
        @Option(help: "Classes left out of training and testing, comma-separated.") var heldOutClasses: String?
        @Option(help: "Also the shifted test inputs: all (81 sets) or strongest (13).") var shifts: ShiftSelection?
        @Option(parsing: .upToNextOption, help: oodHelp, transform: OODSource.init(parsing:)) var ood: [OODSource] = []
        @Option(help: "Directory holding the data set's files.") var dataDir: String?
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            var options = DataOptions(directory: dataDir, seed: seed, trainLimit: trainLimit)
            if let heldOutClasses { options.heldOutClasses = try integerList(heldOutClasses, option: "--held-out-classes", example: "5,6") }
            if let trainLimit, trainLimit < 1 { throw ValidationError("--train-limit must be ≥ 1, got \(trainLimit)") }
            if holdout < 0 { throw ValidationError("--holdout must be ≥ 0, got \(holdout)") }
            let manifest = try reportingErrors {
                try exportDataset(dataset, options: options, holdout: holdout, shifts: shifts?.shifts ?? [], ood: ood, to: out) {
                    Terminal.redraw("wrote \($0.name)")
                }
            }
            Terminal.redraw("")
            if format == .json { return try printJSON(manifest) }
            print("\(manifest.dataset) (seed \(manifest.seed), \(manifest.task)) → \(out)/")
            for file in manifest.files {
                print("  " + file.name.padding(toLength: 44, withPad: " ", startingAt: 0) + "\(file.dtype) \(file.shape)")
            }
            print("  manifest.json")
        }
    }
}
