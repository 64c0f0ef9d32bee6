import CredenceTensor

/// An array read from a NumPy `.npy` file: its element type, its shape, and its elements
/// in C (row-major) order — floating types as a Float32 `Tensor`, integer and boolean
/// types as exact `Int`s (so int64 labels survive unrounded).
///
/// ```swift
/// let probs = try NumPy.read("probs.npy")          // np.save("probs.npy", p)
/// print(probs.elementType, probs.shape)            // float32 [10000, 10]
/// let labels = try NumPy.read("labels.npy").integerValues()!   // int64 → [Int]
/// ```
public struct NumPyArray: Sendable {
    /// The `.npy` element types Credence reads (the type code of `descr` without its byte order).
    public enum ElementType: String, CaseIterable, Sendable {
        /// IEEE half precision (`f2`), widened exactly to Float32.
        case float16 = "f2"
        /// IEEE single precision (`f4`).
        case float32 = "f4"
        /// IEEE double precision (`f8`), rounded to nearest Float32.
        case float64 = "f8"
        /// Signed integers of 1, 2, 4 and 8 bytes (`i1` … `i8`).
        case int8 = "i1", int16 = "i2", int32 = "i4", int64 = "i8"
        /// Unsigned integers of 1, 2, 4 and 8 bytes (`u1` … `u8`).
        case uint8 = "u1", uint16 = "u2", uint32 = "u4", uint64 = "u8"
        /// NumPy's one-byte boolean (`b1`): 0 or 1.
        case bool = "b1"

        /// Bytes per stored element.
        public var byteCount: Int { Int(rawValue.dropFirst())! }

        /// True for `f2`, `f4` and `f8`.
        public var isFloatingPoint: Bool { rawValue.hasPrefix("f") }
    }

    /// The elements, in C order.
    public enum Elements: Sendable {
        /// Floating-point elements converted to Float32, shaped like the array.
        case floating(Tensor)
        /// Integer or boolean elements, exact.
        case integer([Int])
    }

    /// The element type recorded in the header.
    public var elementType: ElementType
    /// The shape from the header (`[]` for a 0-d array).
    public var shape: [Int]
    /// The elements in C order, whatever order the file stored them in.
    public var elements: Elements

    public init(elementType: ElementType, shape: [Int], elements: Elements) {
        self.elementType = elementType
        self.shape = shape
        self.elements = elements
    }

    /// Number of elements (product of `shape`).
    public var count: Int { shape.reduce(1, *) }

    /// The elements as a Float32 tensor of shape `shape` (integers converted, exact below 2²⁴).
    public var tensor: Tensor {
        switch elements {
        case let .floating(t): return t
        case let .integer(values): return Tensor(shape: shape, values: values.map { Float($0) })
        }
    }

    /// The elements as exact integers: integer and boolean types always; floating types when
    /// every element is a whole number (labels saved as float); nil otherwise.
    public func integerValues() -> [Int]? {
        switch elements {
        case let .integer(values): return values
        case let .floating(t):
            return t.withUnsafeBufferPointer { p -> [Int]? in
                var out: [Int] = []
                out.reserveCapacity(p.count)
                for v in p {
                    guard v.isFinite, v == v.rounded(), Swift.abs(v) < 9.0e15 else { return nil }
                    out.append(Int(v))
                }
                return out
            }
        }
    }
}
