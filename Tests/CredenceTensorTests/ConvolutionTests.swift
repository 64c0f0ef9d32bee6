import Testing
@testable import CredenceTensor

/// Direct (nested-loop) references, written for clarity, to check the im2col/GEMM kernels.
private enum ConvolutionReference {
    static func conv2d(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: (Int, Int), padding: (Int, Int)) -> Tensor {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let oh = (h + 2 * padding.0 - kh) / stride.0 + 1, ow = (wd + 2 * padding.1 - kw) / stride.1 + 1
        let xv = x.values, wv = w.values, bv = b?.values
        var y = [Float](repeating: 0, count: n * o * oh * ow)
        for i in 0..<n { for oc in 0..<o { for r in 0..<oh { for s in 0..<ow {
            var acc = Double(bv?[oc] ?? 0)
            for ic in 0..<c { for u in 0..<kh { for v in 0..<kw {
                let iy = r * stride.0 - padding.0 + u, ix = s * stride.1 - padding.1 + v
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                acc += Double(wv[((oc * c + ic) * kh + u) * kw + v]) * Double(xv[((i * c + ic) * h + iy) * wd + ix])
            } } }
            y[((i * o + oc) * oh + r) * ow + s] = Float(acc)
        } } } }
        return Tensor(shape: [n, o, oh, ow], values: y)
    }

    /// (dx, dW, db) of Σ y ⊙ dy.
    static func conv2dGradients(_ x: Tensor, _ w: Tensor, _ dy: Tensor, stride: (Int, Int), padding: (Int, Int))
        -> (Tensor, Tensor, Tensor) {
        let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (o, kh, kw) = (w.shape[0], w.shape[2], w.shape[3])
        let (oh, ow) = (dy.shape[2], dy.shape[3])
        var dx = [Double](repeating: 0, count: x.count), dw = [Double](repeating: 0, count: w.count)
        var db = [Double](repeating: 0, count: o)
        let xv = x.values, wv = w.values, gv = dy.values
        for i in 0..<n { for oc in 0..<o { for r in 0..<oh { for s in 0..<ow {
            let g = Double(gv[((i * o + oc) * oh + r) * ow + s])
            db[oc] += g
            for ic in 0..<c { for u in 0..<kh { for v in 0..<kw {
                let iy = r * stride.0 - padding.0 + u, ix = s * stride.1 - padding.1 + v
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                let xi = ((i * c + ic) * h + iy) * wd + ix, wi = ((oc * c + ic) * kh + u) * kw + v
                dw[wi] += g * Double(xv[xi])
                dx[xi] += g * Double(wv[wi])
            } } }
        } } } }
        return (Tensor(shape: x.shape, values: dx.map(Float.init)), Tensor(shape: w.shape, values: dw.map(Float.init)),
                Tensor(shape: [o], values: db.map(Float.init)))
    }

    static func pool(_ x: Tensor, kernel k: Int, stride s: Int, max: Bool) -> Tensor {
        let (n, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let oh = (h - k) / s + 1, ow = (w - k) / s + 1
        let xv = x.values
        var y = [Float](repeating: 0, count: n * c * oh * ow)
        for plane in 0..<(n * c) { for r in 0..<oh { for q in 0..<ow {
            var best = -Float.infinity, total: Double = 0
            for u in 0..<k { for v in 0..<k {
                let e = xv[(plane * h + r * s + u) * w + q * s + v]
                best = Swift.max(best, e); total += Double(e)
            } }
            y[(plane * oh + r) * ow + q] = max ? best : Float(total / Double(k * k))
        } } }
        return Tensor(shape: [n, c, oh, ow], values: y)
    }
}

@Suite struct ConvolutionTests {
    // MARK: Forward values

