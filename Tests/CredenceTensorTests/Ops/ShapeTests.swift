import Testing
@testable import CredenceTensor

@Suite struct ShapeTests {
    @Test(arguments: [
        PermuteCase([70, 45], [1, 0]), PermuteCase([1, 5], [1, 0]), PermuteCase([2, 3, 4], [2, 0, 1]),
        PermuteCase([2, 3, 4], [1, 2, 0]), PermuteCase([2, 3, 4], [0, 2, 1]), PermuteCase([2, 3, 4, 5], [3, 1, 0, 2]),
        PermuteCase([2, 3, 4], [0, 1, 2]),
    ])
    func permutedMatchesReference(_ c: PermuteCase) throws {
        let x = Tensor.testInput(c.shape, seed: 1)
        let y = try x.permuted(c.axes)
        #expect(y == Reference.permute(x, c.axes))
        // Permuting back with the inverse permutation restores the input.
        var inverse = [Int](repeating: 0, count: c.axes.count)
        for (i, a) in c.axes.enumerated() { inverse[a] = i }
        #expect(try y.permuted(inverse) == x)
    }

    @Test func transposedHandComputedAndOnAView() throws {
        let x = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(try x.transposed() == Tensor(shape: [3, 2], values: [1, 4, 2, 5, 3, 6]))
        let view = try Tensor((0..<10).map { Float($0) }).segment(offset: 4, shape: [3, 2])
        #expect(try view.transposed() == Tensor(shape: [2, 3], values: [4, 6, 8, 5, 7, 9]))
        #expect(try view.reshaped([1, 3, 2]).permuted([2, 1, 0]).values == [4, 6, 8, 5, 7, 9])
    }

    @Test(arguments: [0, 1, 2, -1])
    func sliceAndConcatenateRoundTrip(_ axis: Int) throws {
        let x = Tensor.testInput([4, 5, 6], seed: 2)
        let a = axis < 0 ? axis + 3 : axis
        let cuts = [0, 1, 3, x.shape[a]]
        let pieces = try (0..<3).map { try x.slice(axis: axis, cuts[$0]..<cuts[$0 + 1]) }
        for (i, p) in pieces.enumerated() {
            var expectedShape = x.shape; expectedShape[a] = cuts[i + 1] - cuts[i]
            #expect(p.shape == expectedShape)
        }
        #expect(try Tensor.concatenate(pieces, axis: axis) == x)
    }

    /// `embedded` (the slice's gradient) puts the slice back among zeros, for blocks copied
    /// element by element (under 16) and by `memmove`; slices of both kinds read the same.
    @Test(arguments: [(1, 2..<3), (1, 0..<2), (1, 1..<10), (2, 3..<4), (0, 1..<2)])
    func embeddedIsTheInverseOfSlice(_ axis: Int, _ range: Range<Int>) throws {
        let x = Tensor.testInput([3, 10, 4], seed: 3)
        let slice = try x.slice(axis: axis, range)
        let back = slice.embedded(in: x.shape, axis: axis, at: range)
        #expect(back.shape == x.shape)
        for i in 0..<3 { for j in 0..<10 { for k in 0..<4 {
            let index = [i, j, k], inside = range.contains(index[axis])
            #expect(back[i, j, k] == (inside ? x[i, j, k] : 0), "\(index)")
        } } }
        #expect(try back.slice(axis: axis, range) == slice)
    }

    @Test func sliceHandComputed() throws {
        let x = Tensor(shape: [2, 3, 2], values: (0..<12).map { Float($0) })
        #expect(try x.slice(axis: 1, 1..<3).values == [2, 3, 4, 5, 8, 9, 10, 11])
        #expect(try x.slice(axis: 2, 1..<2).values == [1, 3, 5, 7, 9, 11])
        #expect(try x.slice(axis: 0, 1..<2).values == Array((6..<12).map { Float($0) }))
        #expect(try x.slice(axis: 1, 2..<2).shape == [2, 0, 2])
        // Slicing a view along an inner axis reads from the view's offset.
        let view = try x.rows(1..<2)
        #expect(try view.slice(axis: 2, 0..<1).values == [6, 8, 10])
    }

    @Test func concatenateHandComputed() throws {
        let a = Tensor(shape: [2, 1], values: [1, 2]), b = Tensor(shape: [2, 2], values: [3, 4, 5, 6])
        #expect(try Tensor.concatenate([a, b], axis: 1) == Tensor(shape: [2, 3], values: [1, 3, 4, 2, 5, 6]))
        #expect(try Tensor.concatenate([b, b], axis: 0) == Tensor(shape: [4, 2], values: [3, 4, 5, 6, 3, 4, 5, 6]))
        #expect(try Tensor.concatenate([a], axis: 0) == a)
        // Views as parts.
        let flat = Tensor((0..<6).map { Float($0) })
        let v1 = try flat.segment(offset: 1, shape: [1, 2]), v2 = try flat.segment(offset: 4, shape: [1, 2])
        #expect(try Tensor.concatenate([v1, v2], axis: 0) == Tensor(shape: [2, 2], values: [1, 2, 4, 5]))
    }

    @Test func gatherColumnsSelectingRowsAndOneHot() throws {
        let x = Tensor(shape: [3, 4], values: (0..<12).map { Float($0) })
        #expect(try x.gatherColumns([3, 0, 2]) == Tensor([3, 4, 10]))
        #expect(try x.selectingRows([2, 0, 2]) == Tensor(shape: [3, 4], values: [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11]))
        #expect(try x.selectingRows([]).shape == [0, 4])
        #expect(try Tensor.oneHot([2, 0, 1], classCount: 3) == Tensor(shape: [3, 3], values: [0, 0, 1, 1, 0, 0, 0, 1, 0]))
        #expect(try Tensor.oneHot([], classCount: 5).shape == [0, 5])
        let view = try x.rows(1..<3)
        #expect(try view.gatherColumns([1, 2]) == Tensor([5, 10]))
        #expect(try view.selectingRows([1]) == Tensor(shape: [1, 4], values: [8, 9, 10, 11]))
    }

    @Test func reshapeInfersOneDimension() throws {
        let x = Tensor(shape: [2, 3, 4], values: (0..<24).map { Float($0) })
        #expect(try x.reshaped([-1]).shape == [24])
        #expect(try x.reshaped([4, -1]).shape == [4, 6])
        #expect(try x.reshaped([2, -1, 3]).shape == [2, 4, 3])
        #expect(try x.reshaped([6, 4]).values == x.values)
        #expect(try Tensor(5).reshaped([1, 1]).shape == [1, 1])
        #expect(try Tensor([7]).reshaped([]).shape == [])
    }
}

struct PermuteCase: Sendable, CustomTestStringConvertible {
    let shape: [Int], axes: [Int]
    init(_ shape: [Int], _ axes: [Int]) { self.shape = shape; self.axes = axes }
    var testDescription: String { "\(shape) by \(axes)" }
}
