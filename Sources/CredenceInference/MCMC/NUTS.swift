import CredenceTensor
import Foundation

/// What one Hamiltonian transition did.
struct TransitionReport {
    /// The acceptance statistic dual averaging adapts to: the Metropolis probability (HMC) or
    /// its mean over the trajectory's points (NUTS).
    var acceptance: Double
    var leapfrogSteps: Int
    var treeDepth: Int
    var divergent: Bool
}

/// H(z) − H₀ above which a trajectory is divergent (Stan's 1000): the integrator has left
/// the level set, typically in a region of high curvature the step size cannot resolve.
let divergenceThreshold = 1000.0

extension Hamiltonian {
    /// Static HMC (Duane et al. 1987; Neal 2011): fresh momentum, `steps` leapfrog steps of a
    /// size drawn uniformly from ε·[0.8, 1.2] (Neal's remedy for trajectories whose length
    /// resonates with the target's period and barely move), then a Metropolis correction
    /// min(1, exp(H₀ − H₁)).
    func staticTransition(from start: PhasePoint, stepSize nominal: Double, steps: Int,
                          rng: inout RandomGenerator) throws -> (PhasePoint, TransitionReport) {
        var z = start
        z.momentum = drawMomentum(&rng)
        let stepSize = nominal * (0.8 + 0.4 * rng.uniformDouble())
        let h0 = energy(z)
        var h = h0, divergent = false
        for _ in 0..<steps {
            try leapfrog(&z, stepSize: stepSize)
            h = energy(z)
            if h - h0 > divergenceThreshold { divergent = true; break }
        }
        let acceptance = divergent ? 0 : Swift.min(1, exp(h0 - h))
        let accepted = rng.uniformDouble() < acceptance
        return (accepted ? z : start, TransitionReport(acceptance: acceptance, leapfrogSteps: steps, treeDepth: 0, divergent: divergent))
    }

    /// One transition of the No-U-Turn Sampler (Hoffman & Gelman 2014) in the form Stan runs:
    /// the trajectory doubles in a random direction until its ends make a U-turn (the
    /// generalised criterion on the summed momentum ρ, Betancourt 2017, checked on every
    /// subtree and across the seams of merged subtrees) or reaches `maxTreeDepth` doublings;
    /// the next state is drawn from the trajectory with weights exp(−H) — multinomially within
    /// subtrees and biased towards the new subtree at the top level.
    func nutsTransition(from start: PhasePoint, stepSize: Double, maxTreeDepth: Int,
                        rng: inout RandomGenerator) throws -> (PhasePoint, TransitionReport) {
        var z = start
        z.momentum = drawMomentum(&rng)
        let v0 = velocity(z.momentum)
        let h0 = energy(z, velocity: v0)
        var forwardEnd = z, backwardEnd = z
        var sample = z
        // Momenta and velocities at both ends of the backward and forward halves.
        var pFwdFwd = z.momentum, pFwdBck = z.momentum, pBckFwd = z.momentum, pBckBck = z.momentum
        var vFwdFwd = v0, vFwdBck = v0, vBckFwd = v0, vBckBck = v0
        var rho = z.momentum
        var logSumWeight = 0.0
        var statistics = TreeStatistics(h0: h0)
        var depth = 0
        while depth < maxTreeDepth {
            var rhoForward = [Double](repeating: 0, count: rho.count), rhoBackward = rhoForward
            var subtreeLogWeight = -Double.infinity
            var proposal = z
            let valid: Bool
            if rng.uniformDouble() > 0.5 {
                rhoBackward = rho
                pBckFwd = pFwdFwd
                vBckFwd = vFwdFwd
                var end = forwardEnd
                valid = try buildTree(depth: depth, from: &end, proposal: &proposal, direction: 1, stepSize: stepSize,
                                      vBegin: &vFwdBck, vEnd: &vFwdFwd, rho: &rhoForward, pBegin: &pFwdBck, pEnd: &pFwdFwd,
                                      logSumWeight: &subtreeLogWeight, statistics: &statistics, rng: &rng)
                forwardEnd = end
            } else {
                rhoForward = rho
                pFwdBck = pBckBck
                vFwdBck = vBckBck
                var end = backwardEnd
                valid = try buildTree(depth: depth, from: &end, proposal: &proposal, direction: -1, stepSize: stepSize,
                                      vBegin: &vBckFwd, vEnd: &vBckBck, rho: &rhoBackward, pBegin: &pBckFwd, pEnd: &pBckBck,
                                      logSumWeight: &subtreeLogWeight, statistics: &statistics, rng: &rng)
                backwardEnd = end
            }
            guard valid else { break }
            depth += 1
            // Biased progressive sampling: move to the new subtree with probability min(1, w_new/w_old).
            if subtreeLogWeight > logSumWeight || rng.uniformDouble() < exp(subtreeLogWeight - logSumWeight) { sample = proposal }
            logSumWeight = logSumExp(logSumWeight, subtreeLogWeight)
            rho = zip(rhoBackward, rhoForward).map(+)
            var persist = noUTurn(vBckBck, vFwdFwd, rho)
            persist = persist && noUTurn(vBckBck, vFwdBck, zip(rhoBackward, pFwdBck).map(+))
            persist = persist && noUTurn(vBckFwd, vFwdFwd, zip(rhoForward, pBckFwd).map(+))
            guard persist else { break }
        }
        let acceptance = statistics.leapfrogSteps > 0 ? statistics.acceptanceSum / Double(statistics.leapfrogSteps) : 0
        return (sample, TransitionReport(acceptance: acceptance, leapfrogSteps: statistics.leapfrogSteps, treeDepth: depth,
                                         divergent: statistics.divergent))
    }