    @Test func handComputedConvolution() throws {
        let x = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
        let identity = Tensor(shape: [1, 1, 2, 2], values: [1, 0, 0, 1])
        #expect(try x.conv2d(weight: identity).values == [6, 8, 12, 14])
        #expect(try x.conv2d(weight: identity, bias: Tensor([0.5])).values == [6.5, 8.5, 12.5, 14.5])

        // Padding 1, stride 2 over the 5×5 zero-padded image, kernel [[1, 2], [3, 4]].
        let w = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 4])
        let y = try x.conv2d(weight: w, stride: (2, 2), padding: (1, 1))
        #expect(y.shape == [1, 1, 2, 2])
        #expect(y.values == [4, 18, 36, 77])
    }

    @Test func handComputedChannelsAndOutputs() throws {
        // Two input channels summed; two output channels with their own bias.
        let x = Tensor(shape: [1, 2, 2, 2], values: [1, 2, 3, 4, 10, 20, 30, 40])
        let w = Tensor(shape: [2, 2, 1, 1], values: [1, 1, 2, -1])
        let y = try x.conv2d(weight: w, bias: Tensor([0, 100]))
        #expect(y.shape == [1, 2, 2, 2])
        #expect(y.values == [11, 22, 33, 44, 92, 84, 76, 68])
    }

    @Test(arguments: [
        // (N, C, H, W, O, kh, kw, sh, sw, ph, pw)
        [2, 3, 7, 5, 4, 3, 3, 1, 1, 0, 0],
        [3, 2, 8, 9, 5, 3, 2, 2, 1, 1, 0],
        [1, 4, 6, 6, 3, 1, 1, 1, 1, 0, 0],
        [2, 3, 5, 5, 2, 5, 5, 1, 1, 2, 2],
        [2, 1, 28, 28, 8, 3, 3, 1, 1, 1, 1],
        [1, 3, 11, 10, 4, 4, 3, 3, 2, 1, 2],
        [2, 2, 4, 4, 3, 2, 2, 2, 2, 0, 0],
        [1, 2, 3, 3, 2, 5, 5, 1, 1, 1, 1],
        [2, 5, 9, 7, 6, 1, 1, 2, 2, 1, 0],
        // Stride 1 with output width = input width (the shifted-plane fast path), including
        // kernels wider than the image and rows that fall entirely in the padding.
        [1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2],
        [2, 2, 5, 6, 3, 1, 3, 1, 1, 0, 1],
        [2, 2, 6, 5, 3, 3, 3, 1, 1, 0, 1],
        [1, 2, 4, 1, 2, 3, 1, 1, 1, 1, 0],
        [1, 1, 2, 3, 2, 7, 3, 1, 1, 3, 1],
        // 3×3 / stride 1 with ≥ 16 channels in and out and W' ≥ 7: Winograd F(2×2, 3×3), with
        // even and odd output sizes, paddings 0–2, and 4, 5, 7, 8 tiles per row (overlapping
        // and exact groups of four).
        [2, 16, 6, 8, 16, 3, 3, 1, 1, 1, 1],
        [1, 16, 5, 9, 17, 3, 3, 1, 1, 0, 0],
        [2, 17, 4, 9, 16, 3, 3, 1, 1, 2, 1],
        [1, 16, 2, 7, 16, 3, 3, 1, 1, 1, 1],
        [3, 20, 7, 12, 24, 3, 3, 1, 1, 1, 0],
        [1, 16, 9, 16, 16, 3, 3, 1, 1, 1, 1],
    ])
    func matchesDirectConvolution(_ c: [Int]) throws {
        let x = Tensor.testInput([c[0], c[1], c[2], c[3]], seed: 1)
        let w = Tensor.testInput([c[4], c[1], c[5], c[6]], seed: 2)
        let b = Tensor.testInput([c[4]], seed: 3)
        let stride = (c[7], c[8]), padding = (c[9], c[10])
        if c[1] >= 16 && c[4] >= 16 {
            let geometry = try ConvolutionGeometry(input: x.shape, weight: w.shape, bias: nil, stride: stride, padding: padding)
            #expect(Winograd.applies(to: geometry), "\(c) should exercise the Winograd path")
        }
        let y = try x.conv2d(weight: w, bias: b, stride: stride, padding: padding)
        expectClose(y, ConvolutionReference.conv2d(x, w, b, stride: stride, padding: padding), absolute: 1e-4, relative: 1e-4, "conv2d \(c)")

        let dy = Tensor.testInput(y.shape, seed: 4)
        let grads = try x.conv2dGradients(weight: w, outputGradient: dy, stride: stride, padding: padding)
        let (dx, dw, db) = ConvolutionReference.conv2dGradients(x, w, dy, stride: stride, padding: padding)
        expectClose(try #require(grads.input), dx, absolute: 1e-4, relative: 1e-4, "dx \(c)")
        expectClose(try #require(grads.weight), dw, absolute: 1e-4, relative: 1e-4, "dW \(c)")
        expectClose(try #require(grads.bias), db, absolute: 1e-4, relative: 1e-4, "db \(c)")
    }

    /// Large enough to split images across threads, and the same call inside a parallel
    /// region (serial, single-threaded GEMMs) — both against the direct reference. The
    /// second shape is the target CNN's second layer (Winograd path).
    @Test(arguments: [[12, 8, 14, 14, 16], [6, 32, 14, 14, 64]])
    func threadedAndNestedPathsAgree(_ s: [Int]) throws {
        let x = Tensor.testInput([s[0], s[1], s[2], s[3]], seed: 5), w = Tensor.testInput([s[4], s[1], 3, 3], seed: 6, scale: 0.3)
        let b = Tensor.testInput([s[4]], seed: 7)
        let geometry = try ConvolutionGeometry(input: x.shape, weight: w.shape, bias: nil, stride: (1, 1), padding: (1, 1))
        #expect(s[0] * geometry.workPerImage >= Convolution.parallelThreshold)
        let y = try x.conv2d(weight: w, bias: b, padding: (1, 1))
        let reference = ConvolutionReference.conv2d(x, w, b, stride: (1, 1), padding: (1, 1))
        expectClose(y, reference, absolute: 1e-4, relative: 1e-4, "threaded conv2d")
        let dy = Tensor.testInput(y.shape, seed: 8)
        let (dx, dw, db) = ConvolutionReference.conv2dGradients(x, w, dy, stride: (1, 1), padding: (1, 1))
        let threaded = try x.conv2dGradients(weight: w, outputGradient: dy, padding: (1, 1))
        expectClose(try #require(threaded.input), dx, absolute: 1e-4, relative: 1e-4, "threaded dx")
        expectClose(try #require(threaded.weight), dw, absolute: 1e-4, relative: 1e-4, "threaded dW")
        expectClose(try #require(threaded.bias), db, absolute: 1e-4, relative: 1e-4, "threaded db")

        nonisolated(unsafe) var nested: [Tensor] = []
        Parallel.forEach(2) { i in
            if i == 0 {
                let g = try! x.conv2dGradients(weight: w, outputGradient: dy, padding: (1, 1))
                nested = [try! x.conv2d(weight: w, bias: b, padding: (1, 1)), g.input!, g.weight!, g.bias!]
            }
        }
        expectClose(nested[0], reference, absolute: 1e-4, relative: 1e-4, "nested conv2d")
        expectClose(nested[1], dx, absolute: 1e-4, relative: 1e-4, "nested dx")
        expectClose(nested[2], dw, absolute: 1e-4, relative: 1e-4, "nested dW")
        expectClose(nested[3], db, absolute: 1e-4, relative: 1e-4, "nested db")
    }

    @Test func handComputedPooling() throws {
        let x = Tensor(shape: [1, 1, 2, 4], values: [1, 5, 2, 0, 3, 4, 8, 7])
        #expect(try x.maxPool2d(kernel: 2).values == [5, 8])
        #expect(try x.avgPool2d(kernel: 2).values == [3.25, 4.25])
        #expect(try x.globalAveragePool().values == [3.75])
        // Floor mode: 5×5 with a 2×2 window drops the last row and column.
        let y = Tensor(shape: [1, 1, 5, 5], values: (0..<25).map(Float.init))
        let pooled = try y.maxPool2d(kernel: 2)
        #expect(pooled.shape == [1, 1, 2, 2])
        #expect(pooled.values == [6, 8, 16, 18])
        // Overlapping windows (kernel 3, stride 1).
        #expect(try y.maxPool2d(kernel: 3, stride: 1).values == [12, 13, 14, 17, 18, 19, 22, 23, 24])
        #expect(try y.avgPool2d(kernel: 3, stride: 2).values == [6, 8, 16, 18])
    }

    @Test(arguments: [
        // (N, C, H, W, kernel, stride)
        [2, 3, 8, 8, 2, 2], [1, 2, 7, 9, 2, 2], [2, 2, 9, 7, 3, 2], [1, 3, 6, 5, 3, 1], [2, 1, 5, 8, 2, 3],
        [16, 32, 28, 28, 2, 2],
    ])
    func poolingMatchesDirectLoops(_ c: [Int]) throws {
        let x = Tensor.testInput([c[0], c[1], c[2], c[3]], seed: 9)
        expectClose(try x.maxPool2d(kernel: c[4], stride: c[5]), ConvolutionReference.pool(x, kernel: c[4], stride: c[5], max: true),
                    absolute: 0, relative: 0, "maxPool2d \(c)")
        expectClose(try x.avgPool2d(kernel: c[4], stride: c[5]), ConvolutionReference.pool(x, kernel: c[4], stride: c[5], max: false),
                    absolute: 1e-5, relative: 1e-5, "avgPool2d \(c)")
    }

    @Test func maxPoolRoutesGradientToArgmax() throws {
        // 3×5 input, 2×2 windows: the last row and column are outside every window.
        let x = Tensor(shape: [1, 1, 3, 5], values: [1, 9, 2, 3, 50,
                                                     4, 0, 8, 1, 60,
                                                     70, 80, 90, 99, 100])
        let tape = Tape()
        let v = tape.variable(x)
        let y = try v.maxPool2d(kernel: 2)
        #expect(y.value.values == [9, 8])
        let dx = tape.gradients(of: y, seed: Tensor(shape: [1, 1, 1, 2], values: [2, 3]))[v]
        #expect(dx.values == [0, 2, 0, 0, 0,
                              0, 0, 3, 0, 0,
                              0, 0, 0, 0, 0])
    }

    @Test func maxPoolPropagatesNaN() throws {
        let x = Tensor(shape: [1, 1, 2, 2], values: [1, .nan, 3, 2])
        #expect(try x.maxPool2d(kernel: 2).values[0].isNaN)
        #expect(try x.maxPool2d(kernel: 1).values[1].isNaN)
        // The vectorised 2×2 path (≥ 4 windows per row): a NaN in each window position.
        var values = [Float](repeating: 1, count: 20)
        for i in [0, 3, 14, 17] { values[i] = .nan }
        values[9] = 5
        let tape = Tape()
        let v = tape.variable(Tensor(shape: [1, 1, 2, 10], values: values))
        let y = try v.maxPool2d(kernel: 2)
        let firstFourNaN = y.value.values.prefix(4).allSatisfy { $0.isNaN }
        #expect(firstFourNaN)
        #expect(y.value.values[4] == 5)
        let dx = tape.gradients(of: y)[v].values
        let routed = [0, 3, 14, 17, 9].allSatisfy { dx[$0] == 1 } && dx.reduce(0, +) == 5
        #expect(routed, "gradient \(dx)")
    }

    /// ReLU then max pooling in one pass gives the two layers' outputs, argmax positions and
    /// input gradients bit for bit — on the vectorised 2×2 path and the general one (overlapping
    /// windows accumulate), with negatives only, ties at zero, NaN (the ReLU makes it 0) and
    /// ±inf — and its gradient matches finite differences away from the kinks.
    @Test(arguments: [[2, 3, 6, 12, 2, 2], [1, 2, 7, 9, 2, 2], [1, 3, 6, 5, 3, 1], [2, 1, 5, 8, 2, 3]])
    func reluThenMaxPoolInOnePassGivesTheLayersNumbers(_ c: [Int]) throws {
        let shape = [c[0], c[1], c[2], c[3]], k = c[4], s = c[5]
        var values = Tensor.testInput(shape, seed: 31).values
        for i in stride(from: 0, to: values.count, by: 11) { values[i] = 0 }
        for i in stride(from: 5, to: values.count, by: 17) { values[i] = -values[i].magnitude }
        values[1] = .nan; values[2] = .infinity; values[7] = -.infinity
        for i in 0..<Swift.min(8, values.count / 4) { values[values.count - 1 - i] = -1 }   // a window of negatives
        let x = Tensor(shape: shape, values: values)
        let seed = Tensor.testInput(try x.maxPool2d(kernel: k, stride: s).shape, seed: 4)
        func run(fused: Bool) throws -> ([UInt32], [UInt32]) {
            let tape = Tape()
            let v = tape.variable(x)
            let y = fused ? try v.reluMaxPool2d(kernel: k, stride: s) : try v.relu().maxPool2d(kernel: k, stride: s)
            return (y.value.values.map(\.bitPattern), tape.gradients(of: y, seed: seed)[v].values.map(\.bitPattern))
        }
        let (fused, layered) = (try run(fused: true), try run(fused: false))
        #expect(fused.0 == layered.0, "outputs \(c)")
        #expect(fused.1 == layered.1, "input gradients \(c)")
        try GradientCheck().check("reluMaxPool2d \(c)", [Tensor.distinctInput(shape, seed: 23)]) { v in
            try v[0].reluMaxPool2d(kernel: k, stride: s)
        }
    }

    @Test func constantsRecordNothing() throws {
        let x = Variable(constant: Tensor.testInput([1, 2, 4, 4], seed: 1))
        let w = Variable(constant: Tensor.testInput([3, 2, 3, 3], seed: 2))
        let y = try x.conv2d(weight: w, bias: nil, padding: (1, 1)).maxPool2d(kernel: 2).globalAveragePool()
        #expect(!y.isTracked)
        #expect(y.shape == [1, 3])
    }

    /// The pullbacks must not capture `Variable`s: the tape owns the pullbacks, so that would
    /// be a retain cycle keeping every step's tape and activations alive.
    @Test func tapeIsReleasedAfterBackward() throws {
        weak var released: Tape?
        do {
            let tape = Tape()
            released = tape
            let x = tape.variable(Tensor.testInput([2, 16, 8, 8], seed: 1))
            let w1 = tape.variable(Tensor.testInput([16, 16, 3, 3], seed: 2)), b1 = tape.variable(Tensor.testInput([16], seed: 3))
            let w2 = tape.variable(Tensor.testInput([4, 16, 1, 1], seed: 4))
            let h = try x.conv2d(weight: w1, bias: b1, padding: (1, 1)).maxPool2d(kernel: 2)
            let y = try h.conv2d(weight: w2, bias: nil).avgPool2d(kernel: 2).globalAveragePool()
            _ = tape.gradients(of: y)
        }
        #expect(released == nil, "the tape (and every activation on it) is still alive")
    }

    // MARK: Gradients (finite differences)

    @Test(arguments: [
        // (N, C, H, W, O, kh, kw, sh, sw, ph, pw)
        [2, 3, 5, 6, 4, 3, 2, 1, 1, 0, 0],
        [2, 3, 5, 6, 4, 3, 3, 1, 1, 1, 1],
        [2, 2, 7, 6, 3, 3, 3, 2, 2, 0, 0],
        [2, 2, 7, 6, 3, 3, 2, 2, 1, 1, 0],
        [3, 2, 5, 4, 2, 2, 3, 2, 2, 1, 1],
        [2, 3, 4, 5, 2, 1, 1, 1, 1, 0, 0],
        [2, 2, 6, 5, 3, 3, 3, 1, 1, 0, 1],
        [1, 2, 3, 3, 2, 5, 5, 1, 1, 2, 2],
        [1, 16, 3, 9, 16, 3, 3, 1, 1, 1, 1],   // Winograd
    ])
    func conv2dGradients(_ c: [Int]) throws {
        let x = Tensor.testInput([c[0], c[1], c[2], c[3]], seed: 11)
        let w = Tensor.testInput([c[4], c[1], c[5], c[6]], seed: 12, scale: 0.5)
        let b = Tensor.testInput([c[4]], seed: 13)
        let stride = (c[7], c[8]), padding = (c[9], c[10])
        try GradientCheck().check("conv2d \(c)", [x, w, b]) { v in
            try v[0].conv2d(weight: v[1], bias: v[2], stride: stride, padding: padding)
        }
        try GradientCheck().check("conv2d no bias \(c)", [x, w]) { v in
            try v[0].conv2d(weight: v[1], bias: nil, stride: stride, padding: padding)
        }
    }

    @Test func convolutionGradientWithOnlySomeInputsTracked() throws {
        let x = Tensor.testInput([2, 2, 5, 5], seed: 14), w = Tensor.testInput([3, 2, 3, 3], seed: 15)
        let b = Tensor.testInput([3], seed: 16)
        // Input gradient only (as an attack needs) and weight gradient only.
        try GradientCheck().check("conv2d d/dx", [x]) { v in
            try v[0].conv2d(weight: Variable(constant: w), bias: Variable(constant: b), padding: (1, 1))
        }
        try GradientCheck().check("conv2d d/dW", [w]) { v in
            try Variable(constant: x).conv2d(weight: v[0], bias: Variable(constant: b), stride: (2, 2))
        }
    }

    @Test(arguments: [[2, 3, 6, 6, 2, 2], [1, 2, 7, 5, 2, 2], [2, 2, 7, 7, 3, 2], [1, 2, 5, 6, 3, 1],
                      // 2×2 / stride 2 with at least four outputs per row: the SIMD path,
                      // including an overlapping last quad (W' = 5) and odd H, W.
                      [1, 2, 8, 10, 2, 2], [2, 2, 5, 17, 2, 2]])
    func poolingGradients(_ c: [Int]) throws {
        let shape = [c[0], c[1], c[2], c[3]], k = c[4], s = c[5]
        try GradientCheck().check("maxPool2d \(c)", [Tensor.distinctInput(shape, seed: 21)]) { v in try v[0].maxPool2d(kernel: k, stride: s) }
        try GradientCheck().check("avgPool2d \(c)", [Tensor.testInput(shape, seed: 17)]) { v in
            try v[0].avgPool2d(kernel: k, stride: s)
        }
    }

    @Test func globalAveragePoolGradient() throws {
        try GradientCheck().check("globalAveragePool", [Tensor.testInput([2, 3, 4, 5], seed: 18)]) { v in
            try v[0].globalAveragePool()
        }
    }

    @Test func smallNetworkGradient() throws {
        // conv → maxpool → conv → global average: the pieces composed as in a CNN.
        let x = Tensor.distinctInput([2, 1, 6, 6], seed: 22)
        let w1 = Tensor.testInput([3, 1, 3, 3], seed: 19), w2 = Tensor.testInput([2, 3, 2, 2], seed: 20)
        try GradientCheck().check("small CNN", [w1, w2]) { v in
            let h = try Variable(constant: x).conv2d(weight: v[0], bias: nil, padding: (1, 1)).avgPool2d(kernel: 2)
            return try h.conv2d(weight: v[1], bias: nil).globalAveragePool()
        }
    }

    // MARK: Errors

    @Test func rejectsBadShapes() throws {
        let x = Tensor.testInput([1, 3, 5, 5], seed: 1)
        let channels = #expect(throws: TensorError.self) { try x.conv2d(weight: Tensor.testInput([4, 2, 3, 3], seed: 2)) }
        #expect(channels?.description.contains("[1, 3, 5, 5]") == true)
        #expect(channels?.description.contains("[4, 2, 3, 3]") == true)
        #expect(channels?.description.contains("channels") == true)

        let rank = #expect(throws: TensorError.self) {
            try Tensor.testInput([3, 5, 5], seed: 3).conv2d(weight: Tensor.testInput([4, 3, 3, 3], seed: 2))
        }
        #expect(rank?.description.contains("[3, 5, 5]") == true)
        #expect(rank?.description.contains("rank 4") == true)

        let weightRank = #expect(throws: TensorError.self) { try x.conv2d(weight: Tensor.testInput([4, 3, 3], seed: 2)) }
        #expect(weightRank?.description.contains("[4, 3, 3]") == true)

        let small = Tensor.testInput([1, 1, 2, 2], seed: 4), big = Tensor.testInput([1, 1, 3, 3], seed: 5)
        let tooBig = #expect(throws: TensorError.self) { try small.conv2d(weight: big) }
        #expect(tooBig?.description.contains("[1, 1, 2, 2]") == true)
        #expect(tooBig?.description.contains("[1, 1, 3, 3]") == true)
        #expect(tooBig?.description.contains("larger than the padded input") == true)
        #expect(try small.conv2d(weight: big, padding: (1, 1)).shape == [1, 1, 2, 2])

        let stride = #expect(throws: TensorError.self) { try x.conv2d(weight: Tensor.testInput([2, 3, 3, 3], seed: 2), stride: (0, 1)) }
        #expect(stride?.description.contains("stride") == true)

        let bias = #expect(throws: TensorError.self) {
            try x.conv2d(weight: Tensor.testInput([2, 3, 3, 3], seed: 2), bias: Tensor([1, 2, 3]))
        }
        #expect(bias?.description.contains("[2]") == true)

        // The differentiable versions throw the same errors before recording anything.
        let tape = Tape()
        #expect(throws: TensorError.self) {
            try tape.variable(x).conv2d(weight: tape.variable(Tensor.testInput([4, 2, 3, 3], seed: 2)), bias: nil)
        }
        #expect(tape.nodeCount == 2)
    }

    @Test func poolingRejectsBadShapes() throws {
        let x = Tensor.testInput([1, 2, 3, 3], seed: 1)
        let tooBig = #expect(throws: TensorError.self) { try x.maxPool2d(kernel: 4) }
        #expect(tooBig?.description.contains("[1, 2, 3, 3]") == true)
        #expect(throws: TensorError.self) { try x.avgPool2d(kernel: 2, stride: 0) }
        #expect(throws: TensorError.self) { try x.maxPool2d(kernel: 0) }
        let rank = #expect(throws: TensorError.self) { try Tensor.testInput([2, 3, 3], seed: 1).maxPool2d(kernel: 2) }
        #expect(rank?.description.contains("[2, 3, 3]") == true)
        #expect(throws: TensorError.self) { try Tensor.testInput([2, 3], seed: 1).globalAveragePool() }
        #expect(throws: TensorError.self) { try Variable(constant: Tensor.testInput([2, 3], seed: 1)).globalAveragePool() }
    }
}
