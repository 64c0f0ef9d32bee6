import CBLAS
import CCredenceSupport
import Foundation

/// The CPU's vector features (CPUID; a feature counts only when the OS saves its registers).
public struct CPUFeatures: Equatable, Sendable, CustomStringConvertible {
    public var vendor: String
    public var family: Int
    public var model: Int
    public var avx = false, avx2 = false, fma = false
    public var avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false, avx512bf16 = false

    public init(vendor: String, family: Int = 0, model: Int = 0) {
        self.vendor = vendor
        self.family = family
        self.model = model
    }

    /// This machine's.
    public static let current: CPUFeatures = {
        var raw = credence_cpu_features()
        let vendor = withUnsafeBytes(of: &raw.vendor) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        var f = CPUFeatures(vendor: vendor, family: Int(raw.family), model: Int(raw.model))
        f.avx = raw.avx != 0; f.avx2 = raw.avx2 != 0; f.fma = raw.fma != 0
        f.avx512f = raw.avx512f != 0; f.avx512bw = raw.avx512bw != 0; f.avx512dq = raw.avx512dq != 0
        f.avx512vl = raw.avx512vl != 0; f.avx512bf16 = raw.avx512bf16 != 0
        return f
    }()

    /// AVX-512 F, BW, DQ and VL: what OpenBLAS's SkylakeX kernels use.
    public var hasAVX512: Bool { avx512f && avx512bw && avx512dq && avx512vl }
    public var isAMD: Bool { vendor == "AuthenticAMD" || vendor == "HygonGenuine" }

    /// "GenuineIntel family 6 model 207: AVX AVX2 FMA AVX-512 (F BW DQ VL BF16)".
    public var description: String {
        var names: [String] = []
        if avx { names.append("AVX") }
        if avx2 { names.append("AVX2") }
        if fma { names.append("FMA") }
        let wide = [("F", avx512f), ("BW", avx512bw), ("DQ", avx512dq), ("VL", avx512vl), ("BF16", avx512bf16)].filter(\.1).map(\.0)
        if !wide.isEmpty { names.append("AVX-512 (\(wide.joined(separator: " ")))") }
        return "\(vendor) family \(family) model \(model): " + (names.isEmpty ? "no AVX" : names.joined(separator: " "))
    }
}

/// Which OpenBLAS kernel should run, and why (`BLASKernel.decide`).
public enum BLASKernelChoice: Equatable, Sendable {
    /// OpenBLAS's own choice suits the CPU.
    case openBLAS
    /// The user set `OPENBLAS_CORETYPE`: always respected (some machines set it on purpose).
    case setByUser(String)
    /// `CREDENCE_BLAS_KERNEL=keep`.
    case keptByRequest
    /// OpenBLAS chose a kernel older than the CPU supports: run with `to` instead.
    case upgrade(from: String, to: String)
    /// `CREDENCE_BLAS_KERNEL=NAME`.
    case requested(String)
    /// `CREDENCE_BLAS_KERNEL=NAME` for a kernel whose instructions this CPU lacks: refused
    /// (it would stop on an illegal instruction); OpenBLAS's choice runs.
    case unsupportedRequest(String)
}

/// The OpenBLAS kernel Credence runs on: picked with no configuration, checked before it is
/// trusted, and reported.
///
/// OpenBLAS picks its kernels once, when it is loaded, from the CPU it recognises — and a CPU
/// newer than the release falls back to old ones (0.3.21 runs a 2024 Xeon with AVX-512 on its
/// Prescott SSE3 kernels: SGEMM 65 GFLOP/s instead of 314; OpenBLAS issue #4267).
/// `OPENBLAS_CORETYPE` overrides the pick, but only before the library loads. Credence
/// therefore **re-executes the process** with the variable set (`useBestKernel`) rather than
/// loading OpenBLAS at run time: the executable is linked against it three times over
/// (libopenblas, and Debian's libblas.so.3 and liblapack.so.3, which are OpenBLAS too), all
/// loaded and initialised before `main`; a copy opened later would leave LAPACK on the old
/// kernels, and keep two thread pools. Re-executing sets the kernel for every copy at once.
public enum BLASKernel {
    /// OpenBLAS's own override, read when it loads; a value already set is never changed.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Credence's: `auto` (default), `keep` (OpenBLAS's choice), or a kernel name.
    public static let overrideVariable = "CREDENCE_BLAS_KERNEL"
    /// Set in the re-executed process to the kernel OpenBLAS chose first (guards against loops).
    static let upgradedFromVariable = "CREDENCE_BLAS_UPGRADED_FROM"

    /// The kernel OpenBLAS runs ("Prescott", "Haswell", "SkylakeX", "Zen", …).
    public static var loadedKernel: String { String(cString: openblas_get_corename()) }
    /// OpenBLAS's build description (version, DYNAMIC_ARCH, threading, maximum threads).
    public static var libraryConfiguration: String { String(cString: openblas_get_config()) }

