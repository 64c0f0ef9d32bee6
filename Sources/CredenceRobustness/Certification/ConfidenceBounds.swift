import Foundation

/// I_x(a, b), the regularized incomplete beta function, by its continued fraction (modified
/// Lentz), on whichever side of the mean converges fast. a, b > 0; x in [0, 1].
func regularizedIncompleteBeta(_ x: Double, a: Double, b: Double) -> Double {
    if x <= 0 { return 0 }
    if x >= 1 { return 1 }
    if x > (a + 1) / (a + b + 2) { return 1 - regularizedIncompleteBeta(1 - x, a: b, b: a) }
    let logFront = lgamma(a + b) - lgamma(a) - lgamma(b) + a * Foundation.log(x) + b * Foundation.log1p(-x)
    let tiny = 1e-300
    var c = 1.0, d = 1 - (a + b) * x / (a + 1)
    if Swift.abs(d) < tiny { d = tiny }
    d = 1 / d
    var fraction = d
    /// One Lentz step with the continued fraction's next numerator.
    func step(_ numerator: Double) {
        d = 1 + numerator * d
        if Swift.abs(d) < tiny { d = tiny }
        c = 1 + numerator / c
        if Swift.abs(c) < tiny { c = tiny }
        d = 1 / d
        fraction *= d * c
    }
    for m in 1...100_000 {
        let m = Double(m)
        step(m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)))
        step(-(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)))
        if Swift.abs(d * c - 1) < 1e-16 { break }
    }
    return Foundation.exp(logFront) * fraction / a
}

/// The x in [0, 1] with I_x(a, b) = p (the Beta(a, b) quantile), by bisection to double precision.
func betaQuantile(_ p: Double, a: Double, b: Double) -> Double {
    var lo = 0.0, hi = 1.0
    for _ in 0..<200 {
        let mid = 0.5 * (lo + hi)
        if regularizedIncompleteBeta(mid, a: a, b: b) < p { lo = mid } else { hi = mid }
        if hi - lo <= 1e-17 { break }
    }
    return 0.5 * (lo + hi)
}

/// The one-sided Clopper–Pearson lower confidence bound at level 1 − α on a binomial
/// proportion after `successes` of `trials`: the α quantile of Beta(k, n − k + 1), 0 for
/// k = 0 — what Cohen et al.'s CERTIFY takes (statsmodels' `proportion_confint(k, n,
/// alpha=2α, method="beta")[0]`).
public func clopperPearsonLowerBound(successes k: Int, trials n: Int, alpha: Double) -> Double {
    precondition(n >= 1 && (0...n).contains(k) && alpha > 0 && alpha < 1)
    guard k > 0 else { return 0 }
    if k == n { return Foundation.pow(alpha, 1 / Double(n)) }
    return betaQuantile(alpha, a: Double(k), b: Double(n - k + 1))
}

/// The one-sided Clopper–Pearson upper confidence bound at level 1 − α: the 1 − α quantile of
/// Beta(k + 1, n − k), 1 for k = n.
public func clopperPearsonUpperBound(successes k: Int, trials n: Int, alpha: Double) -> Double {
    1 - clopperPearsonLowerBound(successes: n - k, trials: n, alpha: alpha)
}

/// The two-sided binomial test's p-value of `successes` in `trials` against probability ½
/// (scipy's `binomtest(k, n, 0.5).pvalue`): 2·P(X ≥ max(k, n − k)), at most 1.
public func binomialTestPValue(successes k: Int, trials n: Int) -> Double {
    precondition(n >= 1 && (0...n).contains(k))
    let high = Swift.max(k, n - k)
    guard 2 * high != n else { return 1 }
    // P(X ≥ m) = I_½(m, n − m + 1) for X ~ Binomial(n, ½), m ≥ 1.
    return Swift.min(1, 2 * regularizedIncompleteBeta(0.5, a: Double(high), b: Double(n - high + 1)))
}
