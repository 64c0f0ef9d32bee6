import CredenceData
import CredenceTensor
import Foundation
import Testing

/// The bytes of a `.npy` file built by hand: magic, version, little-endian header length,
/// the header text padded with spaces to a multiple of 64 and ended by a newline, the data.
func npyFile(header: String, data: [UInt8], version: UInt8 = 1, pad: Bool = true) -> [UInt8] {
    let lengthBytes = version == 1 ? 2 : 4
    var text = Array(header.utf8)
    if pad {
        let total = (6 + 2 + lengthBytes + text.count + 1 + 63) / 64 * 64
        text += [UInt8](repeating: 0x20, count: total - (6 + 2 + lengthBytes + text.count + 1))
    }
    text.append(0x0A)
    var bytes = NumPy.magic + [version, 0]
    for k in 0..<lengthBytes { bytes.append(UInt8((text.count >> (8 * k)) & 0xFF)) }
    return bytes + text + data
}

/// Little- or big-endian bytes of fixed-width integers (or float bit patterns).
func endianBytes<T: FixedWidthInteger>(_ values: [T], bigEndian: Bool = false) -> [UInt8] {
    values.flatMap { v -> [UInt8] in
        withUnsafeBytes(of: bigEndian ? v.bigEndian : v.littleEndian) { Array($0) }
    }
}

func npyHeader(_ descr: String, shape: [Int], fortran: Bool = false) -> String {
    let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    return "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': (\(dims)), }"
}

@Suite struct NumPyReaderTests {
    let values: [Float] = (0..<24).map { Float($0) * 0.5 - 3 }

    @Test(arguments: [UInt8(1), 2, 3])
    func everyFormatVersionReadsTheSameArray(version: UInt8) throws {
        let bytes = npyFile(header: npyHeader("<f4", shape: [2, 3, 4]), data: endianBytes(values.map(\.bitPattern)),
                            version: version)
        let array = try NumPy.decode(bytes, path: "v\(version).npy")
        #expect(array.elementType == .float32)
        #expect(array.shape == [2, 3, 4])
        #expect(array.tensor.shape == [2, 3, 4])
        #expect(array.tensor.values == values)
    }

    @Test func headerVariantsParse() throws {
        let data = endianBytes([Int64(7), -2, 3])
        let variants = [
            "{'shape': (3,), 'fortran_order': False, 'descr': '<i8'}",          // another key order, no trailing comma
            "{\"descr\": \"<i8\", \"fortran_order\": False, \"shape\": (3L,)}",  // double quotes, Python 2 long
            "{ 'descr' : '<i8' ,\t'fortran_order' : False , 'shape' : ( 3 , ) , }",
        ]
        for text in variants {
            let array = try NumPy.decode(npyFile(header: text, data: data), path: "variant.npy")
            #expect(array.shape == [3], "\(text)")
            #expect(array.integerValues() == [7, -2, 3], "\(text)")
        }
        // Unpadded header: the data starts right after the newline.
        let unpadded = try NumPy.decode(npyFile(header: npyHeader("<i8", shape: [3]), data: data, pad: false))
        #expect(unpadded.integerValues() == [7, -2, 3])
        // A 0-d array has one element.
        let scalar = try NumPy.decode(npyFile(header: "{'descr': '<f8', 'fortran_order': False, 'shape': ()}",
                                              data: endianBytes([Double(2.5).bitPattern])))
        #expect(scalar.shape == [] && scalar.tensor.values == [2.5])
    }

