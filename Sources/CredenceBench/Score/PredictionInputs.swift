import CredenceMetrics
import CredenceTensor
import Foundation

/// Probabilities read from a file and checked: the predictive, and what was read.
struct ScoredProbabilities {
    var predictive: Predictive
    var file: ScoredFile
    /// What the reader did that the user should know (e.g. a header line skipped).
    var notes: [String]
}

/// Reads `path` as `N × C` probabilities (or `N × S × C` / `S × N × C` per-sample ones, per
/// `options.layout`), or logits with `options.logits`, and refuses anything malformed with
/// a message naming the file and the row: wrong rank, an empty axis, a single column,
/// NaN/±∞, values outside [0, 1], rows not summing to 1 within `options.rowTolerance`.
func readProbabilities(_ path: String, role: String, options: ScoreOptions) throws -> ScoredProbabilities {
    var contents = try ArrayFileContents.read(path, tensor: options.tensor)
    let shape = contents.shape
    let expected = "N×C \(role) are needed (rows = examples, columns = classes)"
        + (contents.file.format == .csv ? "" : ", or per-sample N×S×C ones (S×N×C with --layout snc)")
    guard shape.count == 2 || shape.count == 3 else {
        throw ScoreError.wrongShape(path: path, role: role, shape: shape,
                                    expected: shape.count == 1 ? expected + "; a 1-D array looks like labels or one score per example"
                                        : expected)
    }
    if shape.contains(0) { throw ScoreError.emptyFile(path: path, detail: "shape \(shape)") }
    guard shape.last! >= 2 else {
        throw ScoreError.wrongShape(
            path: path, role: role, shape: shape,
            expected: "one column is not a distribution over classes — for a binary classifier that saved P(class 1), "
                + "save both columns, e.g. np.stack([1 - p, p], axis=-1)")
    }
    if contents.file.format == .csv, shape[0] > 1, shape[1] >= 3,
       contents.values.withUnsafeBufferPointer({ p in (0..<shape[1]).allSatisfy { p[$0] == Float($0) } }) {
        // pandas' `to_csv(index=False)` writes the column indices 0, 1, …, C−1 as the header; such a
        // row sums to C(C−1)/2 ≥ 3, so it cannot be a probability row and is not data.
        contents.values = try contents.values.rows(1..<shape[0])
        contents.lineNumbers!.removeFirst()
        contents.file.shape[0] -= 1
        contents.notes.append("\(path): the first line (0, 1, …, \(shape[1] - 1)) was read as a header of column indices")
    }
    try checkRows(contents, options: options)

    // Predictive wants [S, N, C].
    var samples = contents.values
    if contents.shape.count == 3 && options.layout == .nsc { samples = try samples.permuted([1, 0, 2]) }
    let predictive = options.logits ? try Predictive(logits: samples)
        : try Predictive(probabilities: samples, rowTolerance: options.rowTolerance)
    return ScoredProbabilities(predictive: predictive, file: contents.file, notes: contents.notes)
}

/// One pass over the rows in the file's own order: finite values and, unless they are
/// logits, values in [0, 1] and row sums within tolerance of 1. Errors name the row as the
/// file indexes it (NumPy indices, and the line of a text table).
private func checkRows(_ contents: ArrayFileContents, options: ScoreOptions) throws {
    let shape = contents.shape, c = shape.last!, rows = contents.values.count / c
    func location(_ r: Int) -> String {
        guard shape.count == 3 else { return contents.rowDescription(r) }
        let (outer, inner) = (r / shape[1], r % shape[1])
        return options.layout == .nsc ? "example \(outer), sample \(inner) (index [\(outer), \(inner)])"
            : "sample \(outer), example \(inner) (index [\(outer), \(inner)])"
    }
    try contents.values.withUnsafeBufferPointer { p in
        for r in 0..<rows {
            var sum = 0.0
            for j in 0..<c {
                let v = p[r * c + j]
                guard v.isFinite else {
                    throw ScoreError.nonFinite(path: contents.path, location: "\(location(r)), class \(j)", value: Double(v))
                }
                if !options.logits {
                    guard v >= 0, v <= 1 else {
                        throw ScoreError.probabilityOutOfRange(path: contents.path, location: "\(location(r)), class \(j)",
                                                               value: Double(v))
                    }
                }
                sum += Double(v)
            }
            if !options.logits && Swift.abs(sum - 1) > options.rowTolerance {
                throw ScoreError.rowNotNormalized(path: contents.path, location: location(r), sum: sum,
                                                  tolerance: options.rowTolerance)
            }
        }
    }
}

/// Reads `path` as `N` integer class labels: a 1-D array, or one column (or one row) of a
/// table; integer dtypes, or floats that are whole numbers. Range is checked by `checkLabels`.
func readLabels(_ path: String, options: ScoreOptions) throws -> (labels: [Int], file: ScoredFile, notes: [String]) {
    let contents = try ArrayFileContents.read(path, tensor: options.labelsTensor)
    let shape = contents.shape
    if shape.contains(0) { throw ScoreError.emptyFile(path: path, detail: "shape \(shape)") }
    let isVector = shape.count == 1 || (shape.count == 2 && (shape[1] == 1 || shape[0] == 1))
    guard isVector else {
        let hint = shape.count == 2
            ? "labels must be one class index per example — for one-hot or probability targets save y.argmax(1)"
            : "labels must be a 1-D array of N class indices (or one column)"
        throw ScoreError.wrongShape(path: path, role: "labels", shape: shape, expected: hint)
    }
    if let integers = contents.integers { return (integers, contents.file, contents.notes) }
    var labels: [Int] = []
    labels.reserveCapacity(contents.values.count)
    try contents.values.withUnsafeBufferPointer { p in
        for (i, v) in p.enumerated() {
            let at = contents.lineNumbers.map { "label \(i) (line \($0[Swift.min(i, $0.count - 1)]))" } ?? "label \(i)"
            guard v.isFinite else { throw ScoreError.nonFinite(path: path, location: at, value: Double(v)) }
            guard v == v.rounded(), Swift.abs(v) < 1e9 else {
                throw ScoreError.nonIntegralLabel(path: path, index: i, value: Double(v))
            }
            labels.append(Int(v))
        }
    }
    return (labels, contents.file, contents.notes)
}

/// Checks that labels and probabilities describe the same `N` examples and that every
/// label indexes one of the `C` classes.
func checkLabels(_ labels: [Int], file: ScoredFile, against probabilities: ScoredProbabilities,
                 layout: ProbabilityLayout) throws {
    let p = probabilities.predictive, shape = probabilities.file.shape
    guard labels.count == p.exampleCount else {
        var hint: String? = nil
        if shape.count == 3 && labels.count == (layout == .nsc ? shape[1] : shape[0]) {
            hint = layout == .nsc ? "the file looks sample-major ([S, N, C] = \(shape)); pass --layout snc."
                : "the file looks example-major ([N, S, C] = \(shape)); pass --layout nsc."
        } else if file.format == .csv && labels.count == p.exampleCount + 1 {
            hint = "is the first line of \(file.path) a header? pandas' to_csv writes the column name (0) as one; "
                + "save the labels with header=False."
        }
        throw ScoreError.countMismatch(probabilitiesPath: probabilities.file.path, examples: p.exampleCount,
                                       labelsPath: file.path, labels: labels.count, hint: hint)
    }
    if let i = labels.firstIndex(where: { $0 < 0 || $0 >= p.outputCount }) {
        throw ScoreError.labelOutOfRange(path: file.path, index: i, label: labels[i], classCount: p.outputCount)
    }
}
