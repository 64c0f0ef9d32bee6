import CredenceInference
import CredenceNN
import CredenceTensor
import Foundation

/// Probabilistic safety of a Bayesian network (after Wicker et al. 2020): a lower bound on the
/// posterior probability that a network drawn from it gives every point of the input box
/// [x − ε, x + ε] the label y.
///
/// **Gaussian mean-field posteriors** (`MeanFieldPosterior`): the weight box μ ± γσ around the
/// mean — all of it certified safe by interval bound propagation over the input box and the weight
/// box jointly — holds posterior mass Π_j (2Φ(γ) − 1) over the weights with σ_j > 0, exactly
/// (products of erf differences, summed in log space). Safety of nested boxes is monotone in γ,
/// so γ is the largest certified by bisection. This is Wicker et al.'s bound with one weight box
/// centred at the mean instead of the union of boxes grown around samples: a certified lower
/// bound that holds with probability 1, no sampling in it.
///
/// **Posteriors known by their samples** (ensembles, SG-MCMC, or any posterior drawn from):
/// the fraction of S sampled networks IBP verifies on the box, and its one-sided Clopper–Pearson
/// lower bound at level 1 − α — a statement about the sampling distribution that holds with
/// probability 1 − α when the draws are independent (for an ensemble's members, the fraction is
/// the exact mass of the uniform mixture). A different statement from the Gaussian one.
public enum ProbabilisticSafety {
    public struct Bound: Codable, Equatable, Sendable {
        /// The lower bound on P(safe).
        public var probability: Double
        /// Its natural log (probabilities below 1e-300 keep their size here).
        public var logProbability: Double
        /// Gaussian: the largest γ certified (weights within μ ± γσ); nil for sampled posteriors.
        public var gamma: Double?
        /// Sampled: the networks verified and drawn; nil for the Gaussian bound.
        public var verifiedSamples: Int?
        public var samples: Int?
    }

    /// The Gaussian bound for one input (`input`: one example, label `label`).
    public static func gaussianLowerBound(_ posterior: MeanFieldPosterior, input: Tensor, label: Int32, epsilon: Float,
                                          inputRange: ClosedRange<Float>?, maximumGamma: Double = 10,
                                          iterations: Int = 30) throws -> Bound {
        let ibp = try IntervalBoundPropagation(model: posterior.model, inputRange: inputRange)
        var sigma = Tensor(shape: [posterior.mean.count], repeating: 0)
        sigma.withUnsafeMutableBufferPointer { full in
            posterior.standardDeviations.withUnsafeBufferPointer { s in
                for block in posterior.meanField.blocks { for (k, i) in zip(block.sigmaRange, block.entry.range) { full[i] = s[k] } }
            }
        }
        let bayesian = posterior.standardDeviations.values.filter { $0 > 0 }.count
        let x = try input.reshaped([1] + posterior.model.inputShape)
        func safe(_ gamma: Double) throws -> Bool {
            try ibp.verified(x, labels: [label], epsilon: epsilon, parameters: posterior.mean,
                             parameterRadius: sigma.map { $0 * Float(gamma) })[0]
        }
        guard try safe(0) else { return Bound(probability: 0, logProbability: -.infinity, gamma: 0) }
        var (lo, hi) = (0.0, maximumGamma)
        if try safe(hi) { lo = hi } else {
            for _ in 0..<iterations {
                let mid = 0.5 * (lo + hi)
                if try safe(mid) { lo = mid } else { hi = mid }
            }
        }
        // log Π_j (2Φ(γ) − 1) = B·log(1 − erfc(γ/√2)).
        let logP = Double(bayesian) * Foundation.log1p(-Foundation.erfc(lo / 2.0.squareRoot()))
        return Bound(probability: Foundation.exp(logP), logProbability: logP, gamma: lo)
    }

    /// The sampled bound for one input: `samples` networks drawn from `posterior` (an
    /// ensemble: its members), each verified by IBP on the box.
    public static func sampledLowerBound(_ posterior: any Posterior, input: Tensor, label: Int32, epsilon: Float,
                                         inputRange: ClosedRange<Float>?, samples: Int, alpha: Double,
                                         rng: inout RandomGenerator) throws -> Bound {
        let count = posterior.sampleCount(requested: samples)
        let x = try input.reshaped([1] + posterior.model.inputShape)
        var verified = 0
        for s in 0..<count {
            let network = try posterior.sample(s, of: count, rng: &rng)
            guard !network.mode.isStochastic, network.outputScale == nil else {
                throw InferenceError.invalidOption("probabilistic safety verifies fixed networks; \(posterior.method)'s samples keep randomness or rescale their outputs")
            }
            let ibp = try IntervalBoundPropagation(model: network.model, inputRange: inputRange)
            if try ibp.verified(x, labels: [label], epsilon: epsilon, parameters: network.parameters)[0] { verified += 1 }
        }
        let exact = posterior.sampleCount(requested: count + 1) == count   // a finite mixture: every member was checked
        let bound = exact ? Double(verified) / Double(count) : clopperPearsonLowerBound(successes: verified, trials: count, alpha: alpha)
        return Bound(probability: bound, logProbability: Foundation.log(bound), gamma: nil, verifiedSamples: verified, samples: count)
    }
}
