import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

/// Each optimizer is checked against the update rule written out by hand (PyTorch's
/// conventions) for a few steps on fixed gradients.
@Suite struct OptimizerTests {
    let theta0: [Float] = [1, -2, 0.5]
    let grads: [[Float]] = [[0.1, -0.3, 2], [0.2, 0.1, -1], [-0.5, 0.4, 0.3]]

    func run(_ opt: inout Optimizer) -> [Float] {
        var theta = Tensor(theta0)
        for g in grads { opt.update(&theta, gradient: Tensor(g)) }
        return theta.values
    }

    func close(_ a: [Float], _ b: [Double], _ tol: Double = 1e-5) -> Bool {
        zip(a, b).allSatisfy { abs(Double($0) - $1) <= tol * max(1, abs($1)) }
    }

    @Test func sgdWithMomentumWeightDecayAndNesterov() {
        for nesterov in [false, true] {
            var opt = Optimizer.sgd(learningRate: .constant(0.1), momentum: 0.9, nesterov: nesterov,
                                    weightDecay: 0.01, parameterCount: 3)
            var w = theta0.map(Double.init), buf = [Double](repeating: 0, count: 3)
            for (t, g) in grads.enumerated() {
                for i in 0..<3 {
                    let d = Double(g[i]) + 0.01 * w[i]
                    buf[i] = t == 0 ? d : 0.9 * buf[i] + d
                    w[i] -= 0.1 * (nesterov ? d + 0.9 * buf[i] : buf[i])
                }
            }
            #expect(close(run(&opt), w), "nesterov \(nesterov)")
        }
    }

    @Test func adamAndAdamW() {
        for decoupled in [false, true] {
            let lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1
            var opt = decoupled ? Optimizer.adamW(learningRate: .constant(Float(lr)), weightDecay: Float(wd), parameterCount: 3)
                                : Optimizer.adam(learningRate: .constant(Float(lr)), weightDecay: Float(wd), parameterCount: 3)
            var w = theta0.map(Double.init), m = [Double](repeating: 0, count: 3), v = m
            for (k, g) in grads.enumerated() {
                let t = Double(k + 1)
                for i in 0..<3 {
                    let gi = Double(g[i]) + (decoupled ? 0 : wd * w[i])
                    m[i] = b1 * m[i] + (1 - b1) * gi
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    let mhat = m[i] / (1 - pow(b1, t)), vhat = v[i] / (1 - pow(b2, t))
                    w[i] -= lr * (mhat / (vhat.squareRoot() + eps) + (decoupled ? wd * w[i] : 0))
                }
            }
            #expect(close(run(&opt), w, 1e-4), "decoupled \(decoupled)")
        }
    }

    @Test func clippingBoundsTheGlobalNorm() {
        var opt = Optimizer.sgd(learningRate: .constant(1), clipNorm: 1, parameterCount: 2)
        var theta = Tensor([0, 0])
        opt.update(&theta, gradient: Tensor([3, 4]))  // norm 5 → scaled to 1
        #expect(close(theta.values, [-0.6, -0.8]))
        opt.update(&theta, gradient: Tensor([0.3, 0.4]))  // norm 0.5: untouched
        #expect(close(theta.values, [-0.9, -1.2]))
    }

    @Test func parallelChunksGiveTheSameResultAsOneChunk() {
        // More parameters than one chunk, so the update runs on several threads.
        let n = Optimizer.chunk * 3 + 17
        var rng = RandomGenerator(seed: 5)
        let g = Tensor.randomNormal(shape: [n], rng: &rng)
        var theta = Tensor.randomNormal(shape: [n], rng: &rng)
        let start = theta.values
        var opt = Optimizer.adam(learningRate: .constant(0.01), parameterCount: n)
        opt.update(&theta, gradient: g)
        // Step 1 of Adam moves each weight by lr·g/(|g|+ε) ≈ lr·sign(g).
        let gv = g.values
        for i in stride(from: 0, to: n, by: 997) {
            let expected = start[i] - 0.01 * gv[i] / (abs(gv[i]) + 1e-8)
            #expect(abs(theta.values[i] - expected) < 1e-5)
        }
    }

    @Test func schedules() {
        #expect(LearningRateSchedule.constant(0.1).rate(at: 1000) == 0.1)
        let step = LearningRateSchedule.step(initial: 1, every: 10, gamma: 0.5)
        #expect(step.rate(at: 9) == 1 && step.rate(at: 10) == 0.5 && step.rate(at: 25) == 0.25)
        let cosine = LearningRateSchedule.cosine(initial: 1, totalSteps: 100, minimum: 0.1)
        #expect(abs(cosine.rate(at: 0) - 1) < 1e-6 && abs(cosine.rate(at: 50) - 0.55) < 1e-6)
        #expect(abs(cosine.rate(at: 100) - 0.1) < 1e-6 && abs(cosine.rate(at: 500) - 0.1) < 1e-6)
        let cyc = LearningRateSchedule.cyclicalCosine(initial: 1, cycleLength: 10, minimum: 0)
        #expect(cyc.rate(at: 0) == cyc.rate(at: 10) && cyc.rate(at: 3) == cyc.rate(at: 23))
        let warm = LearningRateSchedule.warmup(steps: 4, then: .constant(0.8))
        #expect([0, 1, 2, 3, 4, 9].map { warm.rate(at: $0) } == [0.2, 0.4, 0.6, 0.8, 0.8, 0.8])
    }

