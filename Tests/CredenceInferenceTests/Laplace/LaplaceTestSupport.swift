@testable import CredenceInference
import CredenceMetrics
import CredenceNN
import CredenceTensor
import Foundation
import Testing

/// Slow, obviously-correct dense linear algebra for the Laplace tests, written without
/// LAPACK (Gauss–Jordan with partial pivoting, in Double) so a shared mistake in the
/// library's factorizations cannot make a test pass.
enum LaplaceReference {
    /// (log |det A|, A⁻¹) of a square row-major matrix.
    static func inverse(_ a: [Double], _ n: Int) -> (logDeterminant: Double, inverse: [Double]) {
        var m = a
        var inv = [Double](repeating: 0, count: n * n)
        for i in 0..<n { inv[i * n + i] = 1 }
        var logDet = 0.0
        for c in 0..<n {
            var p = c
            for r in c..<n where abs(m[r * n + c]) > abs(m[p * n + c]) { p = r }
            if p != c {
                for j in 0..<n { m.swapAt(c * n + j, p * n + j); inv.swapAt(c * n + j, p * n + j) }
            }
            let pivot = m[c * n + c]
            logDet += log(abs(pivot))
            for j in 0..<n { m[c * n + j] /= pivot; inv[c * n + j] /= pivot }
            for r in 0..<n where r != c {
                let f = m[r * n + c]
                if f == 0 { continue }
                for j in 0..<n { m[r * n + j] -= f * m[c * n + j]; inv[r * n + j] -= f * inv[c * n + j] }
            }
        }
        return (logDet, inv)
    }

    static func multiply(_ a: [Double], _ b: [Double], _ m: Int, _ k: Int, _ n: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for t in 0..<k { let x = a[i * k + t]; if x == 0 { continue }; for j in 0..<n { c[i * n + j] += x * b[t * n + j] } } }
        return c
    }

    /// A random symmetric positive semi-definite n×n matrix XᵀX/m with X m×n standard normal.
    static func randomPSD(_ n: Int, rank m: Int, rng: inout RandomGenerator) -> [Double] {
        let x = (0..<(m * n)).map { _ in Double(rng.normalFloat()) }
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { var s = 0.0; for r in 0..<m { s += x[r * n + i] * x[r * n + j] }; out[i * n + j] = s / Double(m) } }
        return out
    }
}

/// `|a − b| ≤ absolute + relative·|b|` element by element, with a message naming the first miss.
func expectLaplaceClose(_ a: [Double], _ b: [Double], absolute: Double = 0, relative: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) vs \(b.count) values", sourceLocation: sourceLocation)
    for i in 0..<min(a.count, b.count) where !(abs(a[i] - b[i]) <= absolute + relative * abs(b[i])) {
        Issue.record("\(what)[\(i)]: \(a[i]) vs reference \(b[i]) (absolute \(absolute), relative \(relative))",
                     sourceLocation: sourceLocation)
        return
    }
}

extension LaplaceReference {
    /// Per-example Jacobians ∂fₖ/∂θ of all K outputs w.r.t. the whole flat parameter vector,
    /// by one reverse pass per example and output with the parameters tracked (the
    /// straightforward way, independent of the factored backpropagation under test).
    /// Returns [N][K][P] and the outputs [N][K].
    static func jacobians(model: Sequential, parameters: Tensor, inputs: Tensor) throws -> (j: [[[Double]]], f: [[Double]]) {
        let n = inputs.shape[0]
        var js: [[[Double]]] = [], fs: [[Double]] = []
        for e in 0..<n {
            let x = try inputs.rows(e..<(e + 1))
            var rows: [[Double]] = []
            var f: [Double] = []
            let k = model.outputShape.reduce(1, *)
            for kk in 0..<k {
                let tape = Tape()
                let theta = tape.variable(parameters)
                var context = ForwardContext(mode: .eval)
                let out = try model(Variable(constant: x), parameters: theta, context: &context)
                var seed = Tensor(shape: [1, k], repeating: 0)
                seed[0, kk] = 1
                rows.append(tape.gradients(of: out, seed: seed)[theta].values.map(Double.init))
                f = out.value.values.map(Double.init)
            }
            js.append(rows)
            fs.append(f)
        }
        return (js, fs)
    }

    /// Softmax cross-entropy output Hessian diag(p) − ppᵀ.
    static func softmaxHessian(_ f: [Double]) -> [Double] {
        let m = f.max()!
        let e = f.map { exp($0 - m) }, s = e.reduce(0, +)
        let p = e.map { $0 / s }, k = f.count
        return (0..<(k * k)).map { t in (t / k == t % k ? p[t / k] : 0) - p[t / k] * p[t % k] }
    }

    /// Σₙ Jₙᵀ Λₙ Jₙ restricted to `indices` (row-major |indices|²).
    static func ggn(model: Sequential, parameters: Tensor, inputs: Tensor, indices: [Int],
                    outputHessian: ([Double]) -> [Double] = softmaxHessian) throws -> [Double] {
        let (js, fs) = try jacobians(model: model, parameters: parameters, inputs: inputs)
        let m = indices.count
        var h = [Double](repeating: 0, count: m * m)
        for (j, f) in zip(js, fs) {
            let k = f.count, lambda = outputHessian(f)
            for a in 0..<m {
                for b in 0..<m {
                    var s = 0.0
                    for k1 in 0..<k { for k2 in 0..<k { s += j[k1][indices[a]] * lambda[k1 * k + k2] * j[k2][indices[b]] } }
                    h[a * m + b] += s
                }
            }
        }
        return h
    }
}

extension Laplace {
    /// Initial state, one update per batch of `batchSize` rows (in order), and the posterior.
    func fit(model: Sequential, parameters: Tensor, task: Predictive.Task, inputs: Tensor, labels: [Int32] = [],
             targets: Tensor? = nil, batchSize: Int? = nil) throws -> LaplacePosterior {
        var rng = RandomGenerator(seed: 0)
        var state = try initialState(model: model, parameters: parameters, task: task, rng: &rng)
        let n = inputs.shape[0], size = batchSize ?? n
        for start in stride(from: 0, to: n, by: size) {
            let r = start..<min(n, start + size)
            try update(&state, batch: TrainingBatch(inputs: try inputs.rows(r), labels: labels.isEmpty ? [] : Array(labels[r]),
                                                     targets: try targets?.rows(r)), rng: &rng)
        }
        return try posterior(from: state)
    }
}
