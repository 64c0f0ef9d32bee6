import CredenceBench
import Foundation
import Testing

/// Run keys name results in existing databases: the registry refactor (methods described
/// once, settings recorded through `MethodOption.recordsDefault`) must not change them.
@Suite struct RunKeyStabilityTests {
    /// The keys of every run of both built-in suites, in suite order, as the Credence before
    /// the method registry computed them (printed from commit 6810e60).
    static let keysBeforeTheRegistry = [
        "06f305d9fdb94654 d2c912452f46f5ae 58c3a1d21535f329 3243103f6ec6035c 3419b005a8c5de74 f6ec6d0febdbf321",
        "9e20395b5803fd35 982ead9c69f14be2 706f799d29e35b8b 13610febbd53e145 24d8f1ff7d62f7c2 b6e8a9d3594c9db8",
        "81cc137ae9e6c243 b156027cc36b667e fb0b47031dfd26e2 caf53ed8e3aa3550 0c155a8dac32398a b52811c630f5cf5d",
        "50e4c5ad3a11de00 dcffe51f71b037c8 752dd8461d8fc27d c348704e54b31471 d6635b4020676d46 b377ac82a6383d6f",
        "306ee42c9e2c1a09 7690a22564a527de 6f755fd48df295c4 8618d754b6786f67 5f6b99a7d1039902 f7a5c6021692bd36",
        "cc43aca7963eb962 0f239bf708ce5332 d57d00e74df9f453 92b94e4af5c8b118 93d1a75dfaf3bd9a 89c7a35bf04a7adf",
        "9b37fe9a805e4639 6b706cbac3b3f51c 10e64a894cce45c7 0f7f57d37186af5b b177688ff5c39d74 d52ecf1e044918ac",
        "97ba12b2566ccf39 868a9b060a7e74da 79f33c71cbe660ac 82620eacaa70ce33 294d49cf0221cc09 415d0fe5a04b552c",
        "2e8fd63c90bab67b 4c13db70b60dd3c3 63948f77c57687b6 cbf9acef90a9d842 10edcbd45edb0d23 18ad66fa1e51600c",
        "4228ab9b8f2125c2 7d68f8ab02879375 7ad7ba4e4a2b743b 4d268749db06cf42 af6b0e2e14d3648d aecc7752085b5825",
        "828a0688468bab3a 02b7d575427a9bbe 7c0b3689eb0e8376 f1559b841ec561e9 a1d2ecbff8c198ef db8410d05eaeb896",
        "5d9ba122c453c5d3 925c7c17d2a38c4f 2d14334be5e5aaa3 ca928e9314fcfda9 33a6d45bfe670328 692157ebace27c66",
        "43be4b39c8a12b4f d205cbc982434e84",
    ].joined(separator: " ").split(separator: " ").map(String.init)

    /// Every run the suites had keeps its key and its place (runs added since — MultiSWAG, the
    /// mixture of Laplace approximations, VI, VI with Flipout, STF-BNN, SGLD, cSGHMC, GPED and BDK
    /// in `fashion-mnist`, twice each — come in between; then `fashion-mnist-resnet20`'s 8 runs — its
    /// last-layer Laplace, VI and STF-BNN added before the suite was first run to the end — and the `gold-standard` suite's 60).
    @Test func builtInSuitesKeepTheirRunKeys() throws {
        let keys = try BuiltInSuite.all.flatMap { try Suite.load($0.name).configurations.map(\.key) }
        let kept = keys.filter(Set(Self.keysBeforeTheRegistry).contains)
        #expect(kept == Self.keysBeforeTheRegistry)
        #expect(keys.count == Self.keysBeforeTheRegistry.count + 18 + 8 + 60)
    }
}
