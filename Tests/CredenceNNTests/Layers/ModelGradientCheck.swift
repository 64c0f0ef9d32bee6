import Testing
@testable import CredenceNN
import CredenceTensor

/// The cross-entropy gradient of `model` with respect to the flat parameter vector and to the
/// input, against central differences (step 10⁻², tolerance `absolute` + `relative`·|numeric|),
/// in `mode` (`.train` exercises batch normalization with batch statistics).
func expectModelGradientsMatchFiniteDifferences(_ model: any NetworkModel, parameters theta: Tensor, inputs x: Tensor,
                                                labels: [Int32], mode: ForwardMode = .eval,
                                                absolute: Double = 2e-3, relative: Double = 2e-2) throws {
    func loss(_ t: Tensor, _ input: Tensor) throws -> Double {
        var context = ForwardContext(mode: mode)
        let out = try model(Variable(constant: input), parameters: Variable(constant: t), context: &context)
        return Double(try Loss.softmaxCrossEntropy(logits: out, labels: labels).value.scalar)
    }
    let tape = Tape()
    let tv = tape.variable(theta), xv = tape.variable(x)
    var context = ForwardContext(mode: mode)
    let l = try Loss.softmaxCrossEntropy(logits: try model(xv, parameters: tv, context: &context), labels: labels)
    let g = tape.gradients(of: l)
    let eps: Float = 1e-2
    for (tensor, grad, isTheta) in [(theta, g[tv], true), (x, g[xv], false)] {
        for i in 0..<tensor.count {
            var p = tensor, m = tensor
            p.withUnsafeMutableBufferPointer { $0[i] += eps }
            m.withUnsafeMutableBufferPointer { $0[i] -= eps }
            let numeric = isTheta ? (try loss(p, x) - loss(m, x)) / Double(2 * eps) : (try loss(theta, p) - loss(theta, m)) / Double(2 * eps)
            let name = isTheta ? model.layout.entries.first { $0.range.contains(i) }!.name : "x"
            #expect(abs(Double(grad.values[i]) - numeric) < absolute + relative * abs(numeric), "\(name)[\(i)]: \(grad.values[i]) vs \(numeric)")
        }
    }
}
