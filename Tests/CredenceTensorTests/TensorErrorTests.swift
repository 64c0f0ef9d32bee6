import Testing
@testable import CredenceTensor

/// Bad input to a throwing op throws the right `TensorError` case, and its description
/// names the operation and the offending shapes or values — never a crash.
@Suite struct TensorErrorTests {
    enum Case { case shapeMismatch, invalidArgument }

    /// Runs `body`, requires a `TensorError` of kind `kind` whose description contains
    /// every string in `mentions`.
    func expectError(_ kind: Case, mentions: [String], sourceLocation: SourceLocation = #_sourceLocation,
                     _ body: () throws -> Any) {
        let error = #expect(throws: TensorError.self, sourceLocation: sourceLocation) { _ = try body() }
        guard let error else { return }
        switch (kind, error) {
        case (.shapeMismatch, .shapeMismatch), (.invalidArgument, .invalidArgument): break
        default: Issue.record("expected \(kind), got \(error)", sourceLocation: sourceLocation)
        }
        for m in mentions {
            #expect(error.description.contains(m), "“\(error.description)” should mention \(m)", sourceLocation: sourceLocation)
        }
    }

    let m23 = Tensor.zeros([2, 3]), m45 = Tensor.zeros([4, 5])

    @Test func matmul() {
        expectError(.shapeMismatch, mentions: ["matmul", "[2, 3]", "[4, 5]", "3 vs 4"]) { try m23.matmul(m45) }
        expectError(.shapeMismatch, mentions: ["matmul", "[2, 3]", "[2, 3]"]) { try m23.matmul(m23) }
        expectError(.shapeMismatch, mentions: ["matmul", "[2, 3, 1]", "rank 2"]) { try Tensor.zeros([2, 3, 1]).matmul(m23) }
        expectError(.shapeMismatch, mentions: ["matmul", "[4]"]) { try Tensor.zeros([4]).matmul(m45) }
        // Variable-level: same error, nothing recorded.
        let tape = Tape()
        let a = tape.variable(m23)
        expectError(.shapeMismatch, mentions: ["matmul", "[2, 3]", "[4, 5]"]) { try a.matmul(tape.variable(m45)) }
        #expect(tape.nodeCount == 2)
    }

    @Test func broadcasting() {
        expectError(.shapeMismatch, mentions: ["add", "[2, 3]", "[4, 5]"]) { try m23 + m45 }
        expectError(.shapeMismatch, mentions: ["subtract", "[2, 3]", "[2]"]) { try m23 - Tensor.zeros([2]) }
        expectError(.shapeMismatch, mentions: ["multiply", "[3, 2]", "[2, 3]"]) { try Tensor.zeros([3, 2]) * m23 }
        expectError(.shapeMismatch, mentions: ["divide", "[2, 3]", "[4, 5]"]) { try m23 / m45 }
        expectError(.shapeMismatch, mentions: ["select", "[2, 3]", "[4, 5]"]) { try Tensor.select(m23, m23, m45) }
        let x = Variable(constant: m23), y = Variable(constant: m45)
        expectError(.shapeMismatch, mentions: ["add", "[2, 3]", "[4, 5]"]) { try x + y }
        expectError(.shapeMismatch, mentions: ["divide", "[2, 3]", "[4, 5]"]) { try x / y }
    }

    @Test func reshape() {
        expectError(.shapeMismatch, mentions: ["reshape", "[4, 2]", "[2, 3]", "6"]) { try m23.reshaped([4, 2]) }
        expectError(.shapeMismatch, mentions: ["reshape", "[4, -1]"]) { try m23.reshaped([4, -1]) }
        expectError(.shapeMismatch, mentions: ["reshape"]) { try m23.reshaped([-1, -1]) }
        expectError(.shapeMismatch, mentions: ["reshape"]) { try m23.reshaped([-2, -3]) }
        expectError(.shapeMismatch, mentions: ["reshape"]) { try Variable(constant: m23).reshaped([5]) }
    }

    @Test func badAxis() {
        let x = Tensor.zeros([2, 3, 4])
        expectError(.invalidArgument, mentions: ["sum", "axis 3", "[2, 3, 4]"]) { try x.sum(axes: [3]) }
        expectError(.invalidArgument, mentions: ["mean", "axis -4", "[2, 3, 4]"]) { try x.mean(axes: [-4]) }
        expectError(.invalidArgument, mentions: ["max", "axis 5"]) { try x.max(axes: [0, 5]) }
        expectError(.invalidArgument, mentions: ["sum", "repeated axis"]) { try x.sum(axes: [1, -2]) }
        expectError(.invalidArgument, mentions: ["slice", "axis 3", "[2, 3, 4]"]) { try x.slice(axis: 3, 0..<1) }
        expectError(.invalidArgument, mentions: ["concatenate", "axis 3"]) { try Tensor.concatenate([x, x], axis: 3) }
        expectError(.invalidArgument, mentions: ["permute", "[0, 0, 1]", "[2, 3, 4]"]) { try x.permuted([0, 0, 1]) }
        expectError(.invalidArgument, mentions: ["permute", "[1, 0]"]) { try x.permuted([1, 0]) }
        expectError(.invalidArgument, mentions: ["transpose", "[2, 3, 4]"]) { try x.transposed() }
        expectError(.invalidArgument, mentions: ["sum", "axis 0", "[]"]) { try Tensor(1).sum(axes: [0]) }
        let v = Variable(constant: x)
        expectError(.invalidArgument, mentions: ["sum", "axis 3"]) { try v.sum(axes: [3]) }
        expectError(.invalidArgument, mentions: ["max", "axis 3"]) { try v.max(axes: [3]) }
        expectError(.invalidArgument, mentions: ["[2, 3, 4]"]) { try v.transposed() }
    }

