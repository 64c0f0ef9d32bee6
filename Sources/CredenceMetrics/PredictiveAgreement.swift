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
        let n = reference.exampleCount, c = reference.outputCount
        var agree = 0, totalVariation = 0.0
        for i in 0..<n {
            let p = predictive.meanProbabilities[(i * c)..<((i + 1) * c)], q = reference.meanProbabilities[(i * c)..<((i + 1) * c)]
            if p.indices.max(by: { p[$0] < p[$1] }) == q.indices.max(by: { q[$0] < q[$1] }) { agree += 1 }
            totalVariation += zip(p, q).reduce(0) { $0 + abs($1.0 - $1.1) } / 2
        }
        topOneAgreement = Double(agree) / Double(n)
        meanTotalVariation = totalVariation / Double(n)
        examples = n
    }
}
