import Foundation

/// Learning rate as a function of the step (0-based). Composable: `warmup` wraps
/// another schedule.
public indirect enum LearningRateSchedule: Codable, Equatable, Sendable {
    /// The same rate at every step.
    case constant(Float)
    /// `initial · gamma^⌊step / every⌋`.
    case step(initial: Float, every: Int, gamma: Float)
    /// Cosine decay from `initial` to `minimum` over `totalSteps`, then `minimum`.
    case cosine(initial: Float, totalSteps: Int, minimum: Float)
    /// Cosine decay restarted every `cycleLength` steps (cyclical SG-MCMC, snapshot ensembles).
    case cyclicalCosine(initial: Float, cycleLength: Int, minimum: Float)
    /// Linear ramp from 0 to the wrapped schedule's rate over `steps`, then the wrapped schedule
    /// (evaluated at step − steps).
    case warmup(steps: Int, then: LearningRateSchedule)

    public func rate(at step: Int) -> Float {
        switch self {
        case let .constant(lr):
            return lr
        case let .step(initial, every, gamma):
            return initial * Foundation.pow(gamma, Float(step / Swift.max(every, 1)))
        case let .cosine(initial, total, minimum):
            let t = Swift.min(Float(step) / Float(Swift.max(total, 1)), 1)
            return minimum + (initial - minimum) * 0.5 * (1 + Foundation.cos(Float.pi * t))
        case let .cyclicalCosine(initial, cycle, minimum):
            let t = Float(step % Swift.max(cycle, 1)) / Float(Swift.max(cycle, 1))
            return minimum + (initial - minimum) * 0.5 * (1 + Foundation.cos(Float.pi * t))
        case let .warmup(steps, then):
            if step < steps { return then.rate(at: 0) * Float(step + 1) / Float(steps) }
            return then.rate(at: step - steps)
        }
    }
}
