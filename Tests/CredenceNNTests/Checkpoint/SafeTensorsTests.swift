@testable import CredenceNN
import CredenceTensor
import Foundation
import Testing

@Suite("safetensors format")
struct SafeTensorsTests {
    @Test func roundTripKeepsNamesOrderShapesValuesAndMetadata() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        var rng = RandomGenerator(seed: 7)
        var file = SafeTensorsFile(metadata: ["note": "a/b \"quoted\" ünïcode", "empty": ""])
        file["z.weight"] = Tensor.randomNormal(shape: [3, 5], rng: &rng)
        file["a.bias"] = Tensor.randomNormal(shape: [5], rng: &rng)
        file["scalar"] = Tensor(2.5)
        file["empty"] = Tensor.zeros([0, 4])
        let path = scratch.file("t.safetensors")
        try file.write(to: path)

        let back = try SafeTensorsFile(contentsOf: path)
        #expect(back.names == ["z.weight", "a.bias", "scalar", "empty"])
        #expect(back.metadata == file.metadata)
        for name in file.names {
            #expect(back[name] == file[name], "\(name)")
            #expect(back.storedDTypes[name] == .f32)
        }
    }

    @Test func headerIsPaddedWithSpacesToAMultipleOfEight() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        for nameLength in 1...9 {
            var file = SafeTensorsFile()
            file[String(repeating: "w", count: nameLength)] = Tensor([1, 2, 3])
            let path = scratch.file("p\(nameLength).safetensors")
            try file.write(to: path)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
            let n = Int(bytes[0..<8].enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
            #expect(n % 8 == 0)
            #expect(bytes.count == 8 + n + 12)
            let header = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
            #expect(header.hasPrefix("{"))
            #expect(header.trimmingCharacters(in: .init(charactersIn: " ")).hasSuffix("}"))
            #expect(Array(bytes[(8 + n)...]) == float32Bytes([1, 2, 3]))
        }
    }

    @Test func readsTheFileLayoutPyTorchWrites() throws {
        // data sorted by name, not in layout order; no __metadata__ at all
        let file = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("pytorch_mlp.safetensors"))
        #expect(file.names == ["1.bias", "1.weight", "3.bias", "3.weight"])
        #expect(file["1.weight"]?.shape == [16, 12])
        #expect(file["3.bias"]?.shape == [3])
        #expect(file.metadata.isEmpty)
    }

    @Test func convertsF64F16AndBF16ToFloat32() throws {
        let file = try SafeTensorsFile(contentsOf: CheckpointFixtures.path("dtypes.safetensors"))
        #expect(file.storedDTypes["f64"] == .f64)
        #expect(file.storedDTypes["f16"] == .f16)
        #expect(file.storedDTypes["bf16"] == .bf16)
        let bits = { (name: String) in file[name]!.values.map(\.bitPattern) }
        #expect(bits("f64") == bits("f32"))           // F64 made from F32 values: exact
        #expect(bits("f16") == bits("f16_as_f32"))    // torch's own widening, incl. subnormal, ±0, ±inf
        #expect(bits("bf16") == bits("bf16_as_f32"))
        #expect(file["f16"]!.values.contains { $0 != 0 && abs($0) < 6.1e-5 }, "fixture covers an F16 subnormal")
    }

    @Test func doublesSurviveAWriteExactlyAndPyTorchSeesF64() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let values = [1.0 / 3.0, -2.5e-300, .pi, 1 + 0x1p-52, .infinity, 0]
        var file = SafeTensorsFile()
        file["before"] = Tensor([1, 2])
        file.setDoubles(values, shape: [2, 3], name: "sums")
        file["after"] = Tensor([3])
        #expect(file["sums"]?.values == values.map { Float($0) }, "the Float view rounds")
        let path = scratch.file("d.safetensors")
        try file.write(to: path)

        let back = try SafeTensorsFile(contentsOf: path)
        #expect(back.names == ["before", "sums", "after"])
        #expect(back.storedDTypes["sums"] == .f64 && back.storedDTypes["after"] == .f32)
        #expect(back.doubles("sums")?.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(back["sums"]?.shape == [2, 3] && back["after"]?.values == [3])
        #expect(back.doubles("after") == nil)
        let header = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        #expect(header.contains(#""sums":{"data_offsets":[8,56],"dtype":"F64","shape":[2,3]}"#), "PyTorch's F64 entry")

        // Setting a Float tensor under the name drops the double values.
        var replaced = back
        replaced["sums"] = Tensor([0])
        #expect(replaced.doubles("sums") == nil && replaced.storedDTypes["sums"] == .f32)
    }

    @Test func halfPrecisionSpecialValues() {
        #expect(SafeTensorsFile.floatFromHalf(0x3c00) == 1)
        #expect(SafeTensorsFile.floatFromHalf(0xc000) == -2)
        #expect(SafeTensorsFile.floatFromHalf(0x7bff) == 65504)
        #expect(SafeTensorsFile.floatFromHalf(0x0001) == 0x1p-24)
        #expect(SafeTensorsFile.floatFromHalf(0x8000).bitPattern == (-0.0 as Float).bitPattern)
        #expect(SafeTensorsFile.floatFromHalf(0xfc00) == -.infinity)
        #expect(SafeTensorsFile.floatFromHalf(0x7e00).isNaN)
    }

    @Test func readingAThreeMegabyteFileIsFast() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        var rng = RandomGenerator(seed: 1)
        var file = SafeTensorsFile()
        file["big"] = Tensor.randomUniform(shape: [768, 1024], rng: &rng)   // 3 MiB
        let path = scratch.file("big.safetensors")
        try file.write(to: path)
        let clock = ContinuousClock()
        var back: SafeTensorsFile?
        let elapsed = try clock.measure { back = try SafeTensorsFile(contentsOf: path) }
        #expect(back?["big"] == file["big"])
        // memcpy from a mapped file takes about a millisecond; a per-element path in a debug build takes far longer
        #expect(elapsed < .milliseconds(100), "reading 3 MiB took \(elapsed)")
    }
}

