import CredenceData
import CredenceTensor
import Foundation

/// Images the shift tests run on: the first Fashion-MNIST test images when the files are
/// installed, else synthetic clothing-like shapes (a shaded blob and a bar on black).
enum ShiftSamples {
    static let usesFashionMNIST = Available.fashionMNIST

    /// `[count, 1, 28, 28]` images in [0, 1] (count ≤ 64).
    static func images(_ count: Int) -> Tensor {
        try! all.rows(0..<count)
    }

    private static let all: Tensor = {
        if usesFashionMNIST, let test = try? FashionMNIST.load(.test, directory: FashionMNIST.directory(options: DataOptions())) {
            return try! test.inputs.rows(0..<64)
        }
        return synthetic(count: 64)
    }()

    /// Deterministic synthetic images: an ellipse with a vertical gradient plus a bright bar.
    static func synthetic(count: Int, side: Int = 28) -> Tensor {
        var rng = RandomGenerator(seed: 2024)
        var values = [Float](repeating: 0, count: count * side * side)
        for n in 0..<count {
            let cy = Float(side) * (0.35 + 0.3 * rng.uniformFloat()), cx = Float(side) * (0.35 + 0.3 * rng.uniformFloat())
            let ry = Float(side) * (0.2 + 0.15 * rng.uniformFloat()), rx = Float(side) * (0.15 + 0.2 * rng.uniformFloat())
            let barRow = rng.integer(below: side - 4)
            for y in 0..<side {
                for x in 0..<side {
                    let u = (Float(y) - cy) / ry, v = (Float(x) - cx) / rx
                    var p: Float = u * u + v * v <= 1 ? 0.3 + 0.6 * Float(y) / Float(side) : 0
                    if y >= barRow && y < barRow + 3 && x > side / 5 && x < side - side / 5 { p = 1 }
                    values[(n * side + y) * side + x] = p
                }
            }
        }
        return Tensor(shape: [count, 1, side, side], values: values)
    }
}

/// Mean |a − b| over all elements.
func meanAbsoluteDifference(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.shape == b.shape)
    return a.withUnsafeBufferPointer { p in
        b.withUnsafeBufferPointer { q in
            var s = 0.0
            for i in p.indices { s += Double(abs(p[i] - q[i])) }
            return s / Double(Swift.max(1, p.count))
        }
    }
}

/// The kinds whose result depends on the seed.
let randomShiftKinds: Set<ShiftKind> = [.gaussianNoise, .shotNoise, .impulseNoise, .motionBlur, .elastic, .occlusion]