    /// `update(_:formingGradient:)` is the update on the gradient its closure writes: bit for bit
    /// what `update(_:gradient:)` gives, for Adam and for SGD with clipping (a transform that
    /// needs the whole gradient first), over several chunks; the closure runs once per chunk of
    /// `gradientChunks`, and reads θ as it was before the step.
    @Test func formingTheGradientInsideTheUpdateEqualsPassingIt() {
        let n = 2 * Optimizer.chunk + 123
        var rng = RandomGenerator(seed: 5)
        let theta0 = Tensor.randomNormal(shape: [n], rng: &rng), g = Tensor.randomNormal(shape: [n], rng: &rng)
        for make in [{ Optimizer.adam(learningRate: .constant(0.01), parameterCount: n) },
                     { Optimizer.sgd(learningRate: .constant(0.1), momentum: 0.9, clipNorm: 1, parameterCount: n) }] {
            var passed = make(), formed = make()
            var a = theta0, b = theta0
            let chunks = formed.gradientChunks
            #expect(chunks.count == 3 && chunks.first?.lowerBound == 0 && chunks.last?.upperBound == n)
            for _ in 0..<3 {
                passed.update(&a, gradient: g)
                let before = b.values
                var calls = [Int](repeating: 0, count: chunks.count), sawOldTheta = [Bool](repeating: true, count: chunks.count)
                calls.withUnsafeMutableBufferPointer { callCount in
                    sawOldTheta.withUnsafeMutableBufferPointer { old in
                        g.withUnsafeBufferPointer { gb in
                            formed.update(&b) { c, range, out, theta in
                                callCount[c] += 1
                                #expect(range == chunks[c])
                                for i in range {
                                    out[i] = gb[i]
                                    if theta[i] != before[i] { old[c] = false }
                                }
                                return .formed
                            }
                        }
                    }
                }
                #expect(calls == [Int](repeating: 1, count: chunks.count) && !sawOldTheta.contains(false))
            }
            #expect(a.values == b.values)
        }
    }

    /// A chunk handed over as parts plus λθ (`ChunkGradient.sum`) moves θ exactly as the same
    /// gradient written out (`.formed`): Adam (its kernel adds λθ as weight decay), Adam with
    /// weight decay of its own (the sum formed first), SGD with clipping (the whole gradient
    /// first), and λ = 0 (the parts alone), over several chunks and steps; the chunk's Σθ²
    /// before the step comes back where asked.
    @Test func aChunkGivenAsPartsPlusScaledParametersEqualsItWrittenOut() {
        let n = 2 * Optimizer.chunk + 77
        var rng = RandomGenerator(seed: 8)
        let theta0 = Tensor.randomNormal(shape: [n], rng: &rng)
        let parts = (0..<2).map { _ in Tensor.randomNormal(shape: [n], rng: &rng) }
        for lambda: Float in [0, 0.3] {
            for make in [{ Optimizer.adam(learningRate: .constant(0.01), parameterCount: n) },
                         { Optimizer.adam(learningRate: .constant(0.01), weightDecay: 0.1, parameterCount: n) },
                         { Optimizer.sgd(learningRate: .constant(0.1), momentum: 0.9, clipNorm: 1, parameterCount: n) }] {
                var written = make(), summed = make()
                var a = theta0, b = theta0
                let pointers = parts.map { $0.withUnsafeBufferPointer { $0.baseAddress! } }
                var squares = [Double](repeating: .nan, count: summed.gradientChunks.count)
                for _ in 0..<3 {
                    let before = b.values
                    written.update(&a) { _, range, out, theta in
                        for i in range { out[i] = (pointers[0][i] + pointers[1][i]) + lambda * theta[i] }
                        return .formed
                    }
                    // Every other chunk as a sum, the rest written: both kinds in one step.
                    squares.withUnsafeMutableBufferPointer { slots in
                        summed.update(&b, formingGradient: { c, range, out, theta in
                            guard c % 2 == 0 else {
                                for i in range { out[i] = (pointers[0][i] + pointers[1][i]) + lambda * theta[i] }
                                return .formed
                            }
                            return .sum(parts: pointers, plusScaledParameters: lambda, sumOfSquares: slots.baseAddress! + c)
                        })
                    }
                    for (c, range) in summed.gradientChunks.enumerated() where c % 2 == 0 {
                        let exact = range.reduce(0.0) { $0 + Double(before[$1]) * Double(before[$1]) }
                        #expect(abs(squares[c] - exact) <= 1e-5 * exact, "Σθ² of chunk \(c)")
                    }
                }
                withExtendedLifetime(parts) {}
                #expect(a.values == b.values, "λ \(lambda), \(written.transformKinds)")
            }
        }
    }