    @Test func everyDtypeAndByteOrder() throws {
        let ints = [0, 1, 2, 9, 5, 3]
        let cases: [(String, [UInt8], NumPyArray.ElementType)] = [
            ("<f4", endianBytes(ints.map { Float($0).bitPattern }), .float32),
            (">f4", endianBytes(ints.map { Float($0).bitPattern }, bigEndian: true), .float32),
            ("<f8", endianBytes(ints.map { Double($0).bitPattern }), .float64),
            (">f8", endianBytes(ints.map { Double($0).bitPattern }, bigEndian: true), .float64),
            ("<f2", endianBytes([UInt16(0x0000), 0x3C00, 0x4000, 0x4880, 0x4500, 0x4200]), .float16),
            ("<i4", endianBytes(ints.map { Int32($0) }), .int32),
            (">i4", endianBytes(ints.map { Int32($0) }, bigEndian: true), .int32),
            ("<i8", endianBytes(ints.map { Int64($0) }), .int64),
            (">i8", endianBytes(ints.map { Int64($0) }, bigEndian: true), .int64),
            ("<i2", endianBytes(ints.map { Int16($0) }), .int16),
            ("<u4", endianBytes(ints.map { UInt32($0) }), .uint32),
            ("|u1", ints.map { UInt8($0) }, .uint8),
            ("|i1", ints.map { UInt8($0) }, .int8),
        ]
        for (descr, data, type) in cases {
            let array = try NumPy.decode(npyFile(header: npyHeader(descr, shape: [2, 3]), data: data), path: "\(descr).npy")
            #expect(array.elementType == type, "\(descr)")
            #expect(array.shape == [2, 3], "\(descr)")
            #expect(array.tensor.values == ints.map(Float.init), "\(descr)")
            #expect(array.integerValues() == ints, "\(descr): integer dtypes exactly, whole floats too")
        }
        let bools = try NumPy.decode(npyFile(header: npyHeader("|b1", shape: [4]), data: [1, 0, 0, 1]))
        #expect(bools.elementType == .bool && bools.integerValues() == [1, 0, 0, 1])
        let big = try NumPy.decode(npyFile(header: npyHeader("<i8", shape: [1]), data: endianBytes([Int64(1) << 40])))
        #expect(big.integerValues() == [1 << 40], "int64 labels are exact, not rounded through Float")
        let fractional = try NumPy.decode(npyFile(header: npyHeader("<f4", shape: [2]), data: endianBytes([Float(1).bitPattern, Float(1.5).bitPattern])))
        #expect(fractional.integerValues() == nil)
    }

    @Test func fortranOrderIsReturnedInCOrder() throws {
        // a[i, j] = 10 i + j stored column by column.
        let (rows, cols) = (2, 3)
        var fortran: [Int32] = []
        for j in 0..<cols { for i in 0..<rows { fortran.append(Int32(10 * i + j)) } }
        let matrix = try NumPy.decode(npyFile(header: npyHeader("<i4", shape: [rows, cols], fortran: true), data: endianBytes(fortran)))
        #expect(matrix.integerValues() == [0, 1, 2, 10, 11, 12])
        let floats = try NumPy.decode(npyFile(header: npyHeader("<f4", shape: [rows, cols], fortran: true),
                                              data: endianBytes(fortran.map { Float($0).bitPattern })))
        #expect(floats.tensor.values == [0, 1, 2, 10, 11, 12])
        // Rank 3: a[i, j, k] = 100 i + 10 j + k, first axis fastest in the file.
        var cube: [Float] = []
        for k in 0..<4 { for j in 0..<3 { for i in 0..<2 { cube.append(Float(100 * i + 10 * j + k)) } } }
        let array = try NumPy.decode(npyFile(header: npyHeader("<f4", shape: [2, 3, 4], fortran: true), data: endianBytes(cube.map(\.bitPattern))))
        #expect(array.shape == [2, 3, 4])
        var expected: [Float] = []
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { expected.append(Float(100 * i + 10 * j + k)) } } }
        #expect(array.tensor.values == expected)
    }

    @Test func encodeRoundTripsThroughAFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        let t = Tensor(shape: [4, 6], values: values)
        try NumPy.write(t, to: dir.file("t.npy"))
        let back = try NumPy.read(dir.file("t.npy"))
        #expect(back.shape == [4, 6] && back.tensor.values == values)
        #expect(NumPy.encode(t).count % 64 == 24 * 4 % 64, "the header is padded to 64 bytes")
        let labels = try NumPy.decode(NumPy.encode(integers: [3, 1, 4]))
        #expect(labels.elementType == .int64 && labels.integerValues() == [3, 1, 4])
        // gzip-compressed .npy files are inflated first.
        try Gzip.writeFile(dir.file("t.npy.gz"), bytes: NumPy.encode(t), compress: true)
        #expect(try NumPy.read(dir.file("t.npy.gz")).tensor.values == values)
    }

    @Test func truncatedFilesAreTypedErrorsNamingTheFile() throws {
        let full = npyFile(header: npyHeader("<f4", shape: [2, 3, 4]), data: endianBytes(values.map(\.bitPattern)))
        for cut in [4, 9, 40, full.count - 1] {
            #expect {
                try NumPy.decode(Array(full.prefix(cut)), path: "cut.npy")
            } throws: { error in
                guard case let DataError.truncated(path, expected, actual)? = error as? DataError else { return false }
                return path == "cut.npy" && actual == cut && expected > cut && "\(error)".contains("cut.npy")
            }
        }
    }

    @Test func badMagicAndGarbledHeadersAreTypedErrors() throws {
        #expect {
            try NumPy.decode(Array("col1,col2\n0.5,0.5\n".utf8), path: "probs.csv")
        } throws: { error in
            guard case DataError.badMagic(path: "probs.csv", _, _)? = error as? DataError else { return false }
            return "\(error)".contains("NUMPY")
        }
        let garbled: [(String, String)] = [
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ", "not a Python dict"),
            ("{'descr': '<f4', 'shape': (2, 3)}", "'fortran_order'"),
            ("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 3)}", "'<c8' is not supported"),
            ("{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': (2,)}", "structured"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}", "non-negative"),
            ("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", "'|O' is not supported"),
            ("not a dict at all", "does not start with '{'"),
        ]
        for (text, fragment) in garbled {
            #expect {
                try NumPy.decode(npyFile(header: text, data: [UInt8](repeating: 0, count: 64)), path: "garbled.npy")
            } throws: { error in
                guard case DataError.invalidArgument(name: "garbled.npy", _)? = error as? DataError else { return false }
                return "\(error)".contains(fragment)
            }
        }
        var future = npyFile(header: npyHeader("<f4", shape: [1]), data: [0, 0, 0, 0])
        future[6] = 9
        #expect(throws: DataError.self) { try NumPy.decode(future, path: "future.npy") }
        #expect {
            try NumPy.read("/nonexistent/probs.npy")
        } throws: { error in
            guard case DataError.fileNotFound(path: "/nonexistent/probs.npy", _)? = error as? DataError else { return false }
            return true
        }
    }
}

