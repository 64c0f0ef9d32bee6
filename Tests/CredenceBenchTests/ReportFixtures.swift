import CredenceBench
import CredenceData
import CredenceMetrics
import CredenceTensor
import Foundation

/// Realistic synthetic benchmark runs for the report tests, scored by the real metric code:
/// Fashion-MNIST (4 methods × 2 seeds, 10 classes, two OOD sets) and two moons (4 methods,
/// 2 classes, one OOD set), both with the full shift protocol; plus 1-D regression (2 methods).
/// Each method is a "skill" (logit margin of the true class) and a temperature (< 1 is
/// overconfident); shift lowers the skill, so accuracy falls and ECE rises with severity.
enum ReportFixtures {
    struct MethodSpec {
        var method: String
        var settings: [String: String]
        var skill: Double
        var temperature: Double
        var fitSeconds: Double
        var predictionSeconds: Double
        var storedMultiple: Int
    }

    static let methods = [
        MethodSpec(method: "map", settings: [:], skill: 4.6, temperature: 0.6, fitSeconds: 41, predictionSeconds: 0.012, storedMultiple: 1),
        MethodSpec(method: "mc-dropout", settings: ["dropout": "0.1"], skill: 4.5, temperature: 0.85, fitSeconds: 44, predictionSeconds: 0.38, storedMultiple: 1),
        MethodSpec(method: "ensemble", settings: ["members": "5"], skill: 4.9, temperature: 0.97, fitSeconds: 212, predictionSeconds: 0.061, storedMultiple: 5),
        MethodSpec(method: "laplace", settings: ["subset": "last-layer", "hessian": "kron"], skill: 4.6, temperature: 1.2, fitSeconds: 47, predictionSeconds: 0.095, storedMultiple: 2),
    ]

    static let corruptions = ["gaussian-noise", "gaussian-blur", "contrast", "elastic", "pixelate"]

    /// The full synthetic set (deterministic).
    static func records() throws -> [RunRecord] {
        var out: [RunRecord] = []
        for spec in methods {
            for seed in [UInt64(0), 1] {
                out.append(try classificationRun(spec, dataset: .fashionMNIST, classes: 10, seed: seed,
                                                 oodSets: [.builtIn(.mnist5k), .builtIn(.uniformNoise)], parameters: 535_818))
            }
            out.append(try classificationRun(spec, dataset: .twoMoons, classes: 2, seed: 0, oodSets: [.builtIn(.far)], parameters: 4_610))
        }
        for (i, method) in ["map", "ensemble"].enumerated() {
            out.append(try regressionRun(method: method, spread: i == 0 ? 0.55 : 0.95, seed: 0))
        }
        return out
    }

    /// Logits `[N, C]` (standard normal, a random class raised by `skill`) and labels drawn
    /// from `softmax(labelSharpness · z)`: at sharpness 1 the predictive `softmax(z)` is
    /// calibrated by construction; shift lowers the sharpness (the truth gets noisier while
    /// the model stays as confident), so accuracy falls and ECE rises, as in Ovadia et al.
    static func logits(n: Int, classes: Int, skill: Double, labelSharpness: Double = 1,
                       rng: inout RandomGenerator) -> (Tensor, [Int32]) {
        var values = [Float](repeating: 0, count: n * classes)
        var labels = [Int32](repeating: 0, count: n)
        var p = [Double](repeating: 0, count: classes)
        for i in 0..<n {
            let k = Int.random(in: 0..<classes, using: &rng)
            for j in 0..<classes { values[i * classes + j] = Float(gaussian(&rng) + (j == k ? skill : 0)) }
            for j in 0..<classes { p[j] = Foundation.exp(labelSharpness * Double(values[i * classes + j])) }
            var u = Double.random(in: 0..<p.reduce(0, +), using: &rng), y = classes - 1
            for j in 0..<classes { u -= p[j]; if u < 0 { y = j; break } }
            labels[i] = Int32(y)
        }
        return (Tensor(shape: [n, classes], values: values), labels)
    }

