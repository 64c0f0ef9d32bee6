// swift-tools-version:6.0
import PackageDescription

// Library modules compile in the Swift 5 language mode: the numeric kernels hand
// unsafe buffers to worker threads on purpose, and strict-concurrency checking of
// those hand-offs would add annotations without catching real bugs here.
let swift5: [SwiftSetting] = [.swiftLanguageMode(.v5)]

let package = Package(
    name: "Credence",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "Credence", targets: ["Credence"]),
        .executable(name: "credence", targets: ["credence"]),
        .executable(name: "credence-fuzz", targets: ["credence-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLAPACKE", path: "Sources/CLAPACKE",
                       providers: [.apt(["liblapacke-dev"])]),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite",
                       providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CCredenceSupport", path: "Sources/CCredenceSupport"),
        // Open MPI through dlopen: nothing links against MPI (MPIWorld.swift says why).
        .target(name: "CMPI", path: "Sources/CMPI", linkerSettings: [.linkedLibrary("dl")]),
        .target(name: "CredenceTensor",
                dependencies: ["CBLAS", "CLAPACKE", "CCredenceSupport", "CMPI"],
                swiftSettings: swift5),
        .target(name: "CredenceData", dependencies: ["CredenceTensor", "CZlib"],
                swiftSettings: swift5),
        .target(name: "CredenceNN", dependencies: ["CredenceTensor"],
                swiftSettings: swift5),
        .target(name: "CredenceMetrics", dependencies: ["CredenceTensor"],
                swiftSettings: swift5),
        .target(name: "CredenceInference",
                dependencies: ["CredenceTensor", "CredenceNN", "CredenceData", "CredenceMetrics"],
                swiftSettings: swift5),
        .target(name: "CredenceRobustness",
                dependencies: ["CredenceTensor", "CredenceNN", "CredenceData", "CredenceMetrics", "CredenceInference"],
                swiftSettings: swift5),
        .target(name: "CredenceBench",
                dependencies: ["CredenceTensor", "CredenceNN", "CredenceData", "CredenceMetrics", "CredenceInference",
                               "CredenceRobustness", "CSQLite",
                               "CCredenceSupport"],
                swiftSettings: swift5),
        .target(name: "Credence",
                dependencies: ["CredenceTensor", "CredenceNN", "CredenceData", "CredenceMetrics", "CredenceInference",
                               "CredenceRobustness", "CredenceBench"],
                swiftSettings: swift5),
        // The fuzz targets of every reader of untrusted input, and their driver (scripts/fuzz.sh).
        .target(name: "CredenceFuzzing",
                dependencies: ["CredenceTensor", "CredenceNN", "CredenceData", "CredenceInference", "CredenceBench"],
                swiftSettings: swift5),
        .executableTarget(name: "credence-fuzz", dependencies: ["CredenceFuzzing"], swiftSettings: swift5),
        .executableTarget(name: "credence",
                          dependencies: ["Credence",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          swiftSettings: swift5),
        .testTarget(name: "CredenceTensorTests", dependencies: ["CredenceTensor"],
                    swiftSettings: swift5),
        .testTarget(name: "CredenceNNTests", dependencies: ["CredenceNN", "CredenceTensor"],
                    resources: [.copy("Fixtures")], swiftSettings: swift5),
        .testTarget(name: "CredenceDataTests", dependencies: ["CredenceData"],
                    swiftSettings: swift5),
        .testTarget(name: "CredenceMetricsTests", dependencies: ["CredenceMetrics"],
                    swiftSettings: swift5),
        .testTarget(name: "CredenceInferenceTests", dependencies: ["CredenceInference"],
                    resources: [.copy("Fixtures")], swiftSettings: swift5),
        .testTarget(name: "CredenceRobustnessTests", dependencies: ["CredenceRobustness"],
                    swiftSettings: swift5),
        .testTarget(name: "CredenceBenchTests", dependencies: ["CredenceBench"],
                    resources: [.copy("Fixtures")], swiftSettings: swift5),
        .testTarget(name: "CredenceCLITests", dependencies: ["Credence", "CredenceFuzzing"],
                    swiftSettings: swift5),
    ]
)
