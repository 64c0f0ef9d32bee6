import Foundation
import Testing
@testable import CredenceTensor

@Suite struct ReductionTests {
    static let axesCases: [[Int]] = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [2, 0], [0, 1, 2]]

    @Test(arguments: axesCases) func reductionsMatchReference(_ axes: [Int]) throws {
        let x = Tensor.testInput([3, 4, 5], seed: 7)
        let keptShape = x.shape.enumerated().map { axes.contains($0.offset) ? 1 : $0.element }
        let droppedShape = x.shape.enumerated().filter { !axes.contains($0.offset) }.map(\.element)
        for (kind, op) in [(Reference.Kind.sum, Tensor.sum), (.mean, Tensor.mean), (.max, Tensor.max)] {
            let expected = Reference.reduce(x, axes: axes, kind)
            let kept = try op(x)(axes, true)
            #expect(kept.shape == keptShape)
            expectClose(kept.values, expected.values, absolute: 1e-5, relative: 1e-5, "\(kind) axes \(axes) keepDims")
            let dropped = try op(x)(axes, false)
            #expect(dropped.shape == droppedShape)
            expectClose(dropped.values, expected.values, absolute: 1e-5, relative: 1e-5, "\(kind) axes \(axes)")
        }
    }

    @Test func handComputedReductions() throws {
        let x = Tensor(shape: [2, 3], values: [1, 5, 3, -4, 2, 6])
        #expect(try x.sum() == Tensor(13))
        #expect(try x.sum(axes: [0]) == Tensor([-3, 7, 9]))
        #expect(try x.sum(axes: [1], keepDims: true) == Tensor(shape: [2, 1], values: [9, 4]))
        #expect(try x.sum(axes: [-1]) == Tensor([9, 4]))
        #expect(try x.mean(axes: [1]) == Tensor([3, 4.0 / 3]))
        #expect(try x.mean(keepDims: true) == Tensor(shape: [1, 1], values: [13.0 / 6]))
        #expect(try x.max(axes: [0]) == Tensor([1, 5, 6]))
        #expect(try x.max(axes: [1]) == Tensor([5, 6]))
        #expect(try x.max() == Tensor(6))
        #expect(try x.sum(axes: []) == x)
        #expect(x.sumOfElements == 13)
        #expect(x.argmaxLastAxis() == [1, 2])
        #expect(try Tensor(3).sum() == Tensor(3))
    }

    @Test func reductionsOfAViewUseItsOffset() throws {
        let flat = Tensor((0..<10).map { Float($0) })
        let v = try flat.segment(offset: 4, shape: [2, 3])    // [[4, 5, 6], [7, 8, 9]]
        #expect(try v.sum(axes: [0]) == Tensor([11, 13, 15]))
        #expect(try v.max(axes: [1]) == Tensor([6, 9]))
        #expect(try v.mean() == Tensor(6.5))
        #expect(v.argmaxLastAxis() == [2, 2])
    }

    @Test func maxPropagatesNaNAndHandlesInfinities() throws {
        let x = Tensor(shape: [3, 3], values: [1, .nan, 3, .nan, -1, -2, -.infinity, -.infinity, -.infinity])
        let rows = try x.max(axes: [1]).values
        #expect(rows[0].isNaN, "NaN in the middle of a row")
        #expect(rows[1].isNaN, "NaN first in a row")
        #expect(rows[2] == -.infinity)
        let columns = try x.max(axes: [0]).values
        #expect(columns[0].isNaN && columns[1].isNaN && columns[2] == 3)
        #expect(try x.max().values[0].isNaN)
        #expect(try Tensor([1, .infinity, 2]).max().scalar == .infinity)
    }

    @Test func sumAndMeanOfManyElementsAreAccurate() throws {
        // 10⁶ copies of 0.1: a running Float32 total drifts by ~1% (each addition to a total
        // near 10⁵ rounds to a spacing of 2⁻⁷). Mean-of-a-batch losses and dataset statistics
        // need better than that; 1e-5 relative is what Double (or pairwise) accumulation gives.
        let n = 1_000_000
        let x = Tensor(shape: [n], repeating: 0.1)
        let exact = Double(Float(0.1))
        let mean = Double(try x.mean().scalar)
        #expect(Swift.abs(mean - exact) / exact < 1e-5, "mean of 10⁶ × 0.1 is \(mean)")
        let sum = Double(try x.sum().scalar)
        #expect(Swift.abs(sum - exact * Double(n)) / (exact * Double(n)) < 1e-5, "sum of 10⁶ × 0.1 is \(sum)")
        // Same along an inner axis (rows of a [1000, 1000] matrix summed over axis 0).
        let columns = try x.reshaped([1000, 1000]).mean(axes: [0])
        #expect(columns.values.allSatisfy { Swift.abs(Double($0) - exact) / exact < 1e-5 })
        #expect(Swift.abs(x.sumOfElements - exact * Double(n)) / (exact * Double(n)) < 1e-9)
    }
}

