import CredenceMetrics
import CredenceTensor
import Foundation
import Testing

@Suite struct CalibrationTests {
    /// Reference numbers from /work/shared/reference/anchor_bench.py (`metrics`, `ece_equal_width`),
    /// torch 2.13.0+cpu, on `ReferenceFixture.rows` as a float32 tensor with those labels:
    /// `/opt/anchor-venv/bin/python` printed acc 0.7, nll 0.6629935550998064,
    /// brier 0.37690000023156417, ece15 0.17600000363588336.
    @Test func eceMatchesThePyTorchReference() throws {
        let p = try ReferenceFixture.predictive(), y = ReferenceFixture.labels
        // By hand: renormalised top-1 confidences 0.6000000015, 0.7, 0.34, 0.9, 0.5, 0.8, 0.4000000060,
        // 0.98, 0.5, 0.6000000060; correct 1,1,0,1,0,1,1,1,1,0. Single-example bins add |1 − c| or
        // |0 − c|: .3 + .34 + .1 + .2 + .6 + .02 = 1.56; bin (7/15, 8/15] holds both 0.5s (acc ½, conf ½: 0);
        // bin (0.6, 2/3] holds both ≈0.6 (just above the edge 0.6; acc ½, conf .6: 2·0.1 = 0.2) → 1.76/10.
        let ece = try expectedCalibrationError(p, labels: y)
        #expect(close(ece, 0.176, 1e-7))
        // The reference's bin weight `m.sum() / n` is a float32 tensor (torch's default dtype for
        // int / int), so it agrees with the all-Double value only to ~1e-8 ...
        #expect(close(ece, 0.17600000363588336, 1e-8))
        // ... and with float32 weights over the same bins (the same binning) it is reproduced exactly.
        let diagram = try reliabilityDiagram(p, labels: y)
        let float32Weights = diagram.bins.reduce(0.0) { $0 + Double(Float($1.count) / Float(10)) * ($1.gap ?? 0) }
        #expect(close(float32Weights, 0.17600000363588336, 1e-15))
        // MCE: the largest gap is the 0.4-confidence correct example, 1 − 0.4000000060.
        #expect(close(try maximumCalibrationError(p, labels: y), 0.6, 1e-7))
    }

    @Test func binEdgesAreTorchLinspaceBitForBit() {
        // torch.linspace(0, 1, 16, dtype=torch.float64) printed with float.hex().
        let torch: [Double] = [0x0.0p+0, 0x1.1111111111111p-4, 0x1.1111111111111p-3, 0x1.999999999999ap-3,
                               0x1.1111111111111p-2, 0x1.5555555555555p-2, 0x1.999999999999ap-2, 0x1.ddddddddddddep-2,
                               0x1.1111111111111p-1, 0x1.3333333333333p-1, 0x1.5555555555555p-1, 0x1.7777777777778p-1,
                               0x1.999999999999ap-1, 0x1.bbbbbbbbbbbbcp-1, 0x1.ddddddddddddep-1, 0x1.0000000000000p+0]
        #expect(calibrationBinEdges(binCount: 15) == torch)
        // i/15 differs from torch at edge 11 — the reason for mirroring the kernel.
        #expect((0...15).map { Double($0) / 15 } != torch)
    }

    @Test func reliabilityDiagramBins() throws {
        let d = try reliabilityDiagram(try ReferenceFixture.predictive(), labels: ReferenceFixture.labels)
        #expect(d.bins.count == 15 && d.bins.map(\.count).reduce(0, +) == 10)
        #expect(d.bins[9].count == 2 && d.bins[9].accuracy == 0.5 && close(d.bins[9].lowerEdge, 0.6))
        #expect(d.bins[0].count == 0 && d.bins[0].meanConfidence == nil && d.bins[0].gap == nil)
        // Edge rule (lo, hi]: confidence exactly 0.8 sits in (11/15, 0.8], bin 11.
        #expect(d.bins[11].count == 1 && d.bins[11].meanConfidence == 0.8)
    }

    @Test func adaptiveAndClasswiseByHand() throws {
        // Confidences 0.6, 0.7, 0.8, 0.9; correct F, T, T, T. Two equal-mass bins {0.6, 0.7}, {0.8, 0.9}:
        // ½·|0.5 − 0.65| + ½·|1 − 0.85| = 0.075 + 0.075 = 0.15.
        let p = try pointPredictive([[0.6, 0.4], [0.7, 0.3], [0.8, 0.2], [0.9, 0.1]])
        #expect(close(try adaptiveCalibrationError(p, labels: [1, 0, 0, 0], binCount: 2), 0.15, 1e-7))
        // More bins than examples: empty bins carry no weight (each example its own bin: .6+.3+.2+.1 over 4).
        #expect(close(try adaptiveCalibrationError(p, labels: [1, 0, 0, 0], binCount: 6), 1.2 / 4, 1e-7))
        // Classwise, 2 bins (0, .5], (.5, 1]: rows (0.8, 0.2) and (0.3, 0.7), both label 0.
        // Class 0: p = .8 (hit) and .3 (hit): ½|1 − .3| + ½|1 − .8| = .45.
        // Class 1: p = .2 (miss) and .7 (miss): ½|0 − .2| + ½|0 − .7| = .45. Mean .45.
        let q = try pointPredictive([[0.8, 0.2], [0.3, 0.7]])
        #expect(close(try classwiseCalibrationError(q, labels: [0, 0], binCount: 2), 0.45, 1e-7))
        #expect(throws: MetricsError.self) { try expectedCalibrationError(q, labels: [0, 0], binCount: 0) }
    }

    /// A perfectly calibrated synthetic predictor: confidence c ~ U(½, 1) on two classes,
    /// correct with probability c. Its ECE is pure sampling noise, ~ 1/√(N/bins), so it
    /// shrinks as N grows.
    @Test func eceOfACalibratedPredictorVanishesWithN() throws {
        func syntheticECE(_ n: Int, seed: UInt64) throws -> Double {
            var rng = RandomGenerator(seed: seed)
            var values: [Float] = [], labels: [Int32] = []
            for _ in 0..<n {
                let c = 0.5 + 0.5 * rng.uniformFloat()
                values += [c, 1 - c]
                labels.append(rng.uniformFloat() < c ? 0 : 1)
            }
            return try expectedCalibrationError(try Predictive(probabilities: Tensor(shape: [n, 2], values: values)), labels: labels)
        }
        let large = try syntheticECE(100_000, seed: 1), small = try syntheticECE(1_000, seed: 2)
        #expect(large < 0.02)
        #expect(small > large)
        // An over-confident predictor (true accuracy c − 0.2) is far off at any N.
        var rng = RandomGenerator(seed: 4)
        var values: [Float] = [], labels: [Int32] = []
        for _ in 0..<10_000 {
            let c = 0.7 + 0.3 * rng.uniformFloat()
            values += [c, 1 - c]
            labels.append(rng.uniformFloat() < c - 0.2 ? 0 : 1)
        }
        let overconfident = try expectedCalibrationError(try Predictive(probabilities: Tensor(shape: [10_000, 2], values: values)), labels: labels)
        #expect(close(overconfident, 0.2, 0.02))
    }
}
