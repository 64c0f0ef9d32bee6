import CredenceData
import CredenceTensor
import Foundation
import Testing

@Test(arguments: [DatasetName.twoMoons, .spirals, .blobs, .regression1D])
func syntheticSetsAreDeterministicPerSeedAndDifferAcrossSeeds(name: DatasetName) throws {
    let a = try loadDataset(name, options: DataOptions(seed: 5))
    let b = try loadDataset(name, options: DataOptions(seed: 5))
    let c = try loadDataset(name, options: DataOptions(seed: 6))
    #expect(a.train.inputs == b.train.inputs && a.test.inputs == b.test.inputs)
    #expect(a.train.labels == b.train.labels && a.train.targets == b.train.targets)
    #expect(a.train.inputs != c.train.inputs)
    #expect(try a.train.inputs.rows(0..<500) != a.test.inputs)  // test drawn from another stream
    #expect(a.train.count == 1000 && a.test.count == 500)
    #expect(a.train.inputs.isFinite && a.test.inputs.isFinite)
    #expect(a.train.name == name.rawValue + "/train" && a.test.name == name.rawValue + "/test")
}

@Test(arguments: [(DatasetName.twoMoons, 2), (.spirals, 3), (.blobs, 3)])
func classificationSetsAreBalancedWithTwoFeatures(name: DatasetName, classes: Int) throws {
    let (train, test) = try loadDataset(name, options: DataOptions(seed: 1))
    #expect(train.task == .classification(classCount: classes))
    #expect(train.inputShape == [2] && test.inputs.shape == [500, 2])
    let counts = histogram(train.labels, classCount: classes)
    #expect(counts.max()! - counts.min()! <= 1)
    #expect(counts.reduce(0, +) == 1000)
}

@Test func twoMoonsFollowTheirHalfCircles() {
    var rng = RandomGenerator(seed: 2)
    let moons = SyntheticData.twoMoons(count: 2000, noise: 0, rng: &rng)
    let x = moons.inputs.values
    for i in 0..<moons.count {
        let (a, b) = (x[2 * i], x[2 * i + 1])
        // Without noise, class 0 lies on the unit circle's upper half, class 1 on the shifted lower half.
        let (cx, cy): (Float, Float) = moons.labels[i] == 0 ? (0, 0) : (1, 0.5)
        #expect(abs((a - cx) * (a - cx) + (b - cy) * (b - cy) - 1) < 1e-4)
        #expect(moons.labels[i] == 0 ? b >= -1e-6 : b <= 0.5 + 1e-6)
    }
}

@Test func blobsClusterAroundTheirCentres() {
    var rng = RandomGenerator(seed: 4)
    let centers: [[Float]] = [[-5, 0], [5, 5], [0, -8]]
    let blobs = SyntheticData.blobs(count: 3000, centers: centers, standardDeviation: 0.5, rng: &rng)
    for k in 0..<3 {
        let rows = (0..<3000).filter { blobs.labels[$0] == Int32(k) }
        let meanX = rows.map { blobs.inputs.values[2 * $0] }.reduce(0, +) / Float(rows.count)
        let meanY = rows.map { blobs.inputs.values[2 * $0 + 1] }.reduce(0, +) / Float(rows.count)
        // Standard error 0.5/√1000 ≈ 0.016; allow 6 of them.
        #expect(abs(meanX - centers[k][0]) < 0.1 && abs(meanY - centers[k][1]) < 0.1)
    }
}

@Test func cubicRegressionMatchesItsFormula() {
    var rng = RandomGenerator(seed: 9)
    let data = SyntheticData.cubicRegression(count: 20_000, rng: &rng)
    #expect(data.task == .regression(outputCount: 1))
    #expect(data.inputs.shape == [20_000, 1] && data.targets?.shape == [20_000, 1])
    let x = data.inputs.values, y = data.targets!.values
    #expect(x.min()! >= -4 && x.max()! <= 4)
    // Standardised residuals r = (64·y − x³)/σ(x) are N(0, 1): check mean and variance.
    let r = zip(x, y).map { (64 * $1 - $0 * $0 * $0) / SyntheticData.cubicNoiseStandardDeviation($0) }
    let mean = r.reduce(0, +) / Float(r.count)
    let variance = r.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(r.count)
    #expect(abs(mean) < 0.04 && abs(variance - 1) < 0.05)
    // Heteroscedastic: residuals are larger far from 0 than near it.
    let spread = { (keep: (Float) -> Bool) -> Float in
        let e = zip(x, y).filter { keep($0.0) }.map { 64 * $0.1 - $0.0 * $0.0 * $0.0 }
        return (e.map { $0 * $0 }.reduce(0, +) / Float(e.count)).squareRoot()
    }
    #expect(spread { abs($0) > 3 } > 2 * spread { abs($0) < 1 })
}

@Test func spiralArmsStayInsideTheUnitDisc() {
    var rng = RandomGenerator(seed: 0)
    let data = SyntheticData.spirals(count: 600, classCount: 4, rng: &rng)
    #expect(data.task == .classification(classCount: 4))
    #expect(histogram(data.labels, classCount: 4) == [150, 150, 150, 150])
    let v = data.inputs.values
    let radii = (0..<600).map { (i: Int) -> Float in (v[2 * i] * v[2 * i] + v[2 * i + 1] * v[2 * i + 1]).squareRoot() }
    #expect(radii.max()! <= 1)
}