    /// 3: AVX-512, 2: AVX2 + FMA, 1: AVX, 0: older (or a name this table does not know).
    static func level(ofKernel name: String) -> Int {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return 3
        case "haswell", "zen": return 2
        case "sandybridge", "bulldozer", "piledriver", "steamroller", "excavator": return 1
        default: return 0
        }
    }

    /// The most capable kernel for `cpu` (nil: none better than the SSE ones).
    static func bestKernel(for cpu: CPUFeatures) -> String? {
        if cpu.hasAVX512 { return "SkylakeX" }
        if cpu.avx2 && cpu.fma { return cpu.isAMD ? "Zen" : "Haswell" }
        if cpu.avx { return "Sandybridge" }
        return nil
    }

    /// The decision, a pure function of the kernel OpenBLAS loaded, the CPU and the environment.
    public static func decide(loadedKernel: String, cpu: CPUFeatures, environment: [String: String]) -> BLASKernelChoice {
        if let set = environment[coreTypeVariable], !set.isEmpty { return .setByUser(set) }
        switch environment[overrideVariable]?.lowercased() ?? "auto" {
        case "keep": return .keptByRequest
        case "auto", "": break
        default:
            let name = environment[overrideVariable]!
            return level(ofKernel: name) <= level(ofKernel: bestKernel(for: cpu) ?? "") ? .requested(name) : .unsupportedRequest(name)
        }
        guard let best = bestKernel(for: cpu), level(ofKernel: loadedKernel) < level(ofKernel: best) else { return .openBLAS }
        return .upgrade(from: loadedKernel, to: best)
    }

    /// What runs and why, for `credence doctor` and `perf`.
    public static var status: (kernel: String, reason: String) {
        let environment = ProcessInfo.processInfo.environment
        if let from = environment[upgradedFromVariable] {
            if let name = environment[overrideVariable], !["auto", "keep", ""].contains(name.lowercased()) {
                return (loadedKernel, "requested by \(overrideVariable)=\(name); OpenBLAS chose \(from)")
            }
            return (loadedKernel, "upgraded by Credence: OpenBLAS chose \(from), the CPU supports more")
        }
        switch decide(loadedKernel: loadedKernel, cpu: .current, environment: environment) {
        case .openBLAS: return (loadedKernel, "chosen by OpenBLAS")
        case let .setByUser(value): return (loadedKernel, "set by the user (\(coreTypeVariable)=\(value))")
        case .keptByRequest: return (loadedKernel, "OpenBLAS's choice, kept by \(overrideVariable)=keep")
        case let .requested(name): return (loadedKernel, "chosen by OpenBLAS; \(overrideVariable)=\(name) takes effect when a command starts")
        case let .unsupportedRequest(name):
            return (loadedKernel, "chosen by OpenBLAS; \(overrideVariable)=\(name) refused: this CPU lacks its instructions")
        case let .upgrade(_, to): return (loadedKernel, "chosen by OpenBLAS, older than the CPU supports: a command started now runs \(to)")
        }
    }

    /// Single-precision FLOPs per cycle and core of the loaded kernel's instructions (two
    /// FMA units: 64 for AVX-512, 32 for AVX2, 16 for AVX, 8 for SSE), times the cores and the
    /// fastest clock /proc/cpuinfo reports: what a GEMM could reach. Nil when the clock is unknown.
    public static func peakGFLOPS(cores: Int) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        let megahertz = text.split(separator: "\n").filter { $0.hasPrefix("cpu MHz") }
            .compactMap { $0.split(separator: ":").last.flatMap { Double($0.trimmingCharacters(in: .whitespaces)) } }.max()
        guard let megahertz, megahertz > 0 else { return nil }
        let perCycle = [8.0, 16, 32, 64][level(ofKernel: loadedKernel)]
        return Double(cores) * megahertz / 1000 * perCycle
    }

    /// For a program's `main` (the `credence` CLI calls it first): when OpenBLAS runs a kernel
    /// older than the CPU supports (or `CREDENCE_BLAS_KERNEL` names one), re-executes the
    /// process with `OPENBLAS_CORETYPE` set. In the re-executed process it checks GEMM on
    /// awkward shapes against a naive product; on a mismatch it says so once on stderr and
    /// re-executes with OpenBLAS's own choice. Returns normally when nothing is to change (or
    /// re-executing is impossible: then the old kernel runs and stderr says so).
    public static func useBestKernel(arguments: [String] = CommandLine.arguments) {
        let environment = ProcessInfo.processInfo.environment
        if let from = environment[upgradedFromVariable] {
            let failures = gemmSelfCheck()
            guard !failures.isEmpty else { return }
            note("OpenBLAS's \(loadedKernel) kernel failed Credence's GEMM check on this CPU (\(failures[0])); keeping OpenBLAS's own choice, \(from)")
            unsetenv(coreTypeVariable)
            unsetenv(upgradedFromVariable)
            setenv(overrideVariable, "keep", 1)
            reexecute(arguments)
            return
        }
        let target: String
        switch decide(loadedKernel: loadedKernel, cpu: .current, environment: environment) {
        case let .upgrade(_, to): target = to
        case let .requested(name): target = name
        case let .unsupportedRequest(name):
            note("\(overrideVariable)=\(name) names a kernel whose instructions this CPU lacks; running OpenBLAS's choice, \(loadedKernel)")
            return
        case .openBLAS, .setByUser, .keptByRequest: return
        }
        setenv(coreTypeVariable, target, 1)
        setenv(upgradedFromVariable, loadedKernel, 1)
        reexecute(arguments)
    }

    private static func reexecute(_ arguments: [String]) {
        var argv = arguments.map { strdup($0) } + [nil]
        _ = credence_reexec_self(&argv)
        // Only reached when exec failed: continue on the kernel already loaded.
        note("could not restart with the \(ProcessInfo.processInfo.environment[coreTypeVariable] ?? "chosen") BLAS kernel (\(String(cString: strerror(errno)))); continuing on \(loadedKernel)")
        unsetenv(coreTypeVariable)
        unsetenv(upgradedFromVariable)
        for p in argv { free(p) }
    }

    /// For library entry points that do numerical work (training, fitting, benchmarks): one
    /// line on stderr, once per process, when OpenBLAS runs a kernel older than the CPU
    /// supports — a library cannot re-execute its host program, so it says how to fix it.
    public static func warnIfSlowerKernel() {
        _ = warnedOnce
    }

    private static let warnedOnce: Void = {
        if case let .upgrade(from, to) = decide(loadedKernel: loadedKernel, cpu: .current,
                                                 environment: ProcessInfo.processInfo.environment) {
            note("OpenBLAS runs its \(from) kernel on a CPU that supports \(to)'s, several times slower; call BLASKernel.useBestKernel() first thing in main, or start the program with \(coreTypeVariable)=\(to)")
        }
    }()

    private static func note(_ message: String) {
        FileHandle.standardError.write(Data("credence: \(message)\n".utf8))
    }

    /// A single-precision GEMM as `cblas_sgemm` computes it (column-major arguments aside:
    /// row-major, C = α·op(A)·op(B) + β·C).
    public typealias SGEMM = (_ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                              _ a: [Float], _ lda: Int, _ b: [Float], _ ldb: Int, _ beta: Float,
                              _ c: inout [Float], _ ldc: Int) -> Void

    /// The library's `cblas_sgemm`, row-major.
    public static let librarySGEMM: SGEMM = { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
        cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, &c, Int32(ldc))
    }

    /// Checks `gemm` on awkward shapes (1×1×1, odd sizes, a long thin k, sizes just past
    /// kernel blocks), every transpose and α/β variants against a product in `Double`;
    /// returns a description of each mismatch (empty: all agree). A few milliseconds.
    public static func gemmSelfCheck(_ gemm: SGEMM = librarySGEMM) -> [String] {
        let shapes = [(1, 1, 1), (3, 5, 7), (17, 33, 65), (64, 1, 300), (1, 129, 64), (255, 17, 31), (100, 100, 1), (48, 97, 129)]
        var rng = RandomGenerator(seed: 0x6E44)
        var failures: [String] = []
        for (m, n, k) in shapes {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                for (alpha, beta): (Float, Float) in [(1, 0), (-0.5, 0.75)] {
                    let a = (0..<(m * k)).map { _ in rng.normalFloat() }, b = (0..<(k * n)).map { _ in rng.normalFloat() }
                    var c = (0..<(m * n)).map { _ in rng.normalFloat() }
                    let c0 = c
                    let lda = ta ? m : k, ldb = tb ? k : n
                    gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, &c, n)
                    var worst = 0.0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum = 0.0, magnitude = 0.0
                            for p in 0..<k {
                                let x = Double(ta ? a[p * lda + i] : a[i * lda + p]), y = Double(tb ? b[j * ldb + p] : b[p * ldb + j])
                                sum += x * y
                                magnitude += abs(x * y)
                            }
                            let expected = Double(alpha) * sum + Double(beta) * Double(c0[i * n + j])
                            let scale = abs(Double(alpha)) * magnitude + abs(Double(beta) * Double(c0[i * n + j])) + 1e-6
                            worst = Swift.max(worst, abs(Double(c[i * n + j]) - expected) / scale)
                        }
                    }
                    if !(worst <= 1e-5) {
                        failures.append("\(m)×\(n)×\(k)\(ta ? " Aᵀ" : "")\(tb ? " Bᵀ" : "") α=\(alpha) β=\(beta): relative error \(worst)")
                    }
                }
            }
        }
        return failures
    }
}
