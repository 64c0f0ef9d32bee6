import Testing
@testable import CredenceTensor

@Suite struct DropoutTests {
    @Test func gradientMatchesFiniteDifferences() throws {
        // The closure re-seeds, so every evaluation sees the same mask.
        try GradientCheck().check("dropout", [Tensor.testInput([7, 9], seed: 4)]) { v in
            var rng = RandomGenerator(seed: 77)
            return try v[0].dropout(rate: 0.3, rng: &rng)
        }
    }

    @Test func forwardIsInputTimesTheSameMask() throws {
        let x = Tensor.testInput([5, 13], seed: 1)
        var r1 = RandomGenerator(seed: 5), r2 = RandomGenerator(seed: 5)
        let y = try Variable(constant: x).dropout(rate: 0.4, rng: &r1).value
        let mask = try Tensor.dropoutMask(shape: x.shape, rate: 0.4, rng: &r2)
        #expect(y == (try x * mask))
    }

    @Test func windowsOfThePatternAgreeWithTheWhole() throws {
        var rng = RandomGenerator(seed: 3)
        let noise = try DropoutNoise(rate: 0.5, rng: &rng)
        var whole = [Float](repeating: 0, count: 64), part = [Float](repeating: 0, count: 20)
        noise.apply(to: nil, into: &whole, count: 64)
        noise.apply(to: nil, into: &part, count: 20, start: 40)
        var odd = [Float](repeating: 0, count: 7)
        noise.apply(to: nil, into: &odd, count: 7, start: 10)
        #expect(Array(whole[10..<17]) == odd)
        #expect(Array(whole[40..<60]) == part)
    }

    /// The AVX2 kernel writes what the portable loop writes, bit for bit — kept values
    /// x·scale, dropped ones +0 even for negative, infinite or NaN inputs — for windows of
    /// every length around its eight-pair rounds, with and without an input.
    @Test(arguments: [Float(0), 0.1, 0.5, 0.9])
    func vectorKernelGivesThePortableLoopsBits(_ rate: Float) throws {
        try #require(FastMath.hasVectorKernels, "the AVX2 kernel does not run on this CPU")
        var rng = RandomGenerator(seed: 77)
        let noise = try DropoutNoise(rate: rate, rng: &rng)
        var input = Tensor.testInput([4101], seed: 9).values
        input[3] = -.infinity; input[5] = .nan; input[20] = -0.0
        for count in [0, 1, 2, 15, 16, 17, 31, 33, 1001, 4101] {
            for start in [0, 2, 18, 4096] {
                for withInput in [true, false] {
                    var vector = [Float](repeating: 7, count: count), portable = vector
                    input.withUnsafeBufferPointer { x in
                        let src = withInput ? x.baseAddress : nil
                        vector.withUnsafeMutableBufferPointer { noise.apply(to: src, into: $0.baseAddress!, count: count, start: start, vectorKernels: true) }
                        portable.withUnsafeMutableBufferPointer { noise.apply(to: src, into: $0.baseAddress!, count: count, start: start, vectorKernels: false) }
                    }
                    #expect(vector.map(\.bitPattern) == portable.map(\.bitPattern), "count \(count), start \(start), input \(withInput)")
                    // A ReLU first, in the same pass: the ReLU's output dropped out, in both kernels.
                    guard withInput else { continue }
                    let relu = input.map { $0 > 0 ? $0 : 0 }
                    var separate = [Float](repeating: 7, count: count)
                    relu.withUnsafeBufferPointer { r in
                        separate.withUnsafeMutableBufferPointer { noise.apply(to: r.baseAddress, into: $0.baseAddress!, count: count, start: start, vectorKernels: false) }
                    }
                    for vectorKernels in [true, false] {
                        var fused = [Float](repeating: 7, count: count)
                        input.withUnsafeBufferPointer { x in
                            fused.withUnsafeMutableBufferPointer {
                                noise.apply(to: x.baseAddress, into: $0.baseAddress!, count: count, start: start, rectifying: true, vectorKernels: vectorKernels)
                            }
                        }
                        #expect(fused.map(\.bitPattern) == separate.map(\.bitPattern), "rectified, count \(count), start \(start), vector \(vectorKernels)")
                    }
                }
            }
        }
    }

