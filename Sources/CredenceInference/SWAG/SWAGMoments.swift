import CredenceNN
import CredenceTensor

/// Which covariance SWAG fits to the collected SGD iterates (Maddox et al., 2019).
public enum SWAGCovariance: String, Codable, CaseIterable, Sendable {
    /// SWAG-Diagonal: Σ = Σ_diag = diag(θ²‾ − θ̄²).
    case diagonal
    /// SWAG: Σ = ½ Σ_diag + D Dᵀ / (2(K − 1)), D the last K deviations θᵢ − θ̄ᵢ.
    case lowRankPlusDiagonal = "low-rank-plus-diagonal"
}

/// The running moments SWAG collects from SGD iterates θ₁, θ₂, …, θₙ (Maddox et al. 2019,
/// Algorithm 1): the mean θ̄ = (1/n) Σᵢ θᵢ and the second moment θ²‾ = (1/n) Σᵢ θᵢ², both
/// in `Double` (their difference θ²‾ − θ̄² is a small variance left after cancellation,
/// and a `Float` running average drifts over thousands of collections), and the last
/// `rank` deviations Dᵢ = θᵢ − θ̄ᵢ with θ̄ᵢ the mean *including* θᵢ (as the reference
/// implementation computes them), kept in a ring buffer of `Float` rows.
///
/// ```swift
/// var moments = SWAGMoments(parameterCount: 3, rank: 2)
/// moments.collect(Tensor([1, 2, 3]))
/// moments.collect(Tensor([3, 2, 1]))   // mean [2, 2, 2], variance [1, 0, 1]
/// ```
public struct SWAGMoments {
    /// Number of iterates collected so far.
    public private(set) var count = 0
    /// θ̄, one entry per parameter.
    public private(set) var mean: [Double]
    /// θ²‾, one entry per parameter (empty when only the mean is tracked, for SWA).
    public private(set) var secondMoment: [Double]
    /// Maximum number of deviation rows kept (0: none).
    public let rank: Int
    /// Rows `[rank, P]`, row-major; row `nextRow` is overwritten next.
    var ring: [Float]
    var nextRow = 0
    var storedRows = 0

    /// - Parameters:
    ///   - rank: how many of the latest deviations to keep (0 for SWA or SWAG-Diagonal).
    ///   - tracksSecondMoment: false for SWA (mean only).
    public init(parameterCount: Int, rank: Int, tracksSecondMoment: Bool = true) {
        precondition(parameterCount >= 0 && rank >= 0, "SWAGMoments needs parameterCount ≥ 0 and rank ≥ 0")
        mean = [Double](repeating: 0, count: parameterCount)
        secondMoment = tracksSecondMoment ? [Double](repeating: 0, count: parameterCount) : []
        self.rank = rank
        ring = [Float](repeating: 0, count: rank * parameterCount)
    }

    public var parameterCount: Int { mean.count }

    /// Adds one iterate: θ̄ ← θ̄ + (θ − θ̄)/(n+1), θ²‾ ← θ²‾ + (θ² − θ²‾)/(n+1), then stores
    /// θ − θ̄ (new mean) as the latest deviation, dropping the oldest beyond `rank`.
    public mutating func collect(_ theta: Tensor) {
        precondition(theta.count == parameterCount, "collected \(theta.count) parameters into moments of \(parameterCount)")
        let weight = 1 / Double(count + 1)
        let p = parameterCount, row = nextRow * p, keepRow = rank > 0, second = !secondMoment.isEmpty
        theta.withUnsafeBufferPointer { t in
            mean.withUnsafeMutableBufferPointer { m in
                secondMoment.withUnsafeMutableBufferPointer { s in
                    ring.withUnsafeMutableBufferPointer { d in
                        for i in 0..<p {
                            let x = Double(t[i])
                            let newMean = m[i] + (x - m[i]) * weight
                            m[i] = newMean
                            if second { s[i] += (x * x - s[i]) * weight }
                            if keepRow { d[row + i] = Float(x - newMean) }
                        }
                    }
                }
            }
        }
        count += 1
        if rank > 0 {
            nextRow = (nextRow + 1) % rank
            storedRows = Swift.min(storedRows + 1, rank)
        }
    }

    /// θ̄ as a `Float` tensor `[P]`.
    public var meanTensor: Tensor { Tensor(shape: [parameterCount], values: mean.map { Float($0) }) }

    /// Σ_diag = max(θ²‾ − θ̄², 1e-30) (the reference's clamp), computed in `Double`, as `[P]`.
    public var variance: Tensor {
        precondition(!secondMoment.isEmpty, "these moments track the mean only (SWA)")
        var out = Tensor(uninitializedShape: [parameterCount])
        out.withUnsafeMutableBufferPointer { v in
            for i in 0..<parameterCount { v[i] = Float(Swift.max(secondMoment[i] - mean[i] * mean[i], 1e-30)) }
        }
        return out
    }

    /// The stored deviations, oldest first, as `[min(count, rank), P]`.
    public var deviations: Tensor {
        let p = parameterCount
        var out = Tensor(uninitializedShape: [storedRows, p])
        let first = storedRows < rank ? 0 : nextRow  // oldest row once the buffer has wrapped
        out.withUnsafeMutableBufferPointer { o in
            ring.withUnsafeBufferPointer { d in
                for r in 0..<storedRows {
                    let src = ((first + r) % rank) * p
                    (o.baseAddress! + r * p).update(from: d.baseAddress! + src, count: p)
                }
            }
        }
        return out
    }
}

extension SWAGMoments {
    /// Adds the moments to a phase checkpoint: θ̄ and θ²‾ as F64 (exact), the deviation ring
    /// as it is laid out in memory, and its counters.
    func save(into file: inout SafeTensorsFile) {
        file.metadata["swag.collections"] = String(count)
        file.metadata["swag.next_row"] = String(nextRow)
        file.metadata["swag.stored_rows"] = String(storedRows)
        file.setDoubles(mean, shape: [parameterCount], name: "swag.mean")
        if !secondMoment.isEmpty { file.setDoubles(secondMoment, shape: [parameterCount], name: "swag.second_moment") }
        if rank > 0 { file["swag.deviations"] = Tensor(shape: [rank, parameterCount], values: ring) }
    }

    /// Restores what `save(into:)` wrote into moments of the same size and rank.
    mutating func restore(from file: SafeTensorsFile, path: String) throws {
        let collections = try file.requiredInteger("swag.collections", path: path)
        let next = try file.requiredInteger("swag.next_row", path: path)
        let stored = try file.requiredInteger("swag.stored_rows", path: path)
        guard collections >= 0, stored >= 0, stored <= rank, next >= 0, next < Swift.max(rank, 1) else {
            throw ResumeError.inconsistentState(path: path, reason: "its SWAG counters (\(collections) collections, row \(next), \(stored) rows) do not fit rank \(rank)")
        }
        mean = try file.requiredDoubles("swag.mean", count: parameterCount, path: path)
        if !secondMoment.isEmpty {
            secondMoment = try file.requiredDoubles("swag.second_moment", count: parameterCount, path: path)
        }
        if rank > 0 { ring = try file.required("swag.deviations", shape: [rank, parameterCount], path: path).values }
        count = collections
        nextRow = next
        storedRows = stored
    }
}
