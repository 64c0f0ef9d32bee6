import CredenceTensor

/// Random data augmentation of training images, drawn afresh for every step.
public enum Augmentation: String, Codable, CaseIterable, Sendable {
    /// The images as they are.
    case none
    /// A random crop of the image zero-padded by `padding` pixels on every side (a shift of up
    /// to ± padding in each direction), then a horizontal flip with probability ½ — torchvision's
    /// `RandomCrop(size, padding)` and `RandomHorizontalFlip()`, the standard CIFAR and
    /// Fashion-MNIST recipe for ResNets.
    case cropFlip = "crop-flip"
    /// Gaussian noise N(0, σ²) added to every input value, unclipped — Cohen et al.'s training
    /// for randomized smoothing at the σ it will be certified with.
    case gaussianNoise = "gaussian-noise"
}

/// A training objective on augmented inputs: each step's images are transformed with the
/// step's randomness (`ForwardContext.rng`), then `base` is the loss. The training accuracy it
/// reports is on the augmented images.
///
/// ```swift
/// let objective = AugmentedObjective(base: Objective.crossEntropy(labelSmoothing: 0), augmentation: .cropFlip, padding: 2)
/// ```
public struct AugmentedObjective: TrainingObjective {
    public let base: any TrainingObjective
    public let augmentation: Augmentation
    /// The crop's zero padding (`cropFlip`).
    public let padding: Int
    /// σ of the noise (`gaussianNoise`).
    public let noiseSigma: Float

    public init(base: any TrainingObjective, augmentation: Augmentation, padding: Int = 2, noiseSigma: Float = 0.25) {
        self.base = base
        self.augmentation = augmentation
        self.padding = padding
        self.noiseSigma = noiseSigma
    }

    public var identity: String {
        switch augmentation {
        case .none, .cropFlip: return "\(base.identity) augment=\(augmentation.rawValue) padding=\(padding)"
        case .gaussianNoise: return "\(base.identity) augment=\(augmentation.rawValue) sigma=\(noiseSigma)"
        }
    }
    public var isClassification: Bool { base.isClassification }

    public func loss(model: any NetworkModel, parameters: Variable, batch: TrainingBatch,
                     context: inout ForwardContext) throws -> (loss: Variable, outputs: Tensor) {
        var augmented = batch
        switch augmentation {
        case .none: break
        case .cropFlip: augmented.inputs = try Self.cropAndFlip(batch.inputs, padding: padding, rng: &context.rng)
        case .gaussianNoise:
            var noise = Tensor.normalNoise(shape: batch.inputs.shape, rng: &context.rng)
            noise.scaleInPlace(noiseSigma)
            noise.addInPlace(batch.inputs, scale: 1)
            augmented.inputs = noise
        }
        return try base.loss(model: model, parameters: parameters, batch: augmented, context: &context)
    }

    /// Every image of `images` ([N, C, H, W]) shifted by (dy, dx), each uniform in
    /// −padding…padding, with zeros shifted in, then mirrored left–right with probability ½;
    /// three draws per image in order (dy, dx, flip).
    public static func cropAndFlip(_ images: Tensor, padding: Int, rng: inout RandomGenerator) throws -> Tensor {
        let s = images.shape
        guard s.count == 4, padding >= 0 else {
            throw TrainingError.invalidConfiguration("crop-flip augmentation needs images [N, C, H, W] and padding ≥ 0; got \(s) and \(padding)")
        }
        let (n, c, h, w) = (s[0], s[1], s[2], s[3])
        var out = Tensor(shape: s, repeating: 0)
        images.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    let dy = rng.integer(below: 2 * padding + 1) - padding, dx = rng.integer(below: 2 * padding + 1) - padding
                    let flip = rng.bernoulli(0.5)
                    for ch in 0..<c {
                        let plane = (i * c + ch) * h * w
                        for y in Swift.max(0, -dy)..<Swift.min(h, h - dy) {
                            let from = plane + (y + dy) * w, to = plane + y * w
                            // Cropped column x reads source column x + dx; a flip writes it to w − 1 − x.
                            for x in Swift.max(0, -dx)..<Swift.min(w, w - dx) {
                                dst[to + (flip ? w - 1 - x : x)] = src[from + x + dx]
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}
