import Foundation
import Testing
@testable import CredenceTensor

@Suite struct ElementwiseTests {
    /// Shape pairs that reach every path of `binaryKernel`: equal shapes, scalar right,
    /// scalar left, one-element non-scalar, a bias row and a middle block of axes on either
    /// side (batch norm's [C, 1, 1] on [B, C, H, W]), and the general expand path (including
    /// broadcasts on both sides and rank differences).
    static let shapePairs: [ShapePair] = [
        ShapePair([2, 3], [2, 3]), ShapePair([2, 3], []), ShapePair([], [2, 3]), ShapePair([1, 1], [2, 3]),
        ShapePair([3, 4], [4]), ShapePair([2, 3, 4], [3, 4]), ShapePair([3, 1], [1, 4]), ShapePair([4], [3, 4]),
        ShapePair([2, 1, 3], [4, 1]), ShapePair([1, 3], [2, 1]), ShapePair([5], [1]), ShapePair([3], [1, 3]),
        ShapePair([2, 3, 1], [1, 1, 5]),
        ShapePair([2, 3, 4, 5], [3, 1, 1]), ShapePair([3, 1, 1], [2, 3, 4, 5]), ShapePair([3, 4], [3, 1]),
        ShapePair([2, 3, 4, 5], [1, 3, 4, 1]), ShapePair([2, 3, 4, 5], [3, 1, 5]), ShapePair([1, 4, 5], [2, 4, 5]),
    ]

    @Test(arguments: shapePairs) func broadcastingMatchesReference(_ p: ShapePair) throws {
        let a = Tensor.testInput(p.a, seed: 1)
        let b = Tensor.testInput(p.b, seed: 2).map { $0 + ($0 < 0 ? -0.5 : 0.5) }
        expectClose(try a + b, Reference.binary(a, b, +), "add \(p)")
        expectClose(try a - b, Reference.binary(a, b, -), "subtract \(p)")
        expectClose(try a * b, Reference.binary(a, b, *), "multiply \(p)")
        expectClose(try a / b, Reference.binary(a, b, /), "divide \(p)")
    }