@Suite("safetensors: corrupt files give typed errors naming file and tensor")
struct SafeTensorsCorruptFileTests {
    /// Writes `bytes`, reads them back and returns the error (nil if reading succeeded).
    func readError(_ bytes: [UInt8], _ scratch: CheckpointScratchDirectory) throws -> (CheckpointError?, String) {
        let path = scratch.file("bad.safetensors")
        try writeBytes(bytes, to: path)
        let error = #expect(throws: CheckpointError.self) { try SafeTensorsFile(contentsOf: path) }
        if let error { #expect(error.description.contains(path), "message names the file: \(error)") }
        return (error, path)
    }

    @Test func fileShorterThanEightBytes() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        for bytes in [[], [1, 0, 0]] as [[UInt8]] {
            let (error, path) = try readError(bytes, scratch)
            #expect(error == .fileTooShort(path: path, size: bytes.count))
        }
    }

    @Test func headerLengthLargerThanFile() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let bytes = rawSafeTensors(header: "{}", headerLength: 1 << 40)
        let (error, path) = try readError(bytes, scratch)
        #expect(error == .headerLengthExceedsFile(path: path, headerLength: 1 << 40, fileSize: bytes.count))
        // a PyTorch zip checkpoint: "PK\u{3}\u{4}" read as a length
        let (zipError, _) = try readError(Array("PK\u{3}\u{4}\u{14}\0\0\0 archive body".utf8), scratch)
        guard case .headerLengthExceedsFile? = zipError else { Issue.record("got \(String(describing: zipError))"); return }
        #expect(zipError!.description.contains("safetensors.torch.save_file"))
    }

    @Test func headerNotJSON() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let (error, _) = try readError(rawSafeTensors(header: "not json at all\u{1}", data: [0, 0, 0, 0]), scratch)
        guard case .headerNotJSON? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error!.description.contains("not json at all?"))
    }

    @Test func headerNotAnObject() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let (error, path) = try readError(rawSafeTensors(header: "[1, 2]"), scratch)
        #expect(error == .headerNotObject(path: path, found: "an array"))
    }

    @Test func unknownDType() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let header = #"{"steps":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}"#
        let (error, path) = try readError(rawSafeTensors(header: header, data: .init(repeating: 0, count: 8)), scratch)
        #expect(error == .unsupportedDType(path: path, tensor: "steps", dtype: "U64"))
        #expect(error?.description.contains("'steps'") == true)
    }

    @Test func convertsIntegerTensorsSuchAsPyTorchLabels() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        func littleEndian<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
            values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
        }
        // As torch.save_file({"labels": torch.tensor([0, 9, -3, 16777216]), ...}) lays them out.
        let data = littleEndian([Int64(0), 9, -3, 16_777_216]) + littleEndian([Int32(-7), 70_000]) + littleEndian([Int16(-300)])
            + littleEndian([Int8(-128)]) + [255, 1]
        let header = """
            {"labels":{"dtype":"I64","shape":[4],"data_offsets":[0,32]},"i32":{"dtype":"I32","shape":[2],"data_offsets":[32,40]},\
            "i16":{"dtype":"I16","shape":[1],"data_offsets":[40,42]},"i8":{"dtype":"I8","shape":[1],"data_offsets":[42,43]},\
            "u8":{"dtype":"U8","shape":[1],"data_offsets":[43,44]},"mask":{"dtype":"BOOL","shape":[1],"data_offsets":[44,45]}}
            """
        let path = scratch.file("ints.safetensors")
        try Data(rawSafeTensors(header: header, data: data)).write(to: URL(fileURLWithPath: path))
        let file = try SafeTensorsFile(contentsOf: path)
        #expect(file["labels"]?.values == [0, 9, -3, 16_777_216] && file.storedDTypes["labels"] == .i64)
        #expect(file["i32"]?.values == [-7, 70_000] && file["i16"]?.values == [-300] && file["i8"]?.values == [-128])
        #expect(file["u8"]?.values == [255] && file["mask"]?.values == [1])
    }

    @Test func shapeTimesDTypeSizeDiffersFromOffsetSpan() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let header = #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#
        let (error, path) = try readError(rawSafeTensors(header: header, data: float32Bytes([1, 2, 3])), scratch)
        #expect(error == .sizeMismatch(path: path, tensor: "w", dtype: "F32", shape: [3], expectedBytes: 12, spanBytes: 8))
    }

    @Test func reversedOffsets() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#
        let (error, path) = try readError(rawSafeTensors(header: header, data: float32Bytes([1, 2])), scratch)
        #expect(error == .invalidOffsets(path: path, tensor: "w", begin: 8, end: 0))
    }

    @Test func offsetsBeyondTheData() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let header = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}}"#
        let (error, path) = try readError(rawSafeTensors(header: header, data: float32Bytes([1, 2])), scratch)
        #expect(error == .dataOutOfRange(path: path, tensor: "w", begin: 100, end: 108, dataSize: 8))
    }

    @Test func truncatedData() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        var file = SafeTensorsFile()
        file["first"] = Tensor([1, 2, 3, 4])
        file["last"] = Tensor([5, 6, 7, 8])
        let good = scratch.file("good.safetensors")
        try file.write(to: good)
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
        let (error, path) = try readError(Array(bytes.dropLast(5)), scratch)
        #expect(error == .dataOutOfRange(path: path, tensor: "last", begin: 16, end: 32, dataSize: 27))
        #expect(error?.description.contains("truncated") == true)
    }

    @Test func overlappingTensors() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let header = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
        let (error, path) = try readError(rawSafeTensors(header: header, data: float32Bytes([1, 2, 3])), scratch)
        #expect(error == .overlappingTensors(path: path, first: "a", second: "b"))
    }

    @Test func malformedEntryAndMetadata() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let noShape = #"{"w":{"dtype":"F32","data_offsets":[0,4]}}"#
        let (error, _) = try readError(rawSafeTensors(header: noShape, data: float32Bytes([1])), scratch)
        guard case let .malformedEntry(_, tensor, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(tensor == "w")
        let negative = #"{"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#
        let (negativeError, _) = try readError(rawSafeTensors(header: negative, data: float32Bytes([1])), scratch)
        guard case .malformedEntry? = negativeError else { Issue.record("got \(String(describing: negativeError))"); return }
        let badMetadata = #"{"__metadata__":{"epoch":3}}"#
        let (metadataError, _) = try readError(rawSafeTensors(header: badMetadata), scratch)
        guard case .malformedMetadata? = metadataError else { Issue.record("got \(String(describing: metadataError))"); return }
        #expect(metadataError!.description.contains("\"epoch\""))
    }

    @Test func missingFileAndDirectory() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let missing = scratch.file("nope.safetensors")
        let error = #expect(throws: CheckpointError.self) { try SafeTensorsFile(contentsOf: missing) }
        guard case .cannotRead(missing, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        let directoryError = #expect(throws: CheckpointError.self) { try SafeTensorsFile(contentsOf: scratch.path) }
        #expect(directoryError == .cannotRead(path: scratch.path, reason: "not a regular file"))
    }
}

