@testable import CredenceTensor
import Testing

/// Telling an MPI launch from the environment (the MPI calls themselves run in the CLI tests,
/// under mpirun).
struct MPIWorldTests {
    @Test func launchersAreRecognisedByTheirEnvironment() {
        #expect(MPIWorld.launch(environment: [:]) == nil)
        #expect(MPIWorld.launch(environment: ["PATH": "/usr/bin", "SLURM_NTASKS": "4"]) == nil, "an allocation is not a launch")
        #expect(MPIWorld.launch(environment: ["OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_SIZE": "2"])
                == .init(variable: "OMPI_COMM_WORLD_SIZE", worldSize: 4, localSize: 2))
        #expect(MPIWorld.launch(environment: ["PMIX_RANK": "3", "SLURM_NTASKS": "8", "SLURM_NTASKS_PER_NODE": "4"])
                == .init(variable: "PMIX_RANK", worldSize: 8, localSize: 4))
        #expect(MPIWorld.launch(environment: ["PMI_SIZE": "2", "MPI_LOCALNRANKS": "2"])
                == .init(variable: "PMI_SIZE", worldSize: 2, localSize: 2))
    }

    @Test func withoutALauncherNothingIsJoined() throws {
        // The test process was not started by mpirun (CI runs `swift test` directly).
        guard MPIWorld.launch() == nil else { return }
        #expect(try MPIWorld.joined() == nil)
    }
}