    static func gaussian(_ rng: inout RandomGenerator) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * .pi * v)
    }

    static func classificationRun(_ spec: MethodSpec, dataset: DatasetName, classes: Int, seed: UInt64,
                                  oodSets: [OODSource], parameters: Int) throws -> RunRecord {
        let methodIndex = UInt64(methods.firstIndex { $0.method == spec.method } ?? 0)
        var rng = RandomGenerator(seed: seed &* 7919 &+ methodIndex &* 104_729 &+ UInt64(classes))
        let n = 400
        let skill = spec.skill * (classes == 2 ? 0.7 : 1)
        // Ensembles keep more of their skill under shift (Ovadia et al.).
        let robustness = spec.method == "ensemble" ? 0.8 : 1.0
        let (z, y) = logits(n: n, classes: classes, skill: skill, rng: &rng)
        let test = try Predictive(logits: z, temperature: spec.temperature)
        var ood: [OODRecord] = []
        for (k, set) in oodSets.enumerated() {
            let (zo, _) = logits(n: n, classes: classes, skill: skill * (k == 0 ? 0.45 : 0.15), rng: &rng)
            let q = try Predictive(logits: zo, temperature: spec.temperature)
            var scores: [String: DetectionScores] = [:]
            for score in [UncertaintyScore.entropy, .maxProbability] {
                scores[score.rawValue] = try oodDetection(inDistribution: test, outOfDistribution: q, score: score)
            }
            ood.append(OODRecord(set: set.description, scores: scores))
        }
        var shift: [ShiftPoint] = []
        func point(_ name: String, _ severity: Int, factor: Double) throws {
            let sharpness = max(0.05, 1 - (1 - factor) * robustness)
            let (zs, ys) = logits(n: 200, classes: classes, skill: skill, labelSharpness: sharpness, rng: &rng)
            let p = try Predictive(logits: zs, temperature: spec.temperature)
            let m = try metricsSummary(p, labels: ys)
            shift.append(ShiftPoint(shift: name, severity: severity, accuracy: m.accuracy, negativeLogLikelihood: m.negativeLogLikelihood,
                                    expectedCalibrationError: m.expectedCalibrationError, brierScore: m.brierScore, meanEntropy: m.meanEntropy))
        }
        for (k, kind) in corruptions.enumerated() {
            for s in 1...5 { try point(kind, s, factor: 1 - Double(s) * (0.07 + 0.025 * Double(k))) }
        }
        for angle in stride(from: 0, through: 180, by: 15) { try point("rotation", angle, factor: 1 - 0.85 * Foundation.sin(Double(angle) * .pi / 360)) }
        for px in stride(from: 2, through: 26, by: 2) { try point("translation", px, factor: 1 - 0.032 * Double(px)) }
        let config = RunConfiguration(dataset: dataset, method: spec.method, settings: spec.settings, seed: seed,
                                      evaluations: [.inDistribution, .shift, .ood], oodSets: oodSets)
        let scale = classes == 2 ? 0.05 : 1.0
        return RunRecord(
            configuration: config, finishedAt: Date(timeIntervalSince1970: 1_767_000_000 + Double(seed) * 3600),
            metrics: EvaluationMetrics(
                classification: try metricsSummary(test, labels: y),
                reliability: try reliabilityDiagram(test, labels: y),
                rejection: try accuracyRejectionCurve(test, labels: y),
                misclassification: [UncertaintyScore.entropy.rawValue: try misclassificationDetection(test, labels: y, score: .entropy)],
                ood: ood, shift: shift,
                scalability: Scalability(fitSeconds: spec.fitSeconds * scale * (1 + 0.05 * Double(seed)),
                                         predictionSecondsPer1000: spec.predictionSeconds * scale,
                                         peakResidentBytes: Int((180 + 40 * Double(spec.storedMultiple)) * scale * 1_048_576),
                                         storedFloats: parameters * spec.storedMultiple, parameterCount: parameters)))
    }

    static func regressionRun(method: String, spread: Double, seed: UInt64) throws -> RunRecord {
        var rng = RandomGenerator(seed: 99 &+ seed &+ UInt64(spread * 100))
        let n = 300
        var means: [Float] = [], variances: [Float] = [], targets: [Float] = []
        for _ in 0..<n {
            let x = Double.random(in: -3...3, using: &rng)
            let noise = 0.3 + 0.2 * abs(x)
            means.append(Float(x * x * x / 9))
            variances.append(Float(noise * noise * spread * spread))
            targets.append(Float(x * x * x / 9 + noise * gaussian(&rng)))
        }
        let p = try Predictive(means: Tensor(shape: [n, 1], values: means), variances: Tensor(shape: [n, 1], values: variances))
        let config = RunConfiguration(dataset: .regression1D, method: method, settings: method == "ensemble" ? ["members": "5"] : [:], seed: seed)
        return RunRecord(configuration: config, metrics: EvaluationMetrics(
            regression: try regressionMetricsSummary(p, targets: Tensor(shape: [n, 1], values: targets)),
            scalability: Scalability(fitSeconds: method == "ensemble" ? 9.5 : 2.1, predictionSecondsPer1000: 0.002,
                                     peakResidentBytes: 90 * 1_048_576, storedFloats: method == "ensemble" ? 5 * 2_241 : 2_241,
                                     parameterCount: 2_241)))
    }
}
