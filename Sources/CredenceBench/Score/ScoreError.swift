/// Why a set of prediction files cannot be scored. Every message names the file and the
/// position that is wrong and says what to do, so the CLI prints `description` as it is.
///
/// ```swift
/// do { _ = try scoreExternalPredictions(probabilities: "p.npy", labels: "y.npy", ood: [], options: ScoreOptions()) }
/// catch let error as ScoreError { print(error) }   // "p.npy: row 17 sums to 0.93, not 1 ..."
/// ```
public enum ScoreError: Error, CustomStringConvertible, Equatable {
    /// A file whose extension and first bytes match none of the accepted formats.
    case unsupportedFormat(path: String)
    /// A file with no bytes, no rows or a zero-length axis.
    case emptyFile(path: String, detail: String)
    /// An array of the wrong rank or shape for its role ("probabilities", "labels", ...).
    case wrongShape(path: String, role: String, shape: [Int], expected: String)
    /// A NaN or ±∞ at `location`.
    case nonFinite(path: String, location: String, value: Double)
    /// A probability outside [0, 1] at `location`.
    case probabilityOutOfRange(path: String, location: String, value: Double)
    /// A probability row whose sum is more than `tolerance` away from 1.
    case rowNotNormalized(path: String, location: String, sum: Double, tolerance: Double)
    /// Probabilities and labels that disagree on the number of examples; `hint` says why, when known.
    case countMismatch(probabilitiesPath: String, examples: Int, labelsPath: String, labels: Int, hint: String?)
    /// A label that is not a whole number.
    case nonIntegralLabel(path: String, index: Int, value: Double)
    /// A label outside `0..<classCount`.
    case labelOutOfRange(path: String, index: Int, label: Int, classCount: Int)
    /// An OOD file with another class count than the in-distribution probabilities.
    case classCountMismatch(path: String, classes: Int, probabilitiesPath: String, expected: Int)
    /// A `.safetensors` file without the requested tensor.
    case tensorNotFound(path: String, tensor: String, available: [String])
    /// An option outside its allowed range.
    case invalidOption(name: String, message: String)

    public var description: String {
        switch self {
        case let .unsupportedFormat(path):
            return "\(path): unknown file format; give probabilities and labels as .npy (np.save), "
                + ".csv (rows = examples, columns = classes) or .safetensors (safetensors.torch.save_file)."
        case let .emptyFile(path, detail):
            return "\(path) is empty (\(detail)); check that it is the right file and that it was written completely."
        case let .wrongShape(path, role, shape, expected):
            return "\(path): \(role) have shape \(shape), but \(expected)."
        case let .nonFinite(path, location, value):
            return "\(path): \(value) at \(location); every value must be finite — "
                + "check the model outputs for overflow or a diverged run."
        case let .probabilityOutOfRange(path, location, value):
            return "\(path): \(value) at \(location) is not a probability (outside [0, 1]); "
                + "if the file holds logits, rerun with --logits to apply a softmax."
        case let .rowNotNormalized(path, location, sum, tolerance):
            return "\(path): the probabilities of \(location) sum to \(sum), not 1 (tolerance \(tolerance)); "
                + "if the file holds logits or unnormalised scores, rerun with --logits to apply a softmax."
        case let .countMismatch(probabilitiesPath, examples, labelsPath, labels, hint):
            return "\(probabilitiesPath) holds \(examples) examples but \(labelsPath) holds \(labels) labels; "
                + (hint ?? "both files must list the same examples in the same order.")
        case let .nonIntegralLabel(path, index, value):
            return "\(path): label \(index) is \(value), not a whole number; labels must be class indices 0, 1, 2, ..."
        case let .labelOutOfRange(path, index, label, classCount):
            return "\(path): label \(index) is \(label), outside 0..<\(classCount) (the probabilities have \(classCount) classes); "
                + "labels must be class indices in the column order of the probabilities."
        case let .classCountMismatch(path, classes, probabilitiesPath, expected):
            return "\(path) has \(classes) classes but \(probabilitiesPath) has \(expected); "
                + "OOD probabilities must come from the same model."
        case let .tensorNotFound(path, tensor, available):
            return "\(path) has no tensor '\(tensor)'; it holds: \(available.joined(separator: ", "))."
        case let .invalidOption(name, message):
            return "invalid \(name): \(message)"
        }
    }
}
