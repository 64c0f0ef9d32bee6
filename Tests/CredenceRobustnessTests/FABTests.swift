import CredenceInference
import CredenceNN
@testable import CredenceRobustness
import CredenceTensor
import Foundation
import Testing

/// FAB-T: its projection onto a hyperplane within the input range against the optimality
/// (KKT) conditions and the unconstrained closed forms, and the attack on linear classifiers,
/// where the smallest perturbation that crosses the boundary to class t is |g|/‖Δw‖_* (‖·‖_*
/// the dual norm: L1 for L∞, L2 for L2).
@Suite struct FABTests {
    /// A random problem: a point in [0, 1]ⁿ, a hyperplane normal with some zeros, a change of w·u.
    static func problem(_ n: Int, rng: inout RandomGenerator) -> (point: [Float], w: [Float], missing: Double) {
        let point = (0..<n).map { _ in Float(rng.uniformDouble()) }
        let w = (0..<n).map { k in k % 5 == 4 ? 0 : Float(rng.uniformDouble() * 2 - 1) }
        let reach = w.reduce(0.0) { $0 + Double(abs($1)) }
        return (point, w, (rng.uniformDouble() * 2 - 1) * reach * 0.6)
    }

    /// The step reaches the hyperplane (when the box allows), stays in the box, and has the
    /// KKT form of the smallest step: every coordinate moves towards the side that helps by
    /// min(λ·rᵢ, roomᵢ) for one λ ≥ 0 (rᵢ = 1 for L∞, |wᵢ| for L2).
    @Test(arguments: AttackNorm.allCases)
    func projectionSatisfiesTheOptimalityConditions(_ norm: AttackNorm) {
        var rng = RandomGenerator(seed: 5)
        let fab = FAB(norm: norm, epsilon: 1, inputRange: 0...1)
        for trial in 0..<200 {
            let (p, w, missing) = Self.problem(12, rng: &rng)
            let d = fab.projection(p[...], w[...], missing: missing)
            let change = zip(w, d).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            let room = zip(p, w).map { pk, wk in Double((missing > 0) == (wk > 0) ? 1 - pk : pk) }
            let attainable = zip(w, room).reduce(0.0) { $0 + Double(abs($1.0)) * $1.1 }
            if attainable >= abs(missing) {
                #expect(abs(change - missing) <= 1e-4 * max(1, abs(missing)), "trial \(trial): w·d = \(change), wanted \(missing)")
            } else {  // out of reach: the corner of the box that comes closest
                #expect(abs(change) <= abs(missing) && abs(abs(change) - attainable) <= 1e-4 * max(1, attainable), "trial \(trial)")
            }
            for k in 0..<12 {
                #expect(p[k] + d[k] >= -1e-6 && p[k] + d[k] <= 1 + 1e-6, "trial \(trial): coordinate \(k) leaves the box")
                if w[k] == 0 { #expect(d[k] == 0) }
                if d[k] != 0 { #expect((d[k] > 0) == ((missing > 0) == (w[k] > 0)), "trial \(trial): coordinate \(k) moves the wrong way") }
            }
            // One λ: the unsaturated coordinates' |dᵢ|/rᵢ agree.
            let ratios = (0..<12).filter { w[$0] != 0 && Double(abs(d[$0])) < room[$0] - 1e-6 }
                .map { Double(abs(d[$0])) / (norm == .linf ? 1 : Double(abs(w[$0]))) }
            if let first = ratios.first {
                #expect(ratios.allSatisfy { abs($0 - first) <= 1e-4 * max(1e-3, first) }, "trial \(trial): \(ratios)")
                // and every saturated coordinate's room is at most λ·rᵢ (it would move further).
                for k in 0..<12 where w[k] != 0 && Double(abs(d[k])) >= room[k] - 1e-6 && room[k] > 0 {
                    #expect(room[k] <= first * (norm == .linf ? 1 : Double(abs(w[k]))) * (1 + 1e-4) + 1e-6, "trial \(trial): coordinate \(k)")
                }
            }
        }
    }

    /// Without a box the projection is the textbook one: L2 missing·w/‖w‖², L∞ missing·sign(w)/‖w‖₁.
    @Test(arguments: AttackNorm.allCases)
    func unconstrainedProjectionIsTheClosedForm(_ norm: AttackNorm) {
        var rng = RandomGenerator(seed: 6)
        let fab = FAB(norm: norm, epsilon: 1, inputRange: -1e6...1e6)
        for _ in 0..<50 {
            let (p, w, missing) = Self.problem(9, rng: &rng)
            let d = fab.projection(p[...], w[...], missing: missing)
            let l1 = w.reduce(0.0) { $0 + Double(abs($1)) }, l2 = w.reduce(0.0) { $0 + Double($1) * Double($1) }
            for k in 0..<9 {
                let expected = norm == .l2 ? missing * Double(w[k]) / l2 : w[k] == 0 ? 0 : missing * (w[k] > 0 ? 1 : -1) / l1
                #expect(abs(Double(d[k]) - expected) <= 1e-4 * max(1e-2, abs(expected)), "coordinate \(k): \(d[k]) vs \(expected)")
            }
        }
    }

    /// A linear classifier of 3 classes on 6 unbounded inputs.
    static let model = try! Sequential(ModelSpec(inputShape: [6], layers: [.dense(inputs: 6, outputs: 3, bias: true)]))

    /// The smallest perturbation that makes some other class j at least as likely as y:
    /// min over j of |g_j(x)|/‖w_j − w_y‖_*.
    static func exactDistance(_ theta: [Float], x: [Float], label: Int, norm: AttackNorm) -> Double {
        let weight = { (c: Int, k: Int) in Double(theta[c * 6 + k]) }, bias = { (c: Int) in Double(theta[18 + c]) }
        return (0..<3).filter { $0 != label }.map { j in
            let dw = (0..<6).map { weight(j, $0) - weight(label, $0) }
            let g = zip(dw, x).reduce(bias(j) - bias(label)) { $0 + $1.0 * Double($1.1) }
            let dual = norm == .linf ? dw.reduce(0) { $0 + abs($1) } : dw.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return abs(g) / dual
        }.min()!
    }

    /// On a linear model FAB-T's closest misclassified point lies within 1 % above the exact
    /// smallest distance (never below it), and at ε it fools exactly the examples whose exact
    /// distance is below ε (those within ±2 % of ε are not judged).
    @Test(arguments: AttackNorm.allCases)
    func onALinearClassifierFABFindsTheSmallestPerturbation(_ norm: AttackNorm) throws {
        var rng = RandomGenerator(seed: 7)
        let theta = Self.model.initialParameters(rng: &rng)
        let posterior = try PointPosterior(model: Self.model, parameters: theta, task: .classification)
        let n = 60
        let x = Tensor(shape: [n, 6], values: (0..<(n * 6)).map { _ in rng.normalFloat() })
        // Each example's predicted class is its label: every example starts correctly classified.
        let labels = mostLikelyClasses(try AttackTarget(posterior: posterior).logProbabilities(x, rng: &rng))
        let values = x.values, weights = theta.values
        var exact: [Double] = []
        for i in 0..<n {
            let row = Array(values[(6 * i)..<(6 * i + 6)])
            exact.append(Self.exactDistance(weights, x: row, label: Int(labels[i]), norm: norm))
        }
        let epsilon = Float(exact.sorted()[n / 2])
        let fab = FAB(norm: norm, epsilon: epsilon, steps: 100, targetClasses: 2, inputRange: -1e6...1e6)
        let target = AttackTarget(posterior: posterior)

        // Both targets, each example's closest point over them.
        let clean = try target.logProbabilities(x, rng: &rng)
        let ranked = rankedClasses(clean, classes: 3)
        var found = [Float](repeating: .infinity, count: n)
        for rank in 1...2 {
            let run = try fab.walk(x, labels: labels, targets: ranked.map { $0[rank] }, target: target, rng: &rng)
            for i in 0..<n { found[i] = min(found[i], run.distance[i]) }
        }
        for i in 0..<n {
            #expect(Double(found[i]) >= exact[i] * (1 - 1e-4) && Double(found[i]) <= exact[i] * 1.01,
                    "example \(i): found \(found[i]), exact \(exact[i])")
        }
        let adversarial = try fab.perturb(x, labels: labels, target: target, rng: &rng)
        let predicted = try target.predictions(adversarial, rng: &rng)
        for i in 0..<n where abs(exact[i] / Double(epsilon) - 1) > 0.02 {
            #expect((predicted[i] != labels[i]) == (exact[i] < Double(epsilon)), "example \(i): exact distance \(exact[i]), ε \(epsilon)")
        }
    }
}
