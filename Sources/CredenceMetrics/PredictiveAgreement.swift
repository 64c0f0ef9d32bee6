import Foundation

/// How closely an approximate posterior's predictive follows a reference one (HMC's, the gold
/// standard of Izmailov et al. 2021) on the same inputs: the fraction of inputs where the two
/// predict the same class (top-1 agreement) and the mean total variation distance between
/// their predictive distributions, ½ Σ_c |p̄_c − q̄_c| per input.
public struct PredictiveAgreement: Codable, Sendable, Equatable {
    public var topOneAgreement: Double
    public var meanTotalVariation: Double
    public var examples: Int

    /// - Throws: `MetricsError` unless both are classification predictives over the same
    ///   examples and classes.
    public init(_ predictive: Predictive, reference: Predictive) throws {
        guard predictive.task == .classification, reference.task == .classification else {
            throw MetricsError.wrongTask(metric: "agreement", expected: "classification", found: "regression")
        }
        guard predictive.exampleCount == reference.exampleCount, predictive.outputCount == reference.outputCount else {
            throw MetricsError.invalidShape(name: "the predictive compared with the reference", shape: [predictive.exampleCount, predictive.outputCount],
                                            expected: "the reference's \(reference.exampleCount) inputs × \(reference.outputCount) classes")
        }
        try self.init(meanProbabilities: predictive.meanProbabilities, reference: reference.meanProbabilities, classes: reference.outputCount)
    }

    /// From two predictives' mean class probabilities, [N, C] row-major each (as a run record
    /// keeps them for a small test set).
    ///
    /// - Throws: `MetricsError` unless both hold the same whole number of rows of `classes`.
    public init(meanProbabilities p: [Double], reference q: [Double], classes c: Int) throws {
        guard c >= 1, !q.isEmpty, q.count % c == 0, p.count == q.count else {
            throw MetricsError.invalidShape(name: "the probabilities compared with the reference", shape: [p.count],
                                            expected: "the reference's \(q.count) values, rows of \(c) classes")
        }
        let n = q.count / c
        var agree = 0, totalVariation = 0.0
        for i in 0..<n {
            let row = (i * c)..<((i + 1) * c)
            if row.max(by: { p[$0] < p[$1] }) == row.max(by: { q[$0] < q[$1] }) { agree += 1 }
            totalVariation += row.reduce(0) { $0 + abs(p[$1] - q[$1]) } / 2
        }
        topOneAgreement = Double(agree) / Double(n)
        meanTotalVariation = totalVariation / Double(n)
        examples = n
    }
}
