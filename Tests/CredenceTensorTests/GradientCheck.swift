import Testing
@testable import CredenceTensor

/// Shared harness: compares reverse-mode gradients of `f` with central finite
/// differences. The scalar checked is Σ f(x) ⊙ W for a fixed random W, so the pullback
/// is exercised with a non-uniform output gradient. Float32 forward passes limit the
/// accuracy of the differences: the check passes when every component satisfies
/// |analytic − numeric| ≤ atol + rtol·|numeric|.
struct GradientCheck {
    var epsilon: Float = 1e-2
    var absoluteTolerance: Double = 2e-3
    var relativeTolerance: Double = 2e-2
    var seed: UInt64 = 42

    /// Returns the worst violation (≤ 0 means pass) and records an expectation failure
    /// naming the input and component when a gradient is wrong.
    @discardableResult
    func check(_ name: String, _ inputs: [Tensor], sourceLocation: SourceLocation = #_sourceLocation,
               _ f: ([Variable]) throws -> Variable) throws -> Double {
        let tape = Tape()
        let vars = inputs.map { tape.variable($0) }
        let out = try f(vars)
        var rng = RandomGenerator(seed: seed)
        let weights = Tensor.randomNormal(shape: out.shape, rng: &rng)
        let grads = tape.gradients(of: out, seed: weights)

        func loss(_ xs: [Tensor]) throws -> Double {
            let y = try f(xs.map { Variable(constant: $0) }).value
            var s = 0.0
            for (a, b) in zip(y.values, weights.values) { s += Double(a) * Double(b) }
            return s
        }
        var worst = -Double.infinity
        for (k, x) in inputs.enumerated() {
            let analytic = grads[vars[k]].values
            #expect(analytic.count == x.count, "\(name): gradient of input \(k) has wrong size", sourceLocation: sourceLocation)
            for i in 0..<x.count {
                var plus = inputs, minus = inputs
                plus[k].withUnsafeMutableBufferPointer { $0[i] += epsilon }
                minus[k].withUnsafeMutableBufferPointer { $0[i] -= epsilon }
                let numeric = (try loss(plus) - loss(minus)) / (2 * Double(epsilon))
                let violation = Swift.abs(Double(analytic[i]) - numeric) - (absoluteTolerance + relativeTolerance * Swift.abs(numeric))
                worst = Swift.max(worst, violation)
                if violation > 0 {
                    Issue.record("\(name): d/d input\(k)[\(i)] analytic \(analytic[i]) vs numeric \(numeric)", sourceLocation: sourceLocation)
                    return violation
                }
            }
        }
        return worst
    }
}

extension Tensor {
    /// Random test input; values kept away from 0 by `margin` when asked (for kinks like relu/abs).
    static func testInput(_ shape: [Int], seed: UInt64, margin: Float = 0, scale: Float = 1) -> Tensor {
        var rng = RandomGenerator(seed: seed)
        var t = Tensor.randomNormal(shape: shape, standardDeviation: scale, rng: &rng)
        if margin > 0 {
            t = t.map { v in Swift.abs(v) < margin ? (v < 0 ? -margin : margin) + v : v }
        }
        return t
    }
}
