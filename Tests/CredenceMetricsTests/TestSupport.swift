import CredenceMetrics
import CredenceTensor
import Foundation

/// A point-estimate (S = 1) classification predictive from rows of probabilities.
func pointPredictive(_ rows: [[Float]]) throws -> Predictive {
    try Predictive(probabilities: Tensor(shape: [rows.count, rows[0].count], values: rows.flatMap { $0 }))
}

/// A sampled classification predictive from `[S][N][C]` probabilities.
func sampledPredictive(_ samples: [[[Float]]]) throws -> Predictive {
    let s = samples.count, n = samples[0].count, c = samples[0][0].count
    return try Predictive(probabilities: Tensor(shape: [s, n, c], values: samples.flatMap { $0.flatMap { $0 } }))
}

/// |a − b| ≤ tolerance.
func close(_ a: Double, _ b: Double, _ tolerance: Double = 1e-12) -> Bool { Swift.abs(a - b) <= tolerance }

/// The ten-example, three-class fixture scored by the PyTorch reference (see CalibrationTests).
enum ReferenceFixture {
    static let rows: [[Float]] = [
        [0.60, 0.30, 0.10], [0.20, 0.70, 0.10], [0.34, 0.33, 0.33], [0.05, 0.05, 0.90], [0.50, 0.45, 0.05],
        [0.10, 0.80, 0.10], [0.40, 0.35, 0.25], [0.98, 0.01, 0.01], [0.25, 0.25, 0.50], [0.15, 0.60, 0.25],
    ]
    static let labels: [Int32] = [0, 1, 2, 2, 1, 1, 0, 0, 2, 0]
    static func predictive() throws -> Predictive { try pointPredictive(rows) }
}
