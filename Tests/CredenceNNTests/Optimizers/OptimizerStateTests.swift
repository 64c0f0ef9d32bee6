import Foundation
import Testing
@testable import CredenceNN
import CredenceTensor

/// Exporting an optimizer's state after k steps and importing it into a freshly built
/// optimizer continues the run bit for bit; a state that does not fit is a typed error.
@Suite struct OptimizerStateTests {
    /// More parameters than one chunk, so updates run on several threads.
    static let n = Optimizer.chunk * 2 + 5

    /// Every optimizer chain Credence builds, with state-dependent schedules.
    static let builders: [(String, () -> Optimizer)] = [
        ("sgd", { .sgd(learningRate: .constant(0.05), parameterCount: n) }),
        ("sgd+momentum+wd+clip", { .sgd(learningRate: .warmup(steps: 4, then: .cosine(initial: 0.1, totalSteps: 10, minimum: 0.01)),
                                        momentum: 0.9, weightDecay: 1e-3, clipNorm: 5, parameterCount: n) }),
        ("nesterov", { .sgd(learningRate: .step(initial: 0.1, every: 3, gamma: 0.5), momentum: 0.8, nesterov: true, parameterCount: n) }),
        ("adam+wd", { .adam(learningRate: .cyclicalCosine(initial: 0.01, cycleLength: 5, minimum: 0), weightDecay: 0.01, parameterCount: n) }),
        ("adamw+clip", { .adamW(learningRate: .warmup(steps: 3, then: .constant(0.01)), weightDecay: 0.05, clipNorm: 1, parameterCount: n) }),
    ]

    /// A gradient that depends on θ (a quadratic bowl plus fixed noise), so any divergence in
    /// the optimizer's state shows up in the trajectory.
    static func gradient(_ theta: Tensor, step: Int) -> Tensor {
        var rng = RandomGenerator(seed: UInt64(step))
        let noise = Tensor.randomNormal(shape: [n], rng: &rng)
        return Tensor(shape: [n], values: zip(theta.values, noise.values).map { 0.5 * $0 + $1 })
    }

    static func start() -> Tensor {
        var rng = RandomGenerator(seed: 99)
        return Tensor.randomNormal(shape: [n], rng: &rng)
    }

    func bits(_ t: Tensor) -> [UInt32] { t.values.map(\.bitPattern) }

    @Test(arguments: 0..<builders.count)
    func resumedOptimizerContinuesBitForBit(index: Int) throws {
        let (name, build) = Self.builders[index]
        let k = 6, total = 11
        var uninterrupted = build(), interrupted = build()
        var a = Self.start(), b = Self.start()
        for step in 0..<k {
            uninterrupted.update(&a, gradient: Self.gradient(a, step: step))
            interrupted.update(&b, gradient: Self.gradient(b, step: step))
        }
        // What a checkpoint after k steps holds: the parameters and the optimizer state.
        let state = interrupted.exportState()
        var c = b
        #expect(state.step == k)
        var resumed = build()
        try resumed.importState(state)
        #expect(resumed.step == k)
        #expect(resumed.exportState() == state, "\(name): import then export is the identity")
        // The three runs interleaved: the imported optimizer must not share buffers with the exporter.
        for step in k..<total {
            uninterrupted.update(&a, gradient: Self.gradient(a, step: step))
            interrupted.update(&b, gradient: Self.gradient(b, step: step))
            resumed.update(&c, gradient: Self.gradient(c, step: step))
        }
        #expect(bits(c) == bits(a), "\(name): the resumed run equals the uninterrupted one")
        #expect(bits(b) == bits(a), "\(name)")
        #expect(resumed.exportState() == uninterrupted.exportState(), "\(name)")
        #expect(a != Self.start())
    }

    @Test func stateIsNamedByTransformIndex() {
        let adam = Optimizer.adam(learningRate: .constant(1e-3), clipNorm: 1, parameterCount: 4).exportState()
        #expect(adam.transforms == ["ClipByGlobalNorm", "ScaleByAdam", "ScaleByLearningRate"])
        #expect(adam.orderedNames == ["optimizer.1.m", "optimizer.1.v"])
        #expect(adam.tensors["optimizer.1.m"] == Tensor(shape: [4], repeating: 0))
        let sgd = Optimizer.sgd(learningRate: .constant(0.1), momentum: 0.9, weightDecay: 0.1, parameterCount: 4).exportState()
        #expect(sgd.orderedNames == ["optimizer.1.velocity"])
        let plain = Optimizer.sgd(learningRate: .constant(0.1), parameterCount: 4).exportState()
        #expect(plain.tensors.isEmpty && plain.step == 0 && plain.transforms == ["ScaleByLearningRate"])
        #expect(OptimizerState.parseTensorName("optimizer.12.velocity")! == (12, "velocity"))
        for bad in ["1.weight", "optimizer.x.m", "optimizer.0.", "optimizer.-1.m", "optimizer.3"] {
            #expect(OptimizerState.parseTensorName(bad) == nil, "\(bad)")
        }
    }

    @Test func stateThatDoesNotFitIsATypedErrorAndChangesNothing() throws {
        var source = Optimizer.adam(learningRate: .constant(0.01), parameterCount: 3)
        var theta = Tensor([1, 2, 3])
        source.update(&theta, gradient: Tensor([0.1, 0.2, 0.3]))
        let state = source.exportState()

        var sgd = Optimizer.sgd(learningRate: .constant(0.01), momentum: 0.9, parameterCount: 3)
        let kind = #expect(throws: OptimizerStateError.self) { try sgd.importState(state) }
        #expect(kind == .transformMismatch(expected: ["Momentum", "ScaleByLearningRate"], found: ["ScaleByAdam", "ScaleByLearningRate"]))
        #expect(kind?.description.contains("[ScaleByAdam, ScaleByLearningRate]") == true)

        var bigger = Optimizer.adam(learningRate: .constant(0.01), parameterCount: 4)
        let shape = #expect(throws: OptimizerStateError.self) { try bigger.importState(state) }
        #expect(shape == .stateShape(name: "optimizer.0.m", expected: [4], found: [3]))
        #expect(bigger.step == 0 && bigger.exportState().tensors["optimizer.0.m"] == Tensor(shape: [4], repeating: 0),
                "a failed import leaves the optimizer as it was")

        var target = Optimizer.adam(learningRate: .constant(0.01), parameterCount: 3)
        var missing = state
        missing.tensors["optimizer.0.v"] = nil
        #expect(throws: OptimizerStateError.missingState(names: ["optimizer.0.v"])) { try target.importState(missing) }
        var extra = state
        extra.tensors["optimizer.0.w"] = Tensor([0, 0, 0])
        extra.tensors["optimizer.1.m"] = Tensor([0, 0, 0])
        #expect(throws: OptimizerStateError.unexpectedState(names: ["optimizer.0.w", "optimizer.1.m"])) { try target.importState(extra) }
        var negative = state
        negative.step = -1
        #expect(throws: OptimizerStateError.invalidStep(-1)) { try target.importState(negative) }
        #expect(target.step == 0 && target.exportState().tensors["optimizer.0.m"] == Tensor([0, 0, 0]))
        try target.importState(state)
        #expect(target.exportState() == state)
    }
}
