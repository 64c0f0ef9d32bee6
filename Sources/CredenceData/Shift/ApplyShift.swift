import CredenceTensor
import Foundation

/// Applies the shift to images [N, C, H, W] with values in [0, 1]; output clamped to [0, 1]. Deterministic given `seed`
/// (per-image randomness from a stream split per image, so results don't depend on batch boundaries/threading).
///
/// Image `i` draws its randomness (noise, blur angle, patch position, warp) from its own
/// generator, derived from `seed`, the shift's kind and `i`; the same seed therefore gives
/// the same draws for every severity of a kind, so severities differ only in strength (common
/// random numbers). Channels share an image's geometric draws; per-pixel noise is per channel.
/// The definitions and parameter tables are in `ShiftKind` and `ShiftParameters`.
///
/// - Throws: `DataError.invalidArgument` when `images` is not `[N, C, H, W]` with C, H, W ≥ 1
///   and every value in [0, 1] (name `"images"`), or the severity is invalid for the kind (name `"severity"`:
///   corruptions 1…5, rotation −360…360 degrees, translation −W…W pixels).
///
/// ```swift
/// let blurred = try applyShift(Shift(.gaussianBlur, severity: 5), to: test.inputs, seed: 0)
/// for shift in Shift.ovadiaProtocol { let x = try applyShift(shift, to: test.inputs, seed: 0) }
/// ```
public func applyShift(_ shift: Shift, to images: Tensor, seed: UInt64) throws -> Tensor {
    try applyShift(shift, to: images, seed: seed, firstImageIndex: 0)
}

/// `applyShift(_:to:seed:)` for a chunk of a larger set that starts at image
/// `firstImageIndex`: image `i` of `images` gets the randomness of image
/// `firstImageIndex + i`, so shifting a set in chunks gives the same result as in one call.
///
/// ```swift
/// let second = try applyShift(shift, to: x.rows(100..<200), seed: 7, firstImageIndex: 100)
/// // == rows 100..<200 of applyShift(shift, to: x, seed: 7)
/// ```
public func applyShift(_ shift: Shift, to images: Tensor, seed: UInt64, firstImageIndex: Int) throws -> Tensor {
    let shape = images.shape
    guard shape.count == 4, shape[1] > 0, shape[2] > 0, shape[3] > 0 else {
        throw DataError.invalidArgument(
            name: "images",
            message: "\(shift.kind.rawValue) needs images of shape [N, C, H, W] with C, H, W ≥ 1, got \(shape); "
                + "reshape flat inputs (e.g. [N, 784] → [N, 1, 28, 28]) first")
    }
    try shift.validate(width: shape[3])
    let outOfRange: Int? = images.withUnsafeBufferPointer { p in
        for i in p.indices where !(p[i] >= 0 && p[i] <= 1) { return i }
        return nil
    }
    if let i = outOfRange {
        let value = images.withUnsafeBufferPointer { $0[i] }
        throw DataError.invalidArgument(
            name: "images",
            message: "shifts need pixel values in [0, 1], but element \(i) is \(value); "
                + "apply shifts before standardising the inputs")
    }

    let geometry = ImageGeometry(channels: shape[1], height: shape[2], width: shape[3])
    let kernel = makeShiftKernel(shift, geometry: geometry)
    let count = shape[0]
    var output = Tensor(uninitializedShape: shape)
    guard count > 0 else { return output }
    let streamSeed = ShiftRandomness.streamSeed(seed: seed, kind: shift.kind)
    let size = geometry.size
    // Several chunks per worker balance uneven per-image costs; each chunk allocates its scratch once.
    let chunks = Parallel.ranges(count, parts: Swift.min(count, Parallel.workerCount * 8))
    images.withUnsafeBufferPointer { source in
        output.withUnsafeMutableBufferPointer { destination in
            let input = source.baseAddress!, out = destination.baseAddress!
            Parallel.forEach(chunks.count) { c in
                let scratch = ShiftScratch(geometry)
                for i in chunks[c] {
                    var rng = ShiftRandomness.imageGenerator(streamSeed: streamSeed, index: firstImageIndex + i)
                    let image = out + i * size
                    kernel.apply(input + i * size, to: image, rng: &rng, scratch: scratch)
                    for p in 0..<size { image[p] = Swift.min(Swift.max(image[p], 0), 1) }
                }
            }
        }
    }
    return output
}

/// One prepared shift: parameters resolved and tables precomputed for one image geometry,
/// applied image by image (concurrently: conformers are immutable).
protocol ShiftKernel {
    /// Writes the shifted image (all channels, `C × H × W`) to `output`; the driver clamps it
    /// to [0, 1] afterwards. `output` never aliases `input`.
    func apply(_ input: UnsafePointer<Float>, to output: UnsafeMutablePointer<Float>,
               rng: inout RandomGenerator, scratch: ShiftScratch)
}

/// The kernel for a validated shift.
func makeShiftKernel(_ shift: Shift, geometry g: ImageGeometry) -> any ShiftKernel {
    let s = shift.severity, k = s - 1
    let P = ShiftParameters.self
    switch shift.kind {
    case .gaussianNoise: return GaussianNoise(geometry: g, standardDeviation: P.gaussianNoiseStandardDeviation[k])
    case .shotNoise: return ShotNoise(geometry: g, rate: P.shotNoiseRate[k])
    case .impulseNoise: return ImpulseNoise(geometry: g, amount: P.impulseNoiseAmount[k])
    case .gaussianBlur: return GaussianBlur(geometry: g, sigma: P.gaussianBlurSigma[k])
    case .defocusBlur: return DefocusBlur(geometry: g, radius: P.defocusBlur[k].radius, aliasSigma: P.defocusBlur[k].aliasSigma)
    case .motionBlur: return MotionBlur(geometry: g, radius: P.motionBlur[k].radius, sigma: P.motionBlur[k].sigma)
    case .contrast: return Contrast(geometry: g, factor: P.contrastFactor[k])
    case .brightness: return Brightness(geometry: g, shift: P.brightnessShift[k])
    case .pixelate: return Pixelate(geometry: g, factor: P.pixelateFactor[k])
    case .elastic:
        let side = Double(Swift.min(g.height, g.width))
        let e = P.elastic[k]
        return ElasticTransform(geometry: g, alpha: e.alpha * side, sigma: e.sigma * side, affine: e.affine * side)
    case .occlusion:
        return Occlusion(geometry: g, side: P.occlusionSide(severity: s, side: Swift.min(g.height, g.width)))
    case .rotation: return Rotation(geometry: g, degrees: s)
    case .translation: return Translation(geometry: g, pixels: s)
    }
}

/// Derivation of the per-image generators.
enum ShiftRandomness {
    /// SplitMix64's output function: a bijective 64-bit mixer.
    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// FNV-1a of the kind's raw value: a salt that is stable across runs and platforms.
    static func salt(_ kind: ShiftKind) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in kind.rawValue.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }

    static func streamSeed(seed: UInt64, kind: ShiftKind) -> UInt64 { mix(seed ^ mix(salt(kind))) }

    /// The generator of image `index`: independent of batch boundaries and thread count.
    static func imageGenerator(streamSeed: UInt64, index: Int) -> RandomGenerator {
        RandomGenerator(seed: mix(streamSeed ^ mix(UInt64(bitPattern: Int64(index)))))
    }
}