/// Whether `python3 -c "import numpy"` works here; the cross-check against NumPy runs only then.
let numpyAvailable: Bool = {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", "import numpy"]
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    guard (try? process.run()) != nil else { return false }
    process.waitUntilExit()
    return process.terminationStatus == 0
}()

@Test(.enabled(if: numpyAvailable, "needs python3 with numpy"))
func filesWrittenByNumPyReadBack() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    // Every file holds a[i, j, k] = 100 i + 10 j + k (shape 2×3×4) in some dtype, order, byte order or version.
    let script = """
        import numpy as np, sys
        d = sys.argv[1]
        a = (100 * np.arange(2)[:, None, None] + 10 * np.arange(3)[None, :, None] + np.arange(4)[None, None, :])
        for dt in ['<f4', '>f4', '<f8', '>f8', '<f2', '<i4', '>i4', '<i8', '>i8', '|u1', '<u2', '<i2']:
            np.save(f"{d}/{dt[1:]}_{'be' if dt[0] == '>' else 'le'}.npy", a.astype(dt))
        np.save(f"{d}/fortran.npy", np.asfortranarray(a.astype('<f4')))
        np.save(f"{d}/fortran_i8.npy", np.asfortranarray(a.astype('<i8')))
        np.save(f"{d}/bool.npy", np.array([True, False, True]))
        np.save(f"{d}/vector.npy", np.arange(5, dtype=np.int64))
        for v in [(2, 0), (3, 0)]:
            with open(f"{d}/v{v[0]}.npy", "wb") as f:
                np.lib.format.write_array(f, a.astype('<f4'), version=v)
        """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script, dir.path]
    try process.run()
    process.waitUntilExit()
    try #require(process.terminationStatus == 0, "the numpy script failed")

    var expected: [Int] = []
    for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { expected.append(100 * i + 10 * j + k) } } }
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".npy") }
    #expect(names.count == 18)
    for name in names where !["bool.npy", "vector.npy"].contains(name) {
        let array = try NumPy.read(dir.file(name))
        #expect(array.shape == [2, 3, 4], "\(name)")
        #expect(array.integerValues() == expected, "\(name)")
    }
    #expect(try NumPy.read(dir.file("bool.npy")).integerValues() == [1, 0, 1])
    let vector = try NumPy.read(dir.file("vector.npy"))
    #expect(vector.shape == [5] && vector.elementType == .int64 && vector.integerValues() == [0, 1, 2, 3, 4])
}
