/// The kinds of dataset shift Credence evaluates, after Ovadia et al. 2019, "Can you trust
/// your model's uncertainty? Evaluating predictive uncertainty under dataset shift".
///
/// Corruptions follow Hendrycks & Dietterich 2019 (ImageNet-C / CIFAR-10-C) and MNIST-C
/// (Mu & Gilmer 2019) with parameters adapted to 28×28 grey images (see `ShiftParameters`
/// for every table and its source); rotation and translation are Ovadia et al.'s MNIST
/// shifts. Raw values are the names the CLI and result store use.
///
/// ```swift
/// for kind in ShiftKind.allCases where kind.isCorruption {
///     print(kind.rawValue, kind.severities)   // gaussian-noise [1, 2, 3, 4, 5] ...
/// }
/// ```
public enum ShiftKind: String, CaseIterable, Codable, Sendable {
    /// Additive Gaussian noise, clamped to [0, 1].
    case gaussianNoise = "gaussian-noise"
    /// Poisson (photon-count) noise: `Poisson(x · rate) / rate`.
    case shotNoise = "shot-noise"
    /// Salt-and-pepper noise: a fraction of pixels set to 0 or 1.
    case impulseNoise = "impulse-noise"
    /// Isotropic Gaussian blur.
    case gaussianBlur = "gaussian-blur"
    /// Blur by an anti-aliased disk (an out-of-focus lens).
    case defocusBlur = "defocus-blur"
    /// One-sided Gaussian smear along a random direction in ±45° (a moving camera).
    case motionBlur = "motion-blur"
    /// Pixels pulled towards the image mean.
    case contrast
    /// A constant added to the HSV value (`x + c` for grey images).
    case brightness
    /// Box down-sampling then nearest up-sampling.
    case pixelate
    /// A random affine jitter followed by a smoothed random displacement field.
    case elastic
    /// A random square patch set to 0.
    case occlusion
    /// Rotation about the image centre by `severity` degrees (counter-clockwise), bilinear, zero fill.
    case rotation
    /// Circular shift (roll) along x by `severity` pixels (positive moves content right).
    case translation

    /// The severities evaluated: 1…5 for corruptions, 0…180 step 15 (degrees) for rotation, 2…26 step 2 (pixels) for translation.
    ///
    /// `applyShift` accepts more than these for the geometric shifts: any rotation in
    /// −360…360 degrees and any translation of at most the image width (so a roll by the
    /// full width, the identity, is allowed).
    public var severities: [Int] {
        switch self {
        case .rotation: return Array(stride(from: 0, through: 180, by: 15))
        case .translation: return Array(stride(from: 2, through: 26, by: 2))
        default: return [1, 2, 3, 4, 5]
        }
    }

    /// True for the image corruptions (severity 1…5); false for rotation and translation,
    /// whose severity is an angle or a distance.
    public var isCorruption: Bool { self != .rotation && self != .translation }
}

/// One shift: a kind at a severity, e.g. Gaussian blur at severity 3 or rotation by 45°.
///
/// ```swift
/// let shift = Shift(.rotation, severity: 45)
/// let rotated = try applyShift(shift, to: test.inputs, seed: 0)
/// ```
public struct Shift: Hashable, Codable, Sendable {
    public var kind: ShiftKind
    /// 1…5 for corruptions, degrees for rotation, pixels for translation.
    public var severity: Int

    public init(_ kind: ShiftKind, severity: Int) {
        self.kind = kind
        self.severity = severity
    }
}

extension Shift {
    /// Every kind × every evaluated severity (`ShiftKind.severities`), kinds in
    /// declaration order: 11 corruptions × 5 + 13 rotations + 13 translations = 81 shifts.
    /// Made for 28×28 images: the translations (up to 26 pixels) need images at least 26 pixels wide.
    public static var ovadiaProtocol: [Shift] {
        ShiftKind.allCases.flatMap { kind in kind.severities.map { Shift(kind, severity: $0) } }
    }

    /// Every kind at its strongest evaluated severity: each corruption at 5, rotation by 180°,
    /// the largest translation — the "strongest shift" columns of the protocol at a fraction of
    /// its cost (for models whose evaluation is expensive).
    public static var strongest: [Shift] {
        ShiftKind.allCases.map { kind in Shift(kind, severity: kind.severities.max { abs($0) < abs($1) }!) }
    }

    /// Throws `DataError.invalidArgument` unless the severity is valid for an image of `width` pixels.
    func validate(width: Int) throws {
        let valid: ClosedRange<Int>
        switch kind {
        case .rotation: valid = -360...360
        case .translation: valid = -width...width
        default: valid = 1...5
        }
        guard valid.contains(severity) else {
            let unit = kind == .rotation ? " degrees" : kind == .translation ? " pixels" : ""
            throw DataError.invalidArgument(
                name: "severity",
                message: "\(kind.rawValue) takes severities \(valid.lowerBound)...\(valid.upperBound)\(unit)"
                    + (kind == .translation ? " (at most the image width)" : "")
                    + ", got \(severity); the evaluated ones are \(kind.severities)")
        }
    }
}
