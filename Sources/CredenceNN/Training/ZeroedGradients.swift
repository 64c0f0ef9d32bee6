import CredenceTensor
import Foundation

/// Gradient-sized buffers holding zeros, kept between training steps: the optimizer clears
/// each shard's gradient as it reads it (`Optimizer.update(_:gradientParts:clearingThem:)`),
/// and the next step's tapes write into those buffers (`Tape.writeGradient(of:intoZeroed:)`),
/// so OpenBLAS adds each weight gradient into zeros instead of clearing its window first — a
/// pass over every weight-gradient product's output less per step.
///
/// A reference type shared by a trainer's copies, so it is locked: buffers are handed out once
/// (`take`) and come back only when their holder vouches that they are all zeros (`keep`).
public final class ZeroedGradients: @unchecked Sendable {
    private let lock = NSLock()
    private var buffers: [Tensor] = []
    /// More than a step's shards of several weight samples are never needed at once.
    static let limit = 16

    public init() {}

    /// Up to `wanted` zeroed buffers of `count` elements (fewer when fewer are kept; ones of
    /// another size are dropped).
    public func take(_ wanted: Int, count: Int) -> [Tensor] {
        lock.lock()
        defer { lock.unlock() }
        buffers.removeAll { $0.count != count }
        let taken = Array(buffers.suffix(wanted))
        buffers.removeLast(taken.count)
        return taken
    }

    /// Keeps `parts` for later steps. Each must hold only zeros and nothing else may read or
    /// write it any more (the next step's tape writes into its storage in place).
    public func keep(_ parts: [Tensor]) {
        lock.lock()
        defer { lock.unlock() }
        for part in parts where part.rank == 1 && buffers.count < Self.limit {
            // The same storage twice would be written by two shards at once.
            let start = Self.start(of: part)
            guard !buffers.contains(where: { Self.start(of: $0) == start }) else { continue }
            buffers.append(part)
        }
    }

    private static func start(of tensor: Tensor) -> UnsafePointer<Float>? { tensor.withUnsafeBufferPointer { $0.baseAddress } }
}
