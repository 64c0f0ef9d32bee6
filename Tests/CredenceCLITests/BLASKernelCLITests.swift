import Credence
import Foundation
import Testing

/// `credence doctor` says which BLAS kernel runs and why, with and without the overrides.
/// Each override is set for the one command it tests; the test process's own
/// `OPENBLAS_CORETYPE` is never changed.
@Suite struct BLASKernelCLITests {
    func doctor(_ environment: [String: String] = [:], removing: [String] = []) throws -> [String: Any] {
        let output = try CLI.run(["doctor", "--format", "json"], environment: environment, removing: removing)
        #expect(output.status == 0, "\(output.stderr)")
        return try CLI.json(output)
    }

    @Test func doctorReportsTheKernelTheCPUAndTheData() throws {
        let report = try doctor()
        #expect((report["blasLibrary"] as? String)?.contains("OpenBLAS") == true)
        #expect((report["blasKernel"] as? String)?.isEmpty == false && (report["blasKernelReason"] as? String)?.isEmpty == false)
        #expect((report["lapack"] as? String)?.hasPrefix("present") == true)
        #expect(((report["gemmGFLOPS"] as? Double) ?? 0) > 0)
        #expect((report["data"] as? [[String: Any]])?.map { $0["name"] as? String }.contains("fashion-mnist") == true)
        let text = try CLI.run(["doctor"])
        #expect(text.status == 0 && text.stdout.contains("kernel") && text.stdout.contains("CPU"))
    }

    @Test func theOverridesAreHonouredAndAUserSetCoreTypeWins() throws {
        let kept = try doctor(["CREDENCE_BLAS_KERNEL": "keep"], removing: ["OPENBLAS_CORETYPE"])
        #expect((kept["blasKernelReason"] as? String)?.contains("kept by CREDENCE_BLAS_KERNEL=keep") == true, "\(kept)")
        guard CPUFeatures.current.avx2 && CPUFeatures.current.fma else { return }
        // A requested kernel this CPU supports: the command re-executes on it, after its GEMM check.
        let requested = try doctor(["CREDENCE_BLAS_KERNEL": "Haswell"], removing: ["OPENBLAS_CORETYPE"])
        #expect(requested["blasKernel"] as? String == "Haswell", "\(requested)")
        #expect((requested["blasKernelReason"] as? String)?.contains("requested by CREDENCE_BLAS_KERNEL=Haswell") == true)
        // OPENBLAS_CORETYPE set by the user is respected over Credence's own override.
        let user = try doctor(["OPENBLAS_CORETYPE": "Sandybridge", "CREDENCE_BLAS_KERNEL": "Haswell"])
        #expect(user["blasKernel"] as? String == "Sandybridge", "\(user)")
        #expect((user["blasKernelReason"] as? String)?.contains("set by the user") == true)
    }
}