    /// Adam's chain as one AVX2 kernel (`FastMath.adamStep`) gives the chain's numbers bit for
    /// bit — θ, m and v — with and without coupled weight decay, over several steps, with one,
    /// two and three gradient parts, through
    /// both ways of handing the gradient over, on sizes with a tail of fewer than eight, and on
    /// zeros, signed zeros, subnormals, huge values, infinities and NaN.
    @Test func adamsKernelGivesTheChainsNumbersBitForBit() throws {
        guard FastMath.hasVectorKernels else { return }
        var rng = RandomGenerator(seed: 11)
        for (count, partCount, decay) in [(3 * Optimizer.chunk + 5, 2, Float(0)), (13, 1, 0), (1000, 3, 0.01), (7, 2, 0.5),
                                          (2 * Optimizer.chunk + 3, 2, 1e-4)] {
            let specials: [Float] = [0, -0.0, 1e-40, -3e-39, 1e30, -1e30, .infinity, -.infinity, .nan]
            func vector(_ scale: Float) -> Tensor {
                var t = Tensor.normalNoise(shape: [count], rng: &rng) * scale
                t.withUnsafeMutableBufferPointer { p in for (k, v) in specials.enumerated() where k * 97 < count { p[k * 97] = v } }
                return t
            }
            let schedule = LearningRateSchedule.cosine(initial: 0.01, totalSteps: 10, minimum: 0)
            var fused = Optimizer.adam(learningRate: schedule, weightDecay: decay, parameterCount: count)
            var chain = Optimizer.adam(learningRate: schedule, weightDecay: decay, parameterCount: count)
            #expect(fused.transforms.count == (decay > 0 ? 3 : 2))
            chain.vectorKernels = false
            var a = vector(1), b = a
            for step in 0..<4 {
                let parts = (0..<partCount).map { _ in vector(step == 0 ? 1 : 0.1) }
                if step % 2 == 0 {
                    fused.update(&a, gradientParts: parts)
                    chain.update(&b, gradientParts: parts)
                } else {
                    let pointers = parts.map { g in g.withUnsafeBufferPointer { $0.baseAddress! } }
                    fused.update(&a) { _, r, g, _ in FastMath.sum(pointers, range: r, into: g); return .formed }
                    chain.update(&b) { _, r, g, _ in FastMath.sum(pointers, range: r, into: g); return .formed }
                    withExtendedLifetime(parts) {}
                }
            }
            // Elements whose bits differ (NaN payloads included).
            func differing(_ x: Tensor, _ y: Tensor) -> Int { zip(x.values, y.values).filter { $0.bitPattern != $1.bitPattern }.count }
            #expect(differing(a, b) == 0, "θ, \(count) parameters, \(partCount) parts, decay \(decay)")
            for name in ["m", "v"] {
                let f = try #require(fused.exportState().tensors.first { $0.key.hasSuffix(name) }?.value)
                let c = try #require(chain.exportState().tensors.first { $0.key.hasSuffix(name) }?.value)
                #expect(differing(f, c) == 0, "\(name), \(count) parameters")
            }
        }
    }
}

extension OptimizerTests {
    /// `clearingThem` zeroes every part once its chunk is done — Adam's fused kernel and a chain
    /// with a global pass (clipping) alike — and the step is the one without it.
    @Test func clearingThePartsLeavesZerosAndTheSameStep() {
        let n = Optimizer.chunk * 2 + 9
        var rng = RandomGenerator(seed: 6)
        let start = Tensor.randomNormal(shape: [n], rng: &rng)
        let g1 = Tensor.randomNormal(shape: [n], rng: &rng), g2 = Tensor.randomNormal(shape: [n], rng: &rng)
        for make in [{ Optimizer.adam(learningRate: .constant(0.01), parameterCount: n) },
                     { Optimizer.sgd(learningRate: .constant(0.1), clipNorm: 1, parameterCount: n) }] {
            var (cleared, kept) = (make(), make())
            var (a, b) = (start, start)
            let parts = [g1.map { $0 }, g2.map { $0 }]   // copies of their own: they get cleared
            cleared.update(&a, gradientParts: parts, clearingThem: true)
            kept.update(&b, gradientParts: [g1, g2])
            #expect(a == b)
            #expect(parts.allSatisfy { $0.values.allSatisfy { $0 == 0 } })
            #expect(g1.values.contains { $0 != 0 })
        }
    }
}
