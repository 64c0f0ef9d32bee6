import CredenceData
import CredenceTensor
import Testing

@Test func standardizationCentresScalesAndInverts() {
    let x = Tensor(shape: [4, 3], values: [1, 10, 5, 2, 20, 5, 3, 30, 5, 4, 40, 5])
    let scaler = Standardization(fitting: x)
    #expect(scaler.mean == [2.5, 25, 5])
    let root = Float(1.25).squareRoot()
    // Population standard deviation of (1, 2, 3, 4) is √1.25; the constant column gets 1.
    #expect(abs(scaler.standardDeviation[0] - root) < 1e-6)
    #expect(abs(scaler.standardDeviation[1] - 10 * root) < 1e-5)
    #expect(scaler.standardDeviation[2] == 1)
    let z = scaler.apply(x)
    #expect(z.values[2] == 0 && abs(z.values[0] + 1.5 / root) < 1e-6)
    let back = scaler.invert(z).values
    #expect(zip(back, x.values).allSatisfy { abs($0 - $1) < 1e-5 })
}
