import ArgumentParser
import Credence

@main
struct CredenceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "credence",
        abstract: "Trustworthy deep learning: train, evaluate and benchmark models with calibrated uncertainty.",
        subcommands: [TrainCommand.self, FitCommand.self, EvaluateCommand.self, PerfCommand.self, ReportCommand.self,
                      BenchCommand.self, ScoreCommand.self, AttackCommand.self, CertifyCommand.self, CompressCommand.self, LayerOptimaCommand.self,
                      DiagnoseCommand.self, AgreementCommand.self, DataCommand.self, DoctorCommand.self])

    /// Runs on the best BLAS kernel for this CPU (re-executing once when OpenBLAS chose an
    /// older one), then parses the command line; a command that joined an MPI job leaves it
    /// after succeeding.
    static func main() {
        BLASKernel.useBestKernel()
        do {
            var command = try parseAsRoot()
            if let launch = MPIWorld.launch(), launch.worldSize ?? 2 > 1, !(command is DistributedCommand) {
                throw ValidationError("`credence \(type(of: command).configuration.commandName ?? "")` does not run under mpirun: each of the \(launch.worldSize.map(String.init) ?? "") ranks would run it whole. Run it as one process; under mpirun run bench, train, evaluate, attack, certify or doctor")
            }
            try command.run()
        } catch {
            exit(withError: error)
        }
        MPIWorld.finalizeIfJoined()
    }
}

/// A command that shares its work out over the ranks when `mpirun` starts it; the others
/// are refused under `mpirun` rather than run once per rank.
protocol DistributedCommand {}
extension BenchCommand: DistributedCommand {}
extension TrainCommand: DistributedCommand {}
extension CertifyCommand: DistributedCommand {}
extension AttackCommand: DistributedCommand {}
extension EvaluateCommand: DistributedCommand {}
extension DoctorCommand: DistributedCommand {}

/// The MPI job of several ranks this command was launched into (nil: one process, also under
/// `mpirun -np 1`), a library that cannot be loaded reported as one clear line.
func sharedWorld() throws -> MPIWorld? {
    try reportingErrors { try MPIWorld.joined() }.flatMap { $0.size > 1 ? $0 : nil }
}

/// How results are printed: a table for people, or one JSON object on stdout for scripts.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

extension DatasetName: ExpressibleByArgument {}
extension ModelKind: ExpressibleByArgument {}
extension Augmentation: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}

/// Runs `body`, printing a Credence error as one clear line on stderr with exit code 1
/// instead of a stack trace.
func reportingErrors<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as any CustomStringConvertible & Error {
        Terminal.error("error: \(error.description)")
        throw ExitCode.failure
    }
}
