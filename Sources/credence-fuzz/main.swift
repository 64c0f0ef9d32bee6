// credence-fuzz: the fuzz targets of `FuzzTarget`.
//
//   credence-fuzz TARGET [libFuzzer options] [CORPUS_DIR ...]   built by scripts/fuzz.sh (libFuzzer linked in)
//   credence-fuzz TARGET FILE_OR_DIR ...                         any build: runs the target on each file once
//                                                                (reproduces a crash libFuzzer saved)
//   credence-fuzz --list
//
// libFuzzer is linked only into the fuzzing build (`libclang_rt.fuzzer_no_main`, with
// ASan and coverage instrumentation); its driver is found at run time, so the ordinary
// build has no dependency on it.
import CredenceFuzzing
import Foundation

typealias TestOneInput = @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
typealias RunDriver = @convention(c) (UnsafeMutablePointer<Int32>, UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                                      TestOneInput) -> Int32

nonisolated(unsafe) var selected = FuzzTarget.safetensors

let arguments = CommandLine.arguments
guard arguments.count >= 2, arguments[1] != "--help" else {
    print("usage: credence-fuzz TARGET [libFuzzer options | FILE ...]   (targets: \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")))")
    exit(arguments.count >= 2 ? 0 : 2)
}
if arguments[1] == "--list" {
    FuzzTarget.allCases.forEach { print($0.rawValue) }
    exit(0)
}
guard let target = FuzzTarget(rawValue: arguments[1]) else {
    FileHandle.standardError.write(Data("credence-fuzz: unknown target '\(arguments[1])'; one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))\n".utf8))
    exit(2)
}
selected = target

if let symbol = dlsym(dlopen(nil, RTLD_NOW), "LLVMFuzzerRunDriver") {   // the program itself
    // libFuzzer sees the program name and the options after the target.
    var argc = Int32(arguments.count - 1)
    var argv: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
    let driver = unsafeBitCast(symbol, to: RunDriver.self)
    let status = argv.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var base = buffer.baseAddress
        return driver(&argc, &base) { data, size in
            selected.run(size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size)))
            return 0
        }
    }
    exit(status)
}

// Without libFuzzer: run the target once on each file given (directories: every file in them).
var files: [String] = []
for path in arguments.dropFirst(2) {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        FileHandle.standardError.write(Data("credence-fuzz: no file or directory '\(path)'\n".utf8))
        exit(2)
    }
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += names.sorted().map { (path as NSString).appendingPathComponent($0) }
    } else {
        files.append(path)
    }
}
for file in files {
    guard let data = FileManager.default.contents(atPath: file) else { continue }
    target.run([UInt8](data))
}
print("\(target.rawValue): \(files.count) input(s) run, no finding (this build has no libFuzzer: scripts/fuzz.sh builds one that has)")
