import CredenceData
import CredenceTensor
import Foundation
import Testing

/// `exportDataset`: the files hold exactly the examples Credence uses.
@Suite struct DataExportTests {
    /// Shapes with two shifts and an OOD set: every array read back equals what the loaders,
    /// the shift transforms (with the seed) and the OOD loader give; the manifest names them.
    @Test func exportedImagesLabelsShiftsAndOODSetsAreCredences() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let options = DataOptions(seed: 3, trainLimit: 200)
        let shifts = [Shift(.gaussianNoise, severity: 2), Shift(.rotation, severity: 45)]
        var reported: [String] = []
        let manifest = try exportDataset(.shapes, options: options, shifts: shifts, ood: [.builtIn(.uniformNoise)], to: dir.path) {
            reported.append($0.name)
        }
        let (train, test) = try loadDataset(.shapes, options: options)
        func read(_ name: String) throws -> NumPyArray { try NumPy.read(dir.file(name)) }
        #expect(try read("train-inputs.npy").tensor == train.inputs)
        #expect(try read("test-inputs.npy").tensor == test.inputs)
        #expect(try read("train-labels.npy").integerValues() == train.labels.map(Int.init))
        #expect(try read("test-labels.npy").elementType == .int64)
        let noisy = try applyShift(shifts[0], to: test.inputs, seed: 3), rotated = try applyShift(shifts[1], to: test.inputs, seed: 3)
        #expect(try read("shift-gaussian-noise-2-inputs.npy").tensor == noisy)
        #expect(try read("shift-rotation-45-inputs.npy").tensor == rotated)
        let ood = try loadOODInputs(.builtIn(.uniformNoise), dataset: .shapes, test: test, options: options)
        #expect(try read("ood-uniform-noise-inputs.npy").tensor == ood)
        #expect(reported == manifest.files.map(\.name) && reported.count == 7)
        let stored = try JSONDecoder().decode(DataExportManifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("manifest.json"))))
        #expect(stored == manifest && stored.task == "classification" && stored.classCount == 4 && stored.trainLimit == 200)
        #expect(manifest.files.first { $0.name == "train-inputs.npy" }?.shape == [200, 1, 28, 28])
    }

    /// A regression set's targets go out in their own units, with the standardisation Credence
    /// trains with; shifts of data that are not images and an unwritable place are refused.
    @Test func regressionTargetsAndMistakes() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let manifest = try exportDataset(.regression1D, options: DataOptions(), to: dir.file("cubic"))
        let (train, _) = try loadDataset(.regression1D, options: DataOptions())
        #expect(try NumPy.read(dir.file("cubic/train-targets.npy")).tensor == train.originalTargets)
        #expect(manifest.task == "regression" && manifest.files.map(\.name).contains("test-targets.npy"))
        #expect(manifest.targetMean == train.targetStandardization?.mean)
        #expect(throws: DataError.self) { try exportDataset(.twoMoons, options: DataOptions(), shifts: Shift.strongest, to: dir.file("x")) }
        try Data().write(to: URL(fileURLWithPath: dir.file("a-file")))
        let error = try #require(throws: DataError.self) { try exportDataset(.twoMoons, options: DataOptions(), to: dir.file("a-file")) }
        #expect("\(error)".contains("a-file"))
    }
}
