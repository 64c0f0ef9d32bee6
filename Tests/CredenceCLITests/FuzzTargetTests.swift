import CredenceFuzzing
import Foundation
import Testing

/// Every fuzz target on its committed seeds (`Fuzz/corpus/TARGET/`) and on seeded mutations of
/// them — bit flips, interesting bytes, truncations, duplicated and inserted runs: no crash and
/// no broken property (a finding traps; the input in progress is in
/// `$TMPDIR/credence-fuzz-TARGET.last`, for `credence-fuzz TARGET FILE` to replay). The
/// coverage-guided runs are `scripts/fuzz.sh`'s; this is their quick stand-in in the test suite.
@Suite struct FuzzTargetTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    /// `count` mutations of `bytes`, from `rng`.
    static func mutations(of bytes: [UInt8], count: Int, rng: inout SeededGenerator) -> [[UInt8]] {
        (0..<count).map { _ in
            var b = bytes
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let kind = rng.next() % 6
                if b.isEmpty { b = [UInt8(truncatingIfNeeded: rng.next())]; continue }
                let i = Int(rng.next() % UInt64(b.count))
                switch kind {
                case 0: b[i] ^= UInt8(1) << (rng.next() % 8)
                case 1: b[i] = [0x00, 0xFF, 0x7F, 0x80, 0x2D, 0x22, 0x7B, 0x5D][Int(rng.next() % 8)]
                case 2: b = Array(b.prefix(i))
                case 3: let n = min(b.count - i, 1 + Int(rng.next() % 16)); b.insert(contentsOf: b[i..<(i + n)], at: i)
                case 4: b.insert(contentsOf: (0..<(1 + rng.next() % 8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
                default: b.removeSubrange(i..<min(b.count, i + 1 + Int(rng.next() % 16)))
                }
            }
            return b
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func seedsAndMutationsNeitherCrashNorBreakAProperty(_ target: FuzzTarget) throws {
        let dir = Self.corpus.appendingPathComponent(target.rawValue)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(!names.isEmpty, "no seeds in \(dir.path)")
        let last = FileManager.default.temporaryDirectory.appendingPathComponent("credence-fuzz-\(target.rawValue).last")
        var rng = SeededGenerator(seed: UInt64(target.rawValue.utf8.reduce(0) { $0 &* 31 &+ UInt64($1) }))
        for name in names {
            let seed = [UInt8](try Data(contentsOf: dir.appendingPathComponent(name)))
            let accepted = target.run(seed)
            #expect(accepted == !name.hasPrefix("bad-"), "\(target.rawValue) seed \(name): accepted \(accepted)")
            for mutant in Self.mutations(of: seed, count: max(50, 1000 / names.count), rng: &rng) {
                try Data(mutant).write(to: last)
                target.run(mutant)
            }
        }
    }
}
