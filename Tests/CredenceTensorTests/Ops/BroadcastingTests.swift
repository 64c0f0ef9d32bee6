import Testing
@testable import CredenceTensor

@Suite struct BroadcastingTests {
    @Test func broadcastShapeRules() {
        #expect(Broadcasting.shape([3, 4], [4]) == [3, 4])
        #expect(Broadcasting.shape([3, 1], [1, 4]) == [3, 4])
        #expect(Broadcasting.shape([], [2, 3]) == [2, 3])
        #expect(Broadcasting.shape([2, 1, 3], [4, 1]) == [2, 4, 3])
        #expect(Broadcasting.shape([0, 3], [1, 3]) == [0, 3])
        #expect(Broadcasting.shape([3], [4]) == nil)
        #expect(Broadcasting.shape([2, 3], [3, 2]) == nil)
        #expect(Broadcasting.shape([0], [2]) == nil)
    }

    /// The block `binaryKernel` loops over without expanding: outer × middle × inner.
    @Test func middleBlockFindsPerChannelBroadcasts() {
        #expect(Broadcasting.middleBlock([3, 1, 1], in: [2, 3, 4, 5])! == (2, 3, 20))
        #expect(Broadcasting.middleBlock([1, 3, 4, 1], in: [2, 3, 4, 5])! == (2, 12, 5))
        #expect(Broadcasting.middleBlock([3, 1], in: [3, 4])! == (1, 3, 4))
        #expect(Broadcasting.middleBlock([4], in: [3, 4])! == (3, 4, 1))           // a bias row
        #expect(Broadcasting.middleBlock([1, 4, 5], in: [2, 4, 5])! == (2, 20, 1))
        #expect(Broadcasting.middleBlock([3, 1, 5], in: [2, 3, 4, 5]) == nil)     // two blocks apart
        #expect(Broadcasting.middleBlock([1, 1], in: [3, 4]) == nil)              // one element
    }

    /// A bias row added to every row, and the rows summed per column, give a plain nested
    /// loop's numbers bit for bit on both sides of `rowByRowWidth` (column blocks down the
    /// rows below it, row by row from it), with a tail of columns outside the SIMD blocks.
    @Test(arguments: [3, 16, 50, 63, 64, 70, 512])
    func biasRowsMatchAPlainLoop(_ width: Int) {
        let rows = 9
        let matrix = Tensor.testInput([rows, width], seed: 5).values, row = Tensor.testInput([width], seed: 6).values
        var added = matrix, expectedAdded = matrix
        for r in 0..<rows { for j in 0..<width { expectedAdded[r * width + j] += row[j] } }
        added.withUnsafeMutableBufferPointer { m in
            row.withUnsafeBufferPointer { Broadcasting.addRow($0.baseAddress!, toEachRowOf: m.baseAddress!, rows: rows, width: width) }
        }
        #expect(added == expectedAdded)
        var sums = [Float](repeating: .nan, count: width), expectedSums = [Float](repeating: 0, count: width)
        for r in 0..<rows { for j in 0..<width { expectedSums[j] += matrix[r * width + j] } }
        sums.withUnsafeMutableBufferPointer { s in
            matrix.withUnsafeBufferPointer { Broadcasting.sumRows(of: $0.baseAddress!, rows: rows, width: width, into: s.baseAddress!) }
        }
        #expect(sums == expectedSums)
    }

    @Test(arguments: [
        ShapePair([4], [3, 4]), ShapePair([3, 1], [3, 4]), ShapePair([1, 4], [3, 4]), ShapePair([], [2, 3]),
        ShapePair([2, 1, 3], [2, 4, 3]), ShapePair([4, 1], [2, 4, 3]), ShapePair([1], [2, 2]), ShapePair([2, 3], [2, 3]),
    ])
    func expandedMatchesReference(_ p: ShapePair) {
        let t = Tensor.testInput(p.a, seed: 3)
        #expect(t.expanded(to: p.b) == Reference.broadcast(t, to: p.b), "\(p)")
    }

    /// `summed(toShape:)` is the adjoint of broadcasting: ⟨expand(x), g⟩ = ⟨x, sum(g)⟩.
    /// Checked against an explicit scatter-add for every shape pair, including the fast
    /// (suffix) path and the general per-axis path.
    @Test(arguments: [
        ShapePair([3, 4], [4]), ShapePair([3, 4], [1, 4]), ShapePair([3, 4], [3, 1]), ShapePair([3, 4], []),
        ShapePair([3, 4], [1]), ShapePair([3, 4], [1, 1]), ShapePair([2, 4, 3], [2, 1, 3]), ShapePair([2, 4, 3], [4, 1]),
        ShapePair([2, 4, 3], [1, 3]), ShapePair([2, 4, 3], [2, 1, 1]), ShapePair([5, 1, 4], [1, 4]), ShapePair([2, 3], [2, 3]),
    ])
    func summedToShapeMatchesScatterAdd(_ p: ShapePair) {
        let g = Tensor.testInput(p.a, seed: 4)
        var expected = [Float](repeating: 0, count: p.b.reduce(1, *))
        let gv = g.values
        for i in 0..<g.count {
            expected[Reference.sourcePosition(Reference.multiIndex(i, in: p.a), from: p.b)] += gv[i]
        }
        expectClose(g.summed(toShape: p.b), Tensor(shape: p.b, values: expected), absolute: 1e-5, "\(p)")
    }

    @Test func summedToShapeHandComputed() throws {
        let g = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(g.summed(toShape: [3]) == Tensor([5, 7, 9]))
        #expect(g.summed(toShape: [2, 1]) == Tensor(shape: [2, 1], values: [6, 15]))
        #expect(g.summed(toShape: []) == Tensor(21))
        // A view: the offset must be honoured.
        let view = try Tensor((0..<10).map { Float($0) }).segment(offset: 4, shape: [2, 3])   // [4...9]
        #expect(view.summed(toShape: [3]) == Tensor([11, 13, 15]))
        #expect(view.summed(toShape: [2, 1]) == Tensor(shape: [2, 1], values: [15, 24]))
    }
}