    @Test func broadcastingHandComputed() throws {
        let m = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(try m + Tensor([10, 20, 30]) == Tensor(shape: [2, 3], values: [11, 22, 33, 14, 25, 36]))
        #expect(try m * Tensor(shape: [2, 1], values: [2, -1]) == Tensor(shape: [2, 3], values: [2, 4, 6, -4, -5, -6]))
        #expect(try Tensor(12) / m == Tensor(shape: [2, 3], values: [12, 6, 4, 3, 2.4, 2]))
        #expect(try Tensor(shape: [3, 1], values: [1, 2, 3]) - Tensor(shape: [1, 2], values: [10, 20])
                == Tensor(shape: [3, 2], values: [-9, -19, -8, -18, -7, -17]))
        // Rank grows to the larger operand; a scalar with a scalar stays a scalar.
        #expect(try (Tensor(2) * Tensor(3)).shape == [])
        #expect(try (Tensor(shape: [1], values: [2]) + Tensor(3)).shape == [1])
    }

    @Test func operandsThatAreViewsUseTheirOffset() throws {
        let flat = Tensor((0..<12).map { Float($0) })
        let a = try flat.segment(offset: 6, shape: [2, 3])    // [6...11]
        let b = try flat.segment(offset: 1, shape: [3])       // [1, 2, 3]
        #expect(try a + b == Tensor(shape: [2, 3], values: [7, 9, 11, 10, 12, 14]))
        #expect(try b * a == Tensor(shape: [2, 3], values: [6, 14, 24, 9, 20, 33]))
        let column = try flat.segment(offset: 4, shape: [2, 1])   // [4, 5]
        #expect(try column - b == Tensor(shape: [2, 3], values: [3, 2, 1, 4, 3, 2]))
        #expect(try a.rows(1..<2).exp().values == [9, 10, 11].map { Foundation.exp($0) })
    }

    @Test func unaryForwardValues() {
        let x = Tensor([-2, -0.5, 0, 0.5, 2])
        expectClose(x.exp(), Tensor([-2, -0.5, 0, 0.5, 2].map { Foundation.exp($0) }))
        expectClose(Tensor([0.5, 1, 4]).log(), Tensor([Foundation.log(0.5), 0, Foundation.log(4)]))
        expectClose(Tensor([0, 1, 4, 2]).sqrt(), Tensor([0, 1, 2, 1.41421356]))
        #expect(Tensor([-1]).sqrt().values[0].isNaN)
        expectClose(x.tanh(), Tensor([-2, -0.5, 0, 0.5, 2].map { Foundation.tanh($0) }))
        expectClose(x.relu(), Tensor([0, 0, 0, 0.5, 2]))
        expectClose(x.abs(), Tensor([2, 0.5, 0, 0.5, 2]))
        expectClose(x.clamped(min: -1, max: 1), Tensor([-1, -0.5, 0, 0.5, 1]))
        // σ(0) = 1/2; σ(2) = 0.8807970779778823.
        expectClose(x.sigmoid(), Tensor([0.11920292, 0.37754067, 0.5, 0.62245933, 0.88079708]))
        // softplus(0) = log 2; softplus(2) = 2.126928011042972.
        expectClose(x.softplus(), Tensor([0.12692801, 0.47407698, 0.69314718, 0.97407698, 2.12692801]))
        // GELU (exact erf form): gelu(2) = 1.9544997361036416, gelu(−0.5) = −0.15426876...
        expectClose(x.gelu(), Tensor([-0.04550026, -0.15426877, 0, 0.34573123, 1.95449974]), absolute: 1e-6)
    }

    @Test func unaryOpsAreStableAtExtremes() {
        let x = Tensor([-1e4, -100, 100, 1e4])
        let s = x.sigmoid()
        #expect(s.isFinite)
        expectClose(s, Tensor([0, 3.720076e-44, 1, 1]), absolute: 1e-30)
        let sp = x.softplus()
        #expect(sp.isFinite)
        expectClose(sp, Tensor([0, 3.720076e-44, 100, 1e4]), absolute: 1e-30)
        expectClose(x.tanh(), Tensor([-1, -1, 1, 1]))
        expectClose(x.gelu(), Tensor([0, 0, 100, 1e4]))
    }

    @Test func nanPropagatesThroughMathOps() {
        let x = Tensor([.nan])
        for (name, y) in [("exp", x.exp()), ("log", x.log()), ("sqrt", x.sqrt()), ("tanh", x.tanh()),
                          ("sigmoid", x.sigmoid()), ("softplus", x.softplus()), ("gelu", x.gelu()),
                          ("abs", x.abs()), ("clamped", x.clamped(min: 0, max: 1))] {
            #expect(y.values[0].isNaN, "\(name)(NaN)")
        }
    }

    @Test func scalarOperatorsAndNegation() {
        let x = Tensor(shape: [2, 2], values: [1, -2, 3, -4])
        #expect(x * 2 == Tensor(shape: [2, 2], values: [2, -4, 6, -8]))
        #expect(x + 1 == Tensor(shape: [2, 2], values: [2, -1, 4, -3]))
        #expect(-x == Tensor(shape: [2, 2], values: [-1, 2, -3, 4]))
    }

    @Test func inPlaceUpdatesRespectCopyOnWrite() {
        let original = Tensor([1, 2, 3])
        var x = original
        x.addInPlace(Tensor([10, 20, 30]))
        #expect(x.values == [11, 22, 33])
        x.addInPlace(Tensor([1, 1, 1]), scale: -2)
        #expect(x.values == [9, 20, 31])
        x.scaleInPlace(0.5)
        #expect(x.values == [4.5, 10, 15.5])
        #expect(original.values == [1, 2, 3])
    }

    @Test func mapAndZipMapReadViews() throws {
        let flat = Tensor([1, 2, 3, 4, 5, 6])
        let v = try flat.segment(offset: 2, shape: [2, 2])
        #expect(v.map { $0 * 10 } == Tensor(shape: [2, 2], values: [30, 40, 50, 60]))
        #expect(v.zipMap(try flat.segment(offset: 0, shape: [2, 2])) { $0 - $1 } == Tensor(shape: [2, 2], values: [2, 2, 2, 2]))
    }

    @Test func selectBroadcastsAllThree() throws {
        let condition = Tensor(shape: [2, 1], values: [1, 0])
        let a = Tensor([1, 2, 3]), b = Tensor(-1)
        #expect(try Tensor.select(condition, a, b) == Tensor(shape: [2, 3], values: [1, 2, 3, -1, -1, -1]))
        // Any nonzero (including NaN) counts as true.
        let c2 = Tensor([0, 2, .nan, -1])
        #expect(try Tensor.select(c2, Tensor([1, 1, 1, 1]), Tensor([0, 0, 0, 0])).values == [0, 1, 1, 1])
    }
}