@Suite struct SoftmaxFamilyTests {
    @Test func handComputedLogSumExpAndSoftmax() {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 0, 0, 0])
        let lse0 = Foundation.log(Foundation.exp(1.0) + Foundation.exp(2.0) + Foundation.exp(3.0))
        expectClose(x.logSumExpLastAxis(), Tensor([Float(lse0), Float(Foundation.log(3.0))]))
        let p0 = [1.0, 2.0, 3.0].map { Float(Foundation.exp($0 - lse0)) }
        expectClose(x.softmaxLastAxis(), Tensor(shape: [2, 3], values: p0 + [1.0 / 3, 1.0 / 3, 1.0 / 3]))
        expectClose(x.logSoftmaxLastAxis(),
                    Tensor(shape: [2, 3], values: [1, 2, 3].map { Float($0 - lse0) } + [Float](repeating: Float(-Foundation.log(3.0)), count: 3)))
    }

    @Test func hugeLogitsStayFiniteAndCorrect() {
        let x = Tensor(shape: [3, 2], values: [1e4, -1e4, 1e4, 1e4, -1e4, -1e4 + 1])
        let lse = x.logSumExpLastAxis()
        #expect(lse.isFinite)
        expectClose(lse, Tensor([1e4, 1e4 + Float(Foundation.log(2.0)), -1e4 + 1 + Float(Foundation.log1p(Foundation.exp(-1.0)))]),
                    absolute: 0, relative: 1e-6)
        let p = x.softmaxLastAxis()
        #expect(p.isFinite)
        let e = Float(1 / (1 + Foundation.exp(-1.0)))
        expectClose(p, Tensor(shape: [3, 2], values: [1, 0, 0.5, 0.5, 1 - e, e]), absolute: 1e-6)
        let lp = x.logSoftmaxLastAxis()
        #expect(lp.isFinite)
        expectClose(lp, Tensor(shape: [3, 2], values: [0, -2e4, -Float(Foundation.log(2.0)), -Float(Foundation.log(2.0)),
                                                        Float(-1 - Foundation.log1p(Foundation.exp(-1.0))), Float(-Foundation.log1p(Foundation.exp(-1.0)))]),
                    absolute: 2e-3, relative: 1e-6)
        // Gradients through the same huge logits are finite too.
        let tape = Tape()
        let v = tape.variable(x)
        let loss = try! v.logSoftmax().gatherColumns([1, 0, 0]).sum()
        let g = tape.gradients(of: loss)[v]
        #expect(g.isFinite)
        expectClose(g, Tensor(shape: [3, 2], values: [-1, 1, 0.5, -0.5, e, -e]), absolute: 1e-3)
    }

    @Test func logSoftmaxKeepsFullPrecisionForHugeLogits() {
        // log-softmax = (x − max) − log Σ exp(x − max). Both terms are small and exact-ish,
        // so the result has Float precision (~1e-7 relative) at any logit scale. Computing
        // x − logSumExp(x) instead subtracts two numbers near 1e4 and keeps only ~1e-3.
        // The pullback exponentiates this output, so its error reaches the gradient.
        let x = Tensor(shape: [2, 2], values: [1e4, 1e4, -1e4, -1e4 + 1])
        let log2 = Float(Foundation.log(2.0)), l1 = Float(Foundation.log1p(Foundation.exp(-1.0)))
        expectClose(x.logSoftmaxLastAxis(), Tensor(shape: [2, 2], values: [-log2, -log2, -1 - l1, -l1]),
                    absolute: 1e-6, relative: 1e-6, "log-softmax at 1e4")
        let tape = Tape()
        let v = tape.variable(x)
        let g = tape.gradients(of: try! v.logSoftmax().gatherColumns([0, 1]).sum())[v]
        let e = Float(1 / (1 + Foundation.exp(-1.0)))
        expectClose(g, Tensor(shape: [2, 2], values: [0.5, -0.5, -(1 - e), 1 - e]), absolute: 1e-6, "gradient at 1e4")
    }

    @Test func infinitiesInLogits() {
        // −∞ logits are masked-out classes: probability 0, finite result for the rest.
        let x = Tensor(shape: [2, 3], values: [0, -.infinity, 0, -.infinity, -.infinity, -.infinity])
        let lse = x.logSumExpLastAxis().values
        expectClose([lse[0]], [Float(Foundation.log(2.0))])
        #expect(lse[1] == -.infinity)
        let p = x.softmaxLastAxis().values
        #expect(Array(p[0..<3]) == [0.5, 0, 0.5])
        #expect(Tensor([1, .infinity]).logSumExpLastAxis().scalar == .infinity)
    }

    @Test func nanLogitsGiveNaN() {
        // A diverged model must not look healthy: any NaN logit makes the row's log-sum-exp NaN.
        for row: [Float] in [[1, .nan, 2], [.nan, 1], [.nan, .nan], [.nan], [.nan, -.infinity], [.infinity, .nan]] {
            let t = Tensor(shape: [1, row.count], values: row)
            #expect(t.logSumExpLastAxis().values[0].isNaN, "logSumExp(\(row))")
            #expect(t.logSoftmaxLastAxis().values.allSatisfy { $0.isNaN }, "logSoftmax(\(row))")
        }
    }

    @Test func softmaxRowsSumToOne() {
        let x = Tensor.testInput([7, 11], seed: 5, scale: 10)
        let p = x.softmaxLastAxis()
        let sums = try! p.sum(axes: [1]).values
        expectClose(sums, [Float](repeating: 1, count: 7), absolute: 1e-5)
        expectClose(x.logSoftmaxLastAxis().exp(), p, absolute: 1e-6, relative: 1e-5)
    }
}