    /// The generalised no-U-turn criterion: both ends still move along ρ.
    func noUTurn(_ vMinus: [Double], _ vPlus: [Double], _ rho: [Double]) -> Bool {
        var a = 0.0, b = 0.0
        for i in rho.indices {
            a += vPlus[i] * rho[i]
            b += vMinus[i] * rho[i]
        }
        return a > 0 && b > 0
    }

    struct TreeStatistics {
        let h0: Double
        var leapfrogSteps = 0
        var acceptanceSum = 0.0
        var divergent = false
    }

    /// Builds a subtree of 2^depth leapfrog steps from `z` in `direction`, leaving `z` at its
    /// far end; `proposal` is a point drawn from it in proportion to exp(−H), `logSumWeight`
    /// the log of its total weight (relative to exp(−H₀)), `rho` its summed momentum, and the
    /// momenta and velocities at its first (`Begin`) and last (`End`) points. False when the
    /// subtree diverged or turned back on itself (the trajectory stops there).
    func buildTree(depth: Int, from z: inout PhasePoint, proposal: inout PhasePoint, direction: Double, stepSize: Double,
                   vBegin: inout [Double], vEnd: inout [Double], rho: inout [Double], pBegin: inout [Double], pEnd: inout [Double],
                   logSumWeight: inout Double, statistics: inout TreeStatistics, rng: inout RandomGenerator) throws -> Bool {
        if depth == 0 {
            try leapfrog(&z, stepSize: direction * stepSize)
            statistics.leapfrogSteps += 1
            let v = velocity(z.momentum)
            let h = energy(z, velocity: v)
            if h - statistics.h0 > divergenceThreshold { statistics.divergent = true }
            logSumWeight = logSumExp(logSumWeight, statistics.h0 - h)
            statistics.acceptanceSum += statistics.h0 - h > 0 ? 1 : exp(statistics.h0 - h)
            proposal = z
            vBegin = v
            vEnd = vBegin
            for i in rho.indices { rho[i] += z.momentum[i] }
            pBegin = z.momentum
            pEnd = pBegin
            return !statistics.divergent
        }
        // The first half.
        var initialLogWeight = -Double.infinity
        var pInitialEnd = [Double](repeating: 0, count: rho.count), vInitialEnd = pInitialEnd, rhoInitial = pInitialEnd
        guard try buildTree(depth: depth - 1, from: &z, proposal: &proposal, direction: direction, stepSize: stepSize,
                            vBegin: &vBegin, vEnd: &vInitialEnd, rho: &rhoInitial, pBegin: &pBegin, pEnd: &pInitialEnd,
                            logSumWeight: &initialLogWeight, statistics: &statistics, rng: &rng) else { return false }
        // The second half.
        var finalProposal = z
        var finalLogWeight = -Double.infinity
        var pFinalBegin = [Double](repeating: 0, count: rho.count), vFinalBegin = pFinalBegin, rhoFinal = pFinalBegin
        guard try buildTree(depth: depth - 1, from: &z, proposal: &finalProposal, direction: direction, stepSize: stepSize,
                            vBegin: &vFinalBegin, vEnd: &vEnd, rho: &rhoFinal, pBegin: &pFinalBegin, pEnd: &pEnd,
                            logSumWeight: &finalLogWeight, statistics: &statistics, rng: &rng) else { return false }
        // Multinomial sampling between the halves.
        let subtreeLogWeight = logSumExp(initialLogWeight, finalLogWeight)
        logSumWeight = logSumExp(logSumWeight, subtreeLogWeight)
        if finalLogWeight > subtreeLogWeight || rng.uniformDouble() < exp(finalLogWeight - subtreeLogWeight) {
            proposal = finalProposal
        }
        let rhoSubtree = zip(rhoInitial, rhoFinal).map(+)
        for i in rho.indices { rho[i] += rhoSubtree[i] }
        var persist = noUTurn(vBegin, vEnd, rhoSubtree)
        persist = persist && noUTurn(vBegin, vFinalBegin, zip(rhoInitial, pFinalBegin).map(+))
        persist = persist && noUTurn(vInitialEnd, vEnd, zip(rhoFinal, pInitialEnd).map(+))
        return persist
    }
}
