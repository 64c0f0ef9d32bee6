// The umbrella module: `import Credence` brings in the whole public API.
@_exported import CredenceBench
@_exported import CredenceData
@_exported import CredenceInference
@_exported import CredenceMetrics
@_exported import CredenceNN
@_exported import CredenceRobustness
@_exported import CredenceTensor