    @Test func sliceRowsAndSegmentOutOfRange() {
        let x = Tensor.zeros([2, 3, 4])
        expectError(.invalidArgument, mentions: ["slice", "0..<5", "axis 2", "[2, 3, 4]"]) { try x.slice(axis: 2, 0..<5) }
        expectError(.invalidArgument, mentions: ["slice", "-1..<1"]) { try x.slice(axis: 1, -1..<1) }
        expectError(.invalidArgument, mentions: ["rows", "1..<3", "[2, 3, 4]"]) { try x.rows(1..<3) }
        expectError(.invalidArgument, mentions: ["rows"]) { try Tensor(1).rows(0..<1) }
        expectError(.invalidArgument, mentions: ["segment", "8..<12", "10"]) { try Tensor.zeros([10]).segment(offset: 8, shape: [2, 2]) }
        expectError(.invalidArgument, mentions: ["segment"]) { try Tensor.zeros([10]).segment(offset: -1, shape: [2]) }
        expectError(.invalidArgument, mentions: ["slice", "0..<3"]) { try Variable(constant: m23).slice(axis: 0, 0..<3) }
        expectError(.invalidArgument, mentions: ["segment"]) { try Variable(constant: Tensor.zeros([4])).segment(offset: 2, shape: [3]) }
    }

    @Test func concatenateMismatch() {
        expectError(.shapeMismatch, mentions: ["concatenate", "[2, 3]", "[4, 5]", "axis 0"]) { try Tensor.concatenate([m23, m45], axis: 0) }
        expectError(.shapeMismatch, mentions: ["concatenate", "[2, 3]", "[2, 3, 1]"]) {
            try Tensor.concatenate([m23, Tensor.zeros([2, 3, 1])], axis: 1)
        }
        expectError(.invalidArgument, mentions: ["concatenate", "at least one"]) { try Tensor.concatenate([], axis: 0) }
        expectError(.shapeMismatch, mentions: ["concatenate", "[2, 3]", "[4, 5]"]) {
            try Variable.concatenate([Variable(constant: m23), Variable(constant: m45)], axis: 1)
        }
    }

    @Test func gatherSelectingRowsAndOneHot() {
        expectError(.invalidArgument, mentions: ["gather", "index 3", "0..<3", "[2, 3]"]) { try m23.gatherColumns([0, 3]) }
        expectError(.invalidArgument, mentions: ["gather", "index -1"]) { try m23.gatherColumns([-1, 0]) }
        expectError(.shapeMismatch, mentions: ["gather", "[2, 3]", "[3]"]) { try m23.gatherColumns([0, 1, 2]) }
        expectError(.shapeMismatch, mentions: ["gather", "[4]"]) { try Tensor.zeros([4]).gatherColumns([0, 1, 2, 3]) }
        expectError(.invalidArgument, mentions: ["gather", "index 7"]) { try Variable(constant: m23).gatherColumns([7, 0]) }
        expectError(.invalidArgument, mentions: ["selectingRows", "row 2", "0..<2"]) { try m23.selectingRows([0, 2]) }
        expectError(.invalidArgument, mentions: ["selectingRows", "rank"]) { try Tensor(1).selectingRows([0]) }
        expectError(.invalidArgument, mentions: ["oneHot", "label 3", "0..<3"]) { try Tensor.oneHot([0, 3], classCount: 3) }
        expectError(.invalidArgument, mentions: ["oneHot", "label -1"]) { try Tensor.oneHot([-1], classCount: 3) }
    }

    @Test func oneHotWithNegativeClassCountThrowsInsteadOfTrapping() async {
        // With no labels there is no label to reject, and the negative class count reaches
        // `Tensor(shape:repeating:)`, whose precondition traps. Run in a child process.
        await #expect(processExitsWith: .success) {
            do {
                _ = try Tensor.oneHot([], classCount: -1)
                exit(1)   // a [0, -1] tensor is not a valid result either
            } catch {
                exit(0)
            }
        }
    }

    @Test func dropoutMaskRate() {
        var rng = RandomGenerator(seed: 0)
        expectError(.invalidArgument, mentions: ["dropoutMask", "1.0"]) { try Tensor.dropoutMask(shape: [3], rate: 1.0, rng: &rng) }
        expectError(.invalidArgument, mentions: ["dropoutMask", "-0.1"]) { try Tensor.dropoutMask(shape: [3], rate: -0.1, rng: &rng) }
        expectError(.invalidArgument, mentions: ["dropoutMask", "nan"]) { try Tensor.dropoutMask(shape: [3], rate: .nan, rng: &rng) }
    }

    @Test func checkedValuesCountMismatch() {
        expectError(.invalidArgument, mentions: ["Tensor(shape:values:)", "[2, 3]", "6", "5"]) {
            try Tensor(shape: [2, 3], checkedValues: [1, 2, 3, 4, 5])
        }
        expectError(.invalidArgument, mentions: ["[-1, -2]"]) { try Tensor(shape: [-1, -2], checkedValues: [1, 2]) }
    }

    @Test func descriptionsFollowOneFormat() {
        #expect(TensorError.shapeMismatch(operation: "op", shapes: [[1], [2, 3]], expected: "why").description
                == "op: incompatible shapes [1] and [2, 3]; why")
        #expect(TensorError.invalidArgument(operation: "op", message: "what").description == "op: what")
    }
}

#if canImport(Glibc)
import Glibc
#endif
