/// The parameter tables behind every `ShiftKind`, index = severity − 1, with their sources.
///
/// Sources (values checked against the reference scripts, code not reused):
/// - **ImageNet-C**: Hendrycks & Dietterich 2019, `hendrycks/robustness`,
///   `ImageNet-C/create_c/make_imagenet_c.py` (224×224 colour images).
/// - **CIFAR-10-C**: the same repository, `ImageNet-C/create_c/make_cifar_c.py` (32×32), the
///   corruption set Ovadia et al. 2019 evaluate on.
/// - **MNIST-C**: Mu & Gilmer 2019, `google-research/mnist-c`, `corruptions.py` (28×28
///   grey); its tables for noise, contrast and brightness are ImageNet-C's, unchanged.
///
/// How the tables were adapted to 28×28 grey images:
/// - *Intensity* corruptions (noise, contrast, brightness) act per pixel and do not depend
///   on the image size; they use the MNIST-C tables, which are stronger than CIFAR-10-C's
///   (a grey 28×28 clothing image survives more noise than a colour photo).
/// - *Spatial* corruptions (blurs, pixelation, elastic) use CIFAR-10-C, the tables made for
///   images of about this size, with lengths in pixels scaled by 28/32. (MNIST-C's spatial
///   tables are ImageNet-C's 224-pixel values — a Gaussian blur of σ = 6 or a defocus disk
///   of radius 10 on a 28-pixel image leaves a smudge.) Departures are noted per table; each
///   keeps the severities strictly ordered (the mean pixel change grows with severity).
enum ShiftParameters {
    /// The image side the CIFAR-10-C tables were made for.
    static let cifarSide: Double = 32

    /// Gaussian noise: standard deviation σ of the additive noise, `clamp(x + σ·ε)`, ε ~ N(0, 1)
    /// per pixel. MNIST-C / ImageNet-C `gaussian_noise` (CIFAR-10-C: 0.04, 0.06, 0.08, 0.09, 0.10).
    static let gaussianNoiseStandardDeviation: [Float] = [0.08, 0.12, 0.18, 0.26, 0.38]

    /// Shot noise: photon rate `c` of `Poisson(x·c) / c`; lower is noisier.
    /// MNIST-C / ImageNet-C `shot_noise` (CIFAR-10-C: 500, 250, 100, 75, 50).
    static let shotNoiseRate: [Double] = [60, 25, 12, 5, 3]

    /// Impulse noise: fraction of pixels replaced, half by 0 (pepper) and half by 1 (salt) —
    /// scikit-image `random_noise(mode: "s&p", amount:)`. MNIST-C / ImageNet-C `impulse_noise`
    /// (CIFAR-10-C: 0.01, 0.02, 0.03, 0.05, 0.07).
    static let impulseNoiseAmount: [Float] = [0.03, 0.06, 0.09, 0.17, 0.27]

    /// Gaussian blur: σ in pixels. CIFAR-10-C `gaussian_blur` σ = 0.4, 0.6, 0.7, 0.8, 1.0 scaled
    /// by 28/32. Kernel truncated at 4σ and edges extended by the nearest pixel (scikit-image
    /// `gaussian` defaults). (MNIST-C / ImageNet-C: 1, 2, 3, 4, 6.)
    static var gaussianBlurSigma: [Double] { [0.4, 0.6, 0.7, 0.8, 1.0].map { $0 * 28 / cifarSide } }

    /// Defocus blur: (disk radius, anti-alias σ) in pixels, CIFAR-10-C `defocus_blur`, unscaled.
    ///
    /// The kernel is the disk `{(i, j) : i² + j² ≤ r²}` on the integer grid, normalised, then
    /// smoothed by a 3×3 Gaussian of the anti-alias σ (the reference's `disk`); edges reflect
    /// without repeating the border pixel (OpenCV's default). Radii 0.3–0.5 give the centre
    /// pixel alone (severities 1–3 are 3×3 Gaussians of growing σ), radius 1 a 5-pixel plus,
    /// radius 1.5 a 3×3 box. The radii are not scaled by 28/32: on the integer grid
    /// 0.875 × 1 would collapse the radius-1 disk to one pixel. (MNIST-C / ImageNet-C: radii 3–10.)
    static let defocusBlur: [(radius: Double, aliasSigma: Double)] =
        [(0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1, 0.2), (1.5, 0.1)]

