/// The tag of each of Credence's point-to-point MPI protocols. One case per protocol, so no
/// two protocols can receive each other's messages — a duplicate raw value does not compile.
public enum MPITag: Int32, CaseIterable, Sendable {
    /// The distributed bench's coordinator and workers (`BenchMessage`).
    case benchMessages = 7100
    /// `MPIWorld.barrier(polling:)`.
    case barrier = 7199
    /// Randomized smoothing's certificates dealt out over ranks.
    case certificates = 7300
    /// An attack's batches and gradient-masking checks dealt out over ranks.
    case attackJobs = 7400
    /// HMC/NUTS chains run over ranks.
    case hamiltonianChains = 7450
    /// Shifted test sets' figures dealt out over ranks.
    case shiftFigures = 7500
}
