import Testing
@testable import CredenceTensor

@Suite struct TensorTests {
    @Test func initialisersAndAccessors() throws {
        let t = Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])
        #expect(t.rank == 2 && t.count == 6)
        #expect(t[1, 2] == 6 && t[0, 1] == 2)
        #expect(Tensor(3.5).shape == [] && Tensor(3.5).scalar == 3.5 && Tensor(3.5).count == 1)
        #expect(Tensor([1, 2]).shape == [2])
        #expect(Tensor.zeros([2, 2]).values == [0, 0, 0, 0])
        #expect(Tensor.ones([3]).values == [1, 1, 1])
        #expect(Tensor(shape: [0, 3], repeating: 1).count == 0)
        #expect(try Tensor(shape: [3, 1], checkedValues: [1, 2, 3]) == Tensor(shape: [3, 1], values: [1, 2, 3]))
        #expect(t.description == "Tensor(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])")
        #expect(Tensor((0..<10).map { Float($0) }).description.hasSuffix("7, ...])"))
        #expect(t.isFinite && !Tensor([1, .nan]).isFinite && !Tensor([.infinity]).isFinite)
    }

    @Test func subscriptSetterCopiesOnWrite() {
        let a = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        var b = a
        b[0, 1] = 20
        #expect(a.values == [1, 2, 3, 4])
        #expect(b.values == [1, 20, 3, 4])
    }

    @Test func uniqueTensorIsMutatedInPlace() {
        var t = Tensor.zeros([4])
        let before = ObjectIdentifier(t.storage)
        t[2] = 1
        t.addInPlace(Tensor.ones([4]))
        #expect(ObjectIdentifier(t.storage) == before, "no copy when the storage is not shared")
        #expect(t.values == [1, 1, 2, 1])
    }

    @Test func segmentIsAViewAndCopyOnWriteProtectsTheParent() throws {
        let parent = Tensor((0..<10).map { Float($0) })
        var view = try parent.segment(offset: 3, shape: [2, 2])
        #expect(view.storage === parent.storage, "segment must not copy")
        #expect(view.offset == 3)
        #expect(view.values == [3, 4, 5, 6])
        #expect(view[1, 0] == 5)
        view[0, 0] = 99
        #expect(parent.values == (0..<10).map { Float($0) }, "mutating the view must not change the parent")
        #expect(view.values == [99, 4, 5, 6])
        #expect(view.storage !== parent.storage)
    }

    @Test func mutatingTheParentDoesNotChangeAnEarlierView() throws {
        var parent = Tensor((0..<6).map { Float($0) })
        let view = try parent.segment(offset: 2, shape: [3])
        parent[3] = -1
        parent.scaleInPlace(2)
        #expect(view.values == [2, 3, 4])
        #expect(parent.values == [0, 2, 4, -2, 8, 10])
    }

    @Test func rowsReshapeAndAxisZeroSliceAreViews() throws {
        let parent = Tensor(shape: [4, 3], values: (0..<12).map { Float($0) })
        var rows = try parent.rows(1..<3)
        #expect(rows.storage === parent.storage && rows.offset == 3 && rows.shape == [2, 3])
        #expect(rows.values == [3, 4, 5, 6, 7, 8])
        let sliced = try parent.slice(axis: 0, 2..<4)
        #expect(sliced.storage === parent.storage && sliced.offset == 6)
        var reshaped = try parent.reshaped([3, 4])
        #expect(reshaped.storage === parent.storage)
        rows.withUnsafeMutableBufferPointer { $0[0] = -1 }
        reshaped[0, 0] = -2
        #expect(parent.values == (0..<12).map { Float($0) })
        #expect(rows.values == [-1, 4, 5, 6, 7, 8])
        #expect(reshaped.values[0] == -2 && reshaped.values[1] == 1)
    }

    @Test func viewOfAView() throws {
        let flat = Tensor((0..<20).map { Float($0) })
        let block = try flat.segment(offset: 5, shape: [3, 4])     // 5...16
        let row = try block.rows(1..<2)                            // 9...12
        #expect(row.values == [9, 10, 11, 12])
        #expect(try row.segment(offset: 1, shape: [2]).values == [10, 11])
        #expect(try block.reshaped([-1]).segment(offset: 10, shape: [2]).values == [15, 16])
    }

    @Test func segmentRejectsNegativeDimensions() throws {
        // A window shape with a negative dimension has a negative element count; it must be
        // rejected like any other bad window, not turned into a tensor with count < 0.
        let flat = Tensor((0..<6).map { Float($0) })
        // (The closures discard the result: a count < 0 tensor traps when printed.)
        #expect(throws: TensorError.self) { _ = try flat.segment(offset: 0, shape: [-1, 2]) }
        #expect(throws: TensorError.self) { _ = try flat.segment(offset: 4, shape: [-2]) }
    }
}