    /// Motion blur: ImageMagick `-motion-blur` (radius, σ) in pixels, angle U(−45°, 45°) per image.
    ///
    /// The kernel has `2⌈radius⌉ + 1` taps at offsets `round(i·(cos θ, sin θ))`, i = 0, 1, …,
    /// weighted `exp(−i²/2σ²)` and normalised — a one-sided smear, as ImageMagick's; edges
    /// extend the border pixel. From CIFAR-10-C `motion_blur` (6, 1), (6, 1.5), (6, 2), (8, 2),
    /// (9, 2.5) scaled by 28/32, except severity 4's σ, raised from 2 to 2.25: in the reference
    /// severities 3 and 4 differ only in the radius, which truncates weights below 1e-7, so
    /// they are the same blur. (MNIST-C / ImageNet-C: (10, 3) … (20, 15).)
    static var motionBlur: [(radius: Double, sigma: Double)] {
        [(6, 1), (6, 1.5), (6, 2), (8, 2.25), (9, 2.5)].map { (radius: $0.0 * 28 / cifarSide, sigma: $0.1 * 28 / cifarSide) }
    }

    /// Contrast: factor `c` in `(x − mean)·c + mean`, the mean over each image's channel.
    /// MNIST-C / ImageNet-C `contrast` (CIFAR-10-C: 0.75, 0.5, 0.4, 0.3, 0.15).
    static let contrastFactor: [Float] = [0.4, 0.3, 0.2, 0.1, 0.05]

    /// Brightness: `c` added to the HSV value V (grey: `x + c`; RGB: scaled so V becomes
    /// min(V + c, 1), hue and saturation kept). MNIST-C / ImageNet-C `brightness`
    /// (CIFAR-10-C: 0.05, 0.1, 0.15, 0.2, 0.3).
    static let brightnessShift: [Float] = [0.1, 0.2, 0.3, 0.4, 0.5]

    /// Pixelate: the image is box-resampled to `⌊c·side⌋` pixels per side and back (PIL's
    /// `Image.resize(BOX)` both ways, so the way back is nearest-neighbour): 26, 25, 23, 21, 18
    /// pixels at 28×28. CIFAR-10-C `pixelate`; the factor is relative to the image size
    /// already. (MNIST-C / ImageNet-C: 0.6, 0.5, 0.4, 0.3, 0.25.)
    static let pixelateFactor: [Double] = [0.95, 0.9, 0.85, 0.75, 0.65]

    /// Elastic: (α, σ, affine) as fractions of the image side (×28 at 28×28). α and σ are
    /// CIFAR-10-C `elastic_transform`'s (which writes them as multiples of its `IMSIZE = 32`);
    /// the affine column is Credence's.
    ///
    /// Per image: the three points centre + (s, s), (s, −s), (−s, −s) with s = ⌊side/3⌋ move
    /// by U(−affine, affine) in each coordinate and define an affine warp; then every pixel
    /// moves by (dx, dy) = α·G_σ ∗ U(−1, 1) — uniform noise smoothed by a Gaussian of σ
    /// (truncated at 3σ, reflecting edges). Both warps are bilinear with zero outside the
    /// image (MNIST-C's constant border; CIFAR-10-C reflects, which mirrors parts of the
    /// object into a grey image's black background). Severity 1 has no elastic part.
    ///
    /// CIFAR-10-C's affine column shrinks as the elastic part grows (0.08, 0.07, 0.06, 0.05,
    /// 0.03), so its warps get *smaller* with severity: the mean absolute pixel change on
    /// Fashion-MNIST falls from 0.108 at severity 1 to 0.073 at 5. Credence's column grows
    /// to CIFAR-10-C's severity-5 value instead (0.01 … 0.03), so both parts grow together,
    /// the change rises (0.018, 0.029, 0.046, 0.062, 0.073) and severity 5 is CIFAR-10-C's.
    static let elastic: [(alpha: Double, sigma: Double, affine: Double)] =
        [(0, 0, 0.01), (0.05, 0.2, 0.015), (0.08, 0.06, 0.02), (0.1, 0.04, 0.025), (0.1, 0.03, 0.03)]

    /// Occlusion: side of the zeroed square as a fraction of the smaller image side
    /// (4, 8, 12, 16, 20 pixels at 28×28, covering 2 %–51 % of the image), at a uniformly
    /// random position inside the image. Credence's own table: neither Ovadia et al. nor
    /// the -C benchmarks define occlusion.
    static let occlusionSideFraction: [Double] = [1, 2, 3, 4, 5].map { $0 / 7 }

    /// The occluding square's side in pixels for an image whose smaller side is `side`.
    static func occlusionSide(severity: Int, side: Int) -> Int {
        Swift.max(1, Swift.min(side, Int((occlusionSideFraction[severity - 1] * Double(side)).rounded())))
    }

    /// The side a pixelated image is resampled to.
    static func pixelatedSide(severity: Int, side: Int) -> Int {
        Swift.max(1, Int(pixelateFactor[severity - 1] * Double(side)))
    }
}
