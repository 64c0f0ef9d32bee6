@testable import CredenceData
import CredenceTensor
import Foundation
import Testing

// MARK: - The protocol

@Test func ovadiaProtocolListsEveryKindAtEveryEvaluatedSeverity() {
    let shifts = Shift.ovadiaProtocol
    #expect(shifts.count == 11 * 5 + 13 + 13)
    #expect(Set(shifts).count == shifts.count)
    #expect(ShiftKind.rotation.severities == [0, 15, 30, 45, 60, 75, 90, 105, 120, 135, 150, 165, 180])
    #expect(ShiftKind.translation.severities == [2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26])
    for kind in ShiftKind.allCases where kind.isCorruption { #expect(kind.severities == [1, 2, 3, 4, 5]) }
    #expect(ShiftKind.allCases.filter { !$0.isCorruption } == [.rotation, .translation])
    #expect(ShiftKind(rawValue: "gaussian-noise") == .gaussianNoise && ShiftKind(rawValue: "motion-blur") == .motionBlur)
}

@Test func shiftRoundTripsThroughJSON() throws {
    let shift = Shift(.defocusBlur, severity: 4)
    let data = try JSONEncoder().encode(shift)
    #expect(String(decoding: data, as: UTF8.self).contains("defocus-blur"))
    #expect(try JSONDecoder().decode(Shift.self, from: data) == shift)
}

// MARK: - Properties every shift must have

@Test func everyShiftIsDeterministicShapePreservingAndInTheUnitInterval() throws {
    let images = ShiftSamples.images(6)
    for shift in Shift.ovadiaProtocol {
        let a = try applyShift(shift, to: images, seed: 11)
        let b = try applyShift(shift, to: images, seed: 11)
        #expect(a.shape == images.shape, "\(shift)")
        #expect(a == b, "\(shift) is not deterministic for a fixed seed")
        a.withUnsafeBufferPointer { p in
            #expect(p.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(shift) leaves [0, 1]")
        }
    }
}

@Test func randomShiftsDifferAcrossSeedsAndDeterministicOnesDoNot() throws {
    let images = ShiftSamples.images(6)
    for kind in ShiftKind.allCases {
        let shift = Shift(kind, severity: kind.severities[kind.severities.count / 2])
        let a = try applyShift(shift, to: images, seed: 1)
        let b = try applyShift(shift, to: images, seed: 2)
        if randomShiftKinds.contains(kind) {
            #expect(a != b, "\(kind) ignores the seed")
        } else {
            #expect(a == b, "\(kind) should not depend on the seed")
        }
    }
}

@Test func resultsDoNotDependOnBatchBoundaries() throws {
    let images = ShiftSamples.images(10)
    for kind in randomShiftKinds {
        let shift = Shift(kind, severity: 3)
        let whole = try applyShift(shift, to: images, seed: 5)
        let head = try applyShift(shift, to: images.rows(0..<4), seed: 5)
        let tail = try applyShift(shift, to: images.rows(4..<10), seed: 5, firstImageIndex: 4)
        #expect(try whole.rows(0..<4).values == head.values, "\(kind)")
        #expect(try whole.rows(4..<10).values == tail.values, "\(kind)")
        // A single image at its index gets the same draws as inside the batch.
        let seventh = try applyShift(shift, to: images.rows(7..<8), seed: 5, firstImageIndex: 7)
        #expect(try whole.rows(7..<8).values == seventh.values, "\(kind)")
    }
}

@Test func corruptionsChangeImagesMoreAtEveryHigherSeverity() throws {
    // Severity is ordered by the mean absolute change from the clean image (on real
    // Fashion-MNIST images when installed). Common random numbers across severities make
    // this a comparison of strengths, not of noise draws.
    let images = ShiftSamples.images(ShiftSamples.usesFashionMNIST ? 16 : 32)
    for kind in ShiftKind.allCases where kind.isCorruption {
        let change = try kind.severities.map { s in
            meanAbsoluteDifference(try applyShift(Shift(kind, severity: s), to: images, seed: 3), images)
        }
        #expect(change[0] > 0, "\(kind) severity 1 changes nothing")
        for s in 1..<change.count {
            #expect(change[s] > change[s - 1], "\(kind): mean change \(change) does not grow at severity \(s + 1)")
        }
    }
}

// MARK: - Rotation and translation

@Test func rotationByZeroIsTheIdentityAndByMultiplesOf90IsAnExactPermutation() throws {
    let images = ShiftSamples.images(3)
    #expect(try applyShift(Shift(.rotation, severity: 0), to: images, seed: 0) == images)
    #expect(try applyShift(Shift(.rotation, severity: 360), to: images, seed: 0) == images)
    let n = 28
    let r90 = try applyShift(Shift(.rotation, severity: 90), to: images, seed: 0)
    let r180 = try applyShift(Shift(.rotation, severity: 180), to: images, seed: 0)
    let r270 = try applyShift(Shift(.rotation, severity: -90), to: images, seed: 0)
    for k in 0..<3 {
        for i in 0..<n {
            for j in 0..<n {
                // NumPy rot90 (counter-clockwise): out[i][j] = in[j][n−1−i].
                #expect(r90[k, 0, i, j] == images[k, 0, j, n - 1 - i])
                #expect(r180[k, 0, i, j] == images[k, 0, n - 1 - i, n - 1 - j])
                #expect(r270[k, 0, i, j] == images[k, 0, n - 1 - j, i])
            }
        }
    }
}

@Test func rotationIsBilinearAboutTheCentreWithZeroFill() throws {
    // A radially symmetric image is unchanged inside the inscribed circle by any rotation,
    // up to bilinear error; corners rotated in from outside are 0.
    let n = 28, c = Float(n - 1) / 2
    var values = [Float](repeating: 0, count: n * n)
    for y in 0..<n { for x in 0..<n {
        let r = ((Float(y) - c) * (Float(y) - c) + (Float(x) - c) * (Float(x) - c)).squareRoot()
        values[y * n + x] = Swift.max(0, 1 - r / 14)
    } }
    let disk = Tensor(shape: [1, 1, n, n], values: values)
    let filled = Tensor(shape: [1, 1, n, n], repeating: 1)
    for degrees in [15, 45, 75, 135] {
        let rotated = try applyShift(Shift(.rotation, severity: degrees), to: disk, seed: 0)
        let corners = try applyShift(Shift(.rotation, severity: degrees), to: filled, seed: 0)
        for y in 0..<n { for x in 0..<n {
            let r = ((Float(y) - c) * (Float(y) - c) + (Float(x) - c) * (Float(x) - c)).squareRoot()
            if r < 12 { #expect(abs(rotated[0, 0, y, x] - values[y * n + x]) < 0.04) }
            if r < 13 { #expect(abs(corners[0, 0, y, x] - 1) < 1e-5) }
        } }
        #expect(corners[0, 0, 0, 0] < 0.5, "the corner comes from outside the image and must be zero-filled")
    }
}

@Test func translationRollsAlongXAndTheFullWidthIsTheIdentity() throws {
    let images = ShiftSamples.images(3)
    #expect(try applyShift(Shift(.translation, severity: 28), to: images, seed: 0) == images)
    #expect(try applyShift(Shift(.translation, severity: -28), to: images, seed: 0) == images)
    for k in ShiftKind.translation.severities {
        let there = try applyShift(Shift(.translation, severity: k), to: images, seed: 0)
        let back = try applyShift(Shift(.translation, severity: 28 - k), to: there, seed: 0)
        #expect(back == images, "roll by \(k) then \(28 - k)")
        #expect(try applyShift(Shift(.translation, severity: -k), to: there, seed: 0) == images)
        for y in [0, 9, 14, 27] { for x in 0..<28 {
            #expect(there[1, 0, y, (x + k) % 28] == images[1, 0, y, x])
        } }
    }
}

// MARK: - Corruption definitions

@Test func blursAndPixelationKeepAConstantImageConstant() throws {
    let grey = Tensor(shape: [2, 1, 28, 28], repeating: 0.6)
    for kind in [ShiftKind.gaussianBlur, .defocusBlur, .motionBlur, .pixelate] {
        for s in kind.severities {
            let out = try applyShift(Shift(kind, severity: s), to: grey, seed: 4)
            out.withUnsafeBufferPointer { p in
                #expect(p.allSatisfy { abs($0 - 0.6) < 1e-5 }, "\(kind) \(s): weights must sum to 1 up to the edges")
            }
        }
    }
}

@Test func intensityCorruptionsFollowTheirFormulas() throws {
    let images = ShiftSamples.images(4)
    for s in 1...5 {
        let c = ShiftParameters.brightnessShift[s - 1]
        let bright = try applyShift(Shift(.brightness, severity: s), to: images, seed: 0)
        #expect(bright.values == images.values.map { Swift.min($0 + c, 1) })

        let factor = ShiftParameters.contrastFactor[s - 1]
        let flat = try applyShift(Shift(.contrast, severity: s), to: images, seed: 0)
        for k in 0..<4 {
            let clean = try images.rows(k..<(k + 1)).values, out = try flat.rows(k..<(k + 1)).values
            let mean = clean.reduce(0, +) / Float(clean.count)
            for (x, y) in zip(clean, out) { #expect(abs(y - ((x - mean) * factor + mean)) < 1e-5) }
        }
    }
}

@Test func noiseCorruptionsHaveTheirStatedStatistics() throws {
    let grey = Tensor(shape: [16, 1, 28, 28], repeating: 0.5)
    let n = Double(grey.count)
    func moments(_ t: Tensor) -> (mean: Double, variance: Double) {
        let v = t.values.map(Double.init)
        let mean = v.reduce(0, +) / n
        return (mean, v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / n)
    }
    // Gaussian, σ = 0.08 at severity 1 (clamping at 0.5 ± 6σ is negligible).
    let g = moments(try applyShift(Shift(.gaussianNoise, severity: 1), to: grey, seed: 9))
    #expect(abs(g.mean - 0.5) < 0.005 && abs(g.variance.squareRoot() - 0.08) < 0.004)
    // Shot noise at rate 60: mean x, variance x / 60.
    let p = moments(try applyShift(Shift(.shotNoise, severity: 1), to: grey, seed: 9))
    #expect(abs(p.mean - 0.5) < 0.006 && abs(p.variance - 0.5 / 60) / (0.5 / 60) < 0.08)
    // Impulse noise at amount 0.27: that fraction replaced, half by 0 and half by 1.
    let values = try applyShift(Shift(.impulseNoise, severity: 5), to: grey, seed: 9).values
    let salt = Double(values.filter { $0 == 1 }.count) / n, pepper = Double(values.filter { $0 == 0 }.count) / n
    #expect(abs(salt + pepper - 0.27) < 0.02 && abs(salt - pepper) < 0.02)
}

@Test func occlusionZeroesASquareOfTheTabulatedSide() throws {
    let white = Tensor(shape: [5, 2, 28, 28], repeating: 1)
    for (s, side) in zip(1...5, [4, 8, 12, 16, 20]) {
        let out = try applyShift(Shift(.occlusion, severity: s), to: white, seed: UInt64(s))
        for k in 0..<5 {
            let zeros = try out.rows(k..<(k + 1)).values.filter { $0 == 0 }.count
            #expect(zeros == 2 * side * side, "severity \(s): both channels lose a \(side)×\(side) square")
        }
    }
}

@Test func defocusKernelsMatchTheReferenceDisk() {
    // Radius 1.5 on the integer grid is the 3×3 square; the alias blur σ = 0.1 barely spreads it.
    let (weights, half) = DefocusBlur.kernel(radius: 1.5, aliasSigma: 0.1)
    #expect(half == 2 && abs(weights.reduce(0, +) - 1) < 1e-6)
    #expect(abs(weights[2 * 5 + 2] - 1 / 9) < 1e-6 && abs(weights[1 * 5 + 1] - 1 / 9) < 1e-6 && weights[0] < 1e-10)
    // Radius 0.5 is the centre pixel alone: a 3×3 Gaussian of σ = 0.6.
    let (small, h) = DefocusBlur.kernel(radius: 0.5, aliasSigma: 0.6)
    let e = Float(Foundation.exp(-1 / (2 * 0.36)))
    #expect(h == 1 && abs(small[4] - 1 / ((1 + 2 * e) * (1 + 2 * e))) < 1e-6)
}

@Test func pixelateMatchesPILBoxResizing() {
    // PIL's BOX resize samples the box at input pixel centres: 4 → 2 averages pairs,
    // 2 → 4 repeats pixels (nearest neighbour).
    #expect(AxisResample.pilBox(from: 4, to: 2) == [[0.5, 0.5, 0, 0], [0, 0, 0.5, 0.5]])
    #expect(AxisResample.pilBox(from: 2, to: 4) == [[1, 0], [1, 0], [0, 1], [0, 1]])
    #expect(AxisResample.pilBox(from: 5, to: 5) == (0..<5).map { i in (0..<5).map { $0 == i ? 1.0 : 0.0 } })
    #expect([1, 2, 3, 4, 5].map { ShiftParameters.pixelatedSide(severity: $0, side: 28) } == [26, 25, 23, 21, 18])
}

@Test func multiChannelImagesShareTheirGeometricDraws() throws {
    let grey = ShiftSamples.images(3)
    let three = try grey.reshaped([3, 1, 28, 28])
    var rgb = [Float]()
    for k in 0..<3 { let v = try three.rows(k..<(k + 1)).values; rgb += v + v + v }
    let colour = Tensor(shape: [3, 3, 28, 28], values: rgb)
    for kind in [ShiftKind.motionBlur, .elastic, .occlusion, .rotation, .pixelate, .brightness] {
        let out = try applyShift(Shift(kind, severity: kind.severities[2]), to: colour, seed: 8)
        for k in 0..<3 {
            let v = try out.rows(k..<(k + 1)).values
            #expect(Array(v[0..<784]) == Array(v[784..<1568]) && Array(v[0..<784]) == Array(v[1568...]), "\(kind)")
        }
    }
}

@Test func smallNonSquareColourImagesWorkForEveryKind() throws {
    var rng = RandomGenerator(seed: 3)
    let images = Tensor.randomUniform(shape: [3, 3, 5, 7], rng: &rng)
    for kind in ShiftKind.allCases {
        let severities = kind == .translation ? [-7, -3, 0, 4, 7] : kind.severities
        for s in severities {
            let out = try applyShift(Shift(kind, severity: s), to: images, seed: 2)
            #expect(out.shape == images.shape)
            out.withUnsafeBufferPointer { p in #expect(p.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(kind) \(s)") }
        }
    }
    #expect(try applyShift(Shift(.translation, severity: 7), to: images, seed: 0) == images)
    // Ovadia's translations (up to 26 pixels) do not fit 7-pixel-wide images.
    #expect(throws: DataError.self) { try applyShift(Shift(.translation, severity: 8), to: images, seed: 0) }
}

// MARK: - Errors

@Test func invalidSeveritiesThrowATypedError() throws {
    let images = ShiftSamples.images(2)
    let bad = [Shift(.gaussianNoise, severity: 0), Shift(.contrast, severity: 6), Shift(.elastic, severity: -1),
               Shift(.rotation, severity: 361), Shift(.translation, severity: 29), Shift(.translation, severity: -29)]
    for shift in bad {
        let error = #expect(throws: DataError.self) { try applyShift(shift, to: images, seed: 0) }
        guard case let .invalidArgument(name, message)? = error else {
            Issue.record("\(shift): expected DataError.invalidArgument, got \(String(describing: error))")
            continue
        }
        #expect(name == "severity" && message.contains(shift.kind.rawValue) && message.contains("\(shift.severity)"))
    }
}

@Test func nonImageInputsThrowATypedError() throws {
    let inputs: [Tensor] = [
        Tensor(shape: [4, 784], repeating: 0.5),        // flat
        Tensor(shape: [1, 28, 28], repeating: 0.5),     // no batch axis
        Tensor(shape: [2, 0, 28, 28], repeating: 0),    // no channels
        Tensor(shape: [1, 1, 28, 28], repeating: 1.5),  // outside [0, 1] (standardised?)
        Tensor(shape: [1, 1, 2, 2], values: [0, .nan, 0, 0]),
    ]
    for x in inputs {
        let error = #expect(throws: DataError.self) { try applyShift(Shift(.gaussianBlur, severity: 1), to: x, seed: 0) }
        guard case let .invalidArgument(name, _)? = error else {
            Issue.record("shape \(x.shape): expected DataError.invalidArgument, got \(String(describing: error))")
            continue
        }
        #expect(name == "images")
    }
    // An empty batch is fine.
    #expect(try applyShift(Shift(.elastic, severity: 2), to: Tensor(shape: [0, 1, 28, 28]), seed: 0).shape == [0, 1, 28, 28])
}