@Suite("safetensors: atomic writes")
struct AtomicWriteTests {
    func sample(_ value: Float) -> SafeTensorsFile {
        var file = SafeTensorsFile(metadata: ["version": "\(value)"])
        file["w"] = Tensor(shape: [2, 2], repeating: value)
        return file
    }

    @Test func leavesNoTemporaryFileAndReplacesTheDestination() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("model.safetensors")
        try sample(1).write(to: path)
        try sample(2).write(to: path)
        #expect(try scratch.listing() == ["model.safetensors"])
        #expect(try SafeTensorsFile(contentsOf: path)["w"] == Tensor(shape: [2, 2], repeating: 2))
    }

    @Test func leftoversOfAKilledWriterAreRemovedOnceStale() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("model.safetensors")
        // What a SIGKILL mid-write leaves: an hour-old temporary file; plus a fresh one (a
        // writer that may still be running) and files that only look alike.
        let names = [".model.safetensors.9f3a1c.tmp", ".model.safetensors.abc123.tmp", ".model.safetensors.notes.tmp", ".other.safetensors.9f3a1c.tmp"]
        for name in names { try Data([1, 2, 3]).write(to: URL(fileURLWithPath: scratch.file(name))) }
        let hourAgo = Date().addingTimeInterval(-3600)
        for name in [names[0], names[2], names[3]] {
            try FileManager.default.setAttributes([.modificationDate: hourAgo], ofItemAtPath: scratch.file(name))
        }
        try sample(1).write(to: path)
        #expect(try scratch.listing() == [".model.safetensors.abc123.tmp", ".model.safetensors.notes.tmp",
                                          ".other.safetensors.9f3a1c.tmp", "model.safetensors"])
    }

    @Test func interruptedWriteLeavesTheOldFileAndNoTemporaryFile() throws {
        struct Interrupted: Error {}
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("model.safetensors")
        try sample(1).write(to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        var sawTemporary = false
        #expect(throws: Interrupted.self) {
            try sample(2).write(to: path, beforeCommit: {
                // the complete new file exists beside the destination, under a hidden temporary name
                sawTemporary = (try? scratch.listing().contains { $0.hasPrefix(".model.safetensors.") && $0.hasSuffix(".tmp") }) ?? false
                throw Interrupted()
            })
        }
        #expect(sawTemporary)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try scratch.listing() == ["model.safetensors"])
    }

    @Test func nonexistentDirectoryIsATypedError() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("no/such/dir/model.safetensors")
        let error = #expect(throws: CheckpointError.self) { try sample(1).write(to: path) }
        guard case .cannotWrite(path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(error!.description.contains(scratch.file("no/such/dir")))
        #expect(try scratch.listing().isEmpty)
    }

    @Test func destinationThatIsADirectoryIsATypedErrorAndLeftAlone() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("model.safetensors")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
        try writeBytes([42], to: (path as NSString).appendingPathComponent("inside"))
        let error = #expect(throws: CheckpointError.self) { try sample(1).write(to: path) }
        guard case .cannotWrite(path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(try scratch.listing() == ["model.safetensors"])   // temporary file removed after the failed rename
        #expect(try FileManager.default.contentsOfDirectory(atPath: path) == ["inside"])
    }

    @Test(.enabled(if: geteuid() != 0, "root can write to read-only directories"))
    func readOnlyDirectoryIsATypedErrorAndLeavesTheFileUntouched() throws {
        let scratch = try CheckpointScratchDirectory()
        defer {
            chmod(scratch.path, 0o755)
            scratch.cleanup()
        }
        let path = scratch.file("model.safetensors")
        try sample(1).write(to: path)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        chmod(scratch.path, 0o555)
        let error = #expect(throws: CheckpointError.self) { try sample(2).write(to: path) }
        guard case .cannotWrite(path, _)? = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
        #expect(try scratch.listing() == ["model.safetensors"])
    }

    @Test func invalidTensorNameFailsBeforeTouchingTheDisk() throws {
        let scratch = try CheckpointScratchDirectory()
        defer { scratch.cleanup() }
        let path = scratch.file("model.safetensors")
        var file = SafeTensorsFile()
        file["__metadata__"] = Tensor([1])
        let error = #expect(throws: CheckpointError.self) { try file.write(to: path) }
        #expect(error == .invalidTensorName(path: path, name: "__metadata__"))
        #expect(try scratch.listing().isEmpty)
    }

    /// A file read mapped gives the same tensors without copying them; mutating one copies it
    /// (private pages), never the file.
    @Test func aMappedFileReadsTheSameAndIsNeverWritten() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("credence-mapped-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        var file = SafeTensorsFile(metadata: ["k": "v"])
        file["a"] = Tensor(shape: [2, 2], values: [1, 2, 3, 4])
        file.setDoubles([0.1, 0.2], shape: [2], name: "d")
        file["b"] = Tensor([5, 6, 7])
        try file.write(to: path)
        let mapped = try SafeTensorsFile(contentsOf: path, mapped: true)
        #expect(mapped.metadata == ["k": "v"] && mapped.names == ["a", "d", "b"])
        #expect(mapped["a"]!.values == [1, 2, 3, 4] && mapped["b"]!.values == [5, 6, 7] && mapped.doubles("d") == [0.1, 0.2])
        var a = mapped["a"]!
        a.withUnsafeMutableBufferPointer { $0[0] = 100 }
        #expect(a.values[0] == 100 && mapped["a"]!.values[0] == 1)
        #expect(try SafeTensorsFile(contentsOf: path)["a"]!.values == [1, 2, 3, 4])
    }
}
