import CredenceTensor

/// Row (first-axis) selection and replacement, for attacks that work on the examples still robust.
extension Tensor {
    /// The rows (first-axis entries) at `indices`, in that order.
    func selectingRows(_ indices: [Int]) throws -> Tensor {
        let n = shape.first ?? 0, perRow = count / Swift.max(n, 1)
        guard indices.allSatisfy({ $0 >= 0 && $0 < n }) else { throw TensorError.invalidArgument(operation: "selectingRows", message: "row index out of 0..<\(n)") }
        var out = Tensor(uninitializedShape: [indices.count] + shape.dropFirst())
        out.withUnsafeMutableBufferPointer { o in
            withUnsafeBufferPointer { v in
                for (k, i) in indices.enumerated() {
                    for j in 0..<perRow { o[k * perRow + j] = v[i * perRow + j] }
                }
            }
        }
        return out
    }

    /// Row `i` (first-axis entry), keeping its shape after the first axis.
    func row(_ i: Int) throws -> Tensor { try rows(i..<(i + 1)) }

    /// Replaces rows `indices` by the rows of `values`, in order.
    mutating func setRows(_ indices: [Int], from values: Tensor) throws {
        let n = shape.first ?? 0, perRow = count / Swift.max(n, 1)
        guard values.count == indices.count * perRow, indices.allSatisfy({ $0 >= 0 && $0 < n }) else {
            throw TensorError.invalidArgument(operation: "setRows", message: "\(indices.count) rows of \(perRow) values into \(n) rows, got \(values.count) values")
        }
        withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { v in
                for (k, i) in indices.enumerated() {
                    (o.baseAddress! + i * perRow).update(from: v.baseAddress! + k * perRow, count: perRow)
                }
            }
        }
    }

    /// Replaces row `i` by `values` (one row's elements).
    mutating func setRow(_ i: Int, to values: Tensor) throws {
        let n = shape.first ?? 0, perRow = count / Swift.max(n, 1)
        guard i >= 0, i < n, values.count == perRow else { throw TensorError.invalidArgument(operation: "setRow", message: "row \(i) of \(n) rows of \(perRow) values, got \(values.count)") }
        withUnsafeMutableBufferPointer { o in
            values.withUnsafeBufferPointer { v in for j in 0..<perRow { o[i * perRow + j] = v[j] } }
        }
    }
}