    /// A dense layer's outputs on dropped-out rows, formed as the product without dropout less
    /// the dropped units' terms, equal the product of the dropped-out rows (in double) to
    /// rounding — in the AVX2 kernel and the portable loop, for widths around the kernel's
    /// eight-pair rounds and 64- and 8-column blocks, windows not at the pattern's start, and
    /// inputs with zeros (a ReLU's) that are skipped.
    @Test(arguments: [Float(0.1), 0.5])
    func denseOutputsOfDroppedRowsEqualTheProductOfThem(_ rate: Float) throws {
        var rng = RandomGenerator(seed: 21)
        let noise = try DropoutNoise(rate: rate, rng: &rng)
        for (inputs, outputs) in [(38, 75), (16, 64), (2, 3), (512, 130)] {
            let rows = 5, start = 6
            let h = Tensor.testInput([rows, inputs], seed: 3).map { Swift.max($0, 0) }
            let weight = Tensor.testInput([outputs, inputs], seed: 4), bias = Tensor.testInput([outputs], seed: 5)
            // The transposed weight's rows padded by 3 floats (which must not be read as outputs).
            let stride = outputs + 3
            var weightT = [Float](repeating: .nan, count: inputs * stride)
            for o in 0..<outputs { for u in 0..<inputs { weightT[u * stride + o] = weight.values[o * inputs + u] } }
            let base = try (h * noise.scale).matmul(weight, transposeRight: true).values.enumerated().map { $1 + bias.values[$0 % outputs] }
            // The reference: the rows dropped out by the pattern's windows, times Wᵀ, plus the bias.
            var dropped = [Float](repeating: 0, count: rows * inputs)
            h.withUnsafeBufferPointer { src in
                for i in 0..<rows {
                    noise.apply(to: src.baseAddress! + i * inputs, into: &dropped[i * inputs], count: inputs, start: start + i * inputs)
                }
            }
            var reference = [Double](repeating: 0, count: rows * outputs), magnitude = 0.0
            for i in 0..<rows {
                for o in 0..<outputs {
                    var sum = Double(bias.values[o])
                    for u in 0..<inputs { sum += Double(dropped[i * inputs + u]) * Double(weight.values[o * inputs + u]) }
                    reference[i * outputs + o] = sum
                    magnitude = Swift.max(magnitude, Swift.abs(sum))
                }
            }
            #expect(dropped.contains(0) && dropped.contains { $0 != 0 }, "some units dropped, some kept")
            for vectorKernels in FastMath.hasVectorKernels ? [true, false] : [false] {
                var z = [Float](repeating: .nan, count: rows * outputs)
                h.withUnsafeBufferPointer { hp in
                    noise.denseOutputs(droppingFrom: hp.baseAddress!, rows: rows, inputs: inputs, start: start, transposedWeight: weightT,
                                       stride: stride, outputs: outputs, base: base, into: &z, vectorKernels: vectorKernels)
                }
                let error = zip(z, reference).map { Swift.abs(Double($0) - $1) }.max()!
                #expect(error <= 1e-5 * Swift.max(magnitude, 1), "in \(inputs), out \(outputs), vector \(vectorKernels): error \(error)")
            }
        }
    }

    @Test func keepProbabilityIsQuantisedButUnbiased() throws {
        var rng = RandomGenerator(seed: 2)
        let noise = try DropoutNoise(rate: 0.1, rng: &rng)
        let keep = Float(noise.threshold) / 65536
        #expect(Swift.abs(keep - 0.9) < 8e-6)
        #expect(Swift.abs(noise.scale * keep - 1) < 1e-6)
    }
}
