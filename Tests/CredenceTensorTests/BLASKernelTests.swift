@testable import CredenceTensor
import Testing

/// The kernel decision as a pure function, and the GEMM self-check. (No test changes
/// `OPENBLAS_CORETYPE` for the process running the tests.)
@Suite struct BLASKernelTests {
    static func cpu(_ vendor: String = "GenuineIntel", avx512: Bool = false, avx2: Bool = false, avx: Bool = false) -> CPUFeatures {
        var f = CPUFeatures(vendor: vendor, family: 6, model: 207)
        f.avx = avx || avx2 || avx512
        f.avx2 = avx2 || avx512
        f.fma = avx2 || avx512
        (f.avx512f, f.avx512bw, f.avx512dq, f.avx512vl) = (avx512, avx512, avx512, avx512)
        return f
    }

    @Test(arguments: [
        // The measured case: a Xeon with AVX-512 on which OpenBLAS 0.3.21 loads Prescott.
        ("Prescott", cpu(avx512: true), [:], BLASKernelChoice.upgrade(from: "Prescott", to: "SkylakeX")),
        ("Haswell", cpu(avx512: true), [:], .upgrade(from: "Haswell", to: "SkylakeX")),
        ("SkylakeX", cpu(avx512: true), [:], .openBLAS),
        ("Cooperlake", cpu(avx512: true), [:], .openBLAS),
        // AVX2 only: Haswell on Intel, Zen on AMD; an AVX2 kernel already loaded stays.
        ("Prescott", cpu(avx2: true), [:], .upgrade(from: "Prescott", to: "Haswell")),
        ("Prescott", cpu("AuthenticAMD", avx2: true), [:], .upgrade(from: "Prescott", to: "Zen")),
        ("Zen", cpu("AuthenticAMD", avx2: true), [:], .openBLAS),
        ("Haswell", cpu(avx2: true), [:], .openBLAS),
        ("Core2", cpu(avx: true), [:], .upgrade(from: "Core2", to: "Sandybridge")),
        ("Prescott", cpu(), [:], .openBLAS),
        // A variable the user set is always respected, whatever else says.
        ("Prescott", cpu(avx512: true), ["OPENBLAS_CORETYPE": "Haswell"], .setByUser("Haswell")),
        ("Prescott", cpu(avx512: true), ["OPENBLAS_CORETYPE": "Haswell", "CREDENCE_BLAS_KERNEL": "SkylakeX"], .setByUser("Haswell")),
        // Credence's override.
        ("Prescott", cpu(avx512: true), ["CREDENCE_BLAS_KERNEL": "keep"], .keptByRequest),
        ("Prescott", cpu(avx512: true), ["CREDENCE_BLAS_KERNEL": "auto"], .upgrade(from: "Prescott", to: "SkylakeX")),
        ("Zen", cpu("AuthenticAMD", avx2: true), ["CREDENCE_BLAS_KERNEL": "Haswell"], .requested("Haswell")),
        ("Zen", cpu("AuthenticAMD", avx2: true), ["CREDENCE_BLAS_KERNEL": "SkylakeX"], .unsupportedRequest("SkylakeX")),
    ] as [(String, CPUFeatures, [String: String], BLASKernelChoice)])
    func decision(_ loaded: String, _ cpu: CPUFeatures, _ environment: [String: String], _ expected: BLASKernelChoice) {
        #expect(BLASKernel.decide(loadedKernel: loaded, cpu: cpu, environment: environment) == expected)
    }

    @Test func theLibrarysGEMMPassesTheSelfCheck() {
        #expect(BLASKernel.gemmSelfCheck().isEmpty)
        #expect(!BLASKernel.loadedKernel.isEmpty && BLASKernel.libraryConfiguration.contains("OpenBLAS"))
    }

    /// A GEMM that is wrong in one corner case — it drops the last term of the k sum when
    /// B is transposed — is caught, and named.
    @Test func aWrongGEMMIsCaught() {
        let wrong: BLASKernel.SGEMM = { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            for i in 0..<m {
                for j in 0..<n {
                    var sum: Float = 0
                    for p in 0..<(tb && k > 1 ? k - 1 : k) {
                        sum += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j])
                    }
                    c[i * ldc + j] = alpha * sum + beta * c[i * ldc + j]
                }
            }
        }
        let failures = BLASKernel.gemmSelfCheck(wrong)
        #expect(!failures.isEmpty && failures.allSatisfy { $0.contains("Bᵀ") }, "\(failures.prefix(3))")
        #expect(!failures.contains { $0.hasPrefix("1×1×1") }, "k = 1 has no last term to drop")
    }
}
