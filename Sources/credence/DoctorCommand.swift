import ArgumentParser
import Credence
import Foundation

/// What this machine runs Credence with: the BLAS library and kernel (and why that kernel),
/// the CPU, threads, a quick GEMM rate against the kernel's peak, LAPACK, the data sets
/// found with the command that installs what is missing, and Open MPI (found? the job).
struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Report the BLAS kernel and why it runs, the CPU, threads, GEMM speed, LAPACK, the data sets found and MPI.")

    @Option(help: "Output format.") var format: OutputFormat = .text

    struct Report: Encodable {
        var blasLibrary: String
        var blasKernel: String
        var blasKernelReason: String
        var cpu: String
        var threads: Int
        var gemmGFLOPS: Double
        var peakGEMMGFLOPS: Double?
        var lapack: String
        var data: [DataAvailability]
        var mpi: MPIStatus
    }

    /// Open MPI as this process sees it: found or not, and the job it runs in.
    struct MPIStatus: Encodable {
        /// Whether an Open MPI library can be loaded (mpirun would work).
        var found: Bool
        var library: String?
        var version: String?
        /// Whether an MPI launcher started this process.
        var launched: Bool
        var worldSize: Int
        var rank: Int
        /// Why the library cannot be used, when it cannot.
        var problem: String?

        static var current: MPIStatus {
            var status = MPIStatus(found: false, launched: MPIWorld.launch() != nil, worldSize: 1, rank: 0)
            do {
                if let world = try MPIWorld.joined() {
                    status.found = true
                    (status.library, status.version) = (world.libraryPath, world.libraryVersion)
                    (status.worldSize, status.rank) = (world.size, world.rank)
                } else {
                    let library = try MPIWorld.loadLibrary()
                    status.found = true
                    (status.library, status.version) = (library.path, library.version)
                }
            } catch {
                status.problem = "\(error)"
            }
            return status
        }
    }

    func run() throws {
        let (kernel, reason) = BLASKernel.status
        var report = Report(blasLibrary: BLASKernel.libraryConfiguration, blasKernel: kernel, blasKernelReason: reason,
                            cpu: CPUFeatures.current.description, threads: Parallel.workerCount,
                            gemmGFLOPS: measureGEMM(size: 1024), peakGEMMGFLOPS: BLASKernel.peakGFLOPS(cores: Parallel.workerCount),
                            lapack: "", data: [FashionMNIST.availability(), BundledSets.availability()], mpi: .current)
        if report.mpi.rank != 0 { return }  // under mpirun, rank 0 speaks for the job
        do {
            // A 2×2 Cholesky through LAPACK: [[4, 2], [2, 3]] = L·Lᵀ with L = [[2, 0], [1, √2]].
            let factor = try DenseMatrix(rows: 2, columns: 2, values: [4, 2, 2, 3]).choleskyFactor()
            report.lapack = abs(factor[1, 1] - 2.0.squareRoot()) < 1e-12 ? "present (Cholesky checked)" : "present but wrong: check the LAPACK package"
        } catch {
            report.lapack = "unusable: \(error)"
        }
        if format == .json { return try printJSON(report) }
        func row(_ label: String, _ value: String) { print(label.padding(toLength: 14, withPad: " ", startingAt: 0) + value) }
        row("BLAS", report.blasLibrary)
        row("kernel", "\(kernel) — \(reason)")
        row("CPU", report.cpu)
        row("threads", "\(report.threads)")
        row("GEMM 1024³", String(format: "%.0f GFLOP/s", report.gemmGFLOPS)
            + (report.peakGEMMGFLOPS.map { String(format: " (the kernel's peak on these cores: %.0f)", $0) } ?? ""))
        row("LAPACK", report.lapack)
        let mpi = report.mpi
        row("MPI", mpi.found ? "\(mpi.version ?? "") (\(mpi.library ?? ""))" : "not found — \(mpi.problem ?? "") (optional: only `mpirun` needs it)")
        row("MPI job", mpi.launched ? "\(mpi.worldSize) ranks" : "not launched by mpirun (1 process)")
        for set in report.data {
            row("data", "\(set.name): " + (set.isAvailable ? "found in \(set.directory)"
                                                           : "missing \(set.missing.joined(separator: ", ")) — \(set.remedy ?? "")"))
        }
    }

}
