import Foundation

/// Winograd's minimal filtering F(2×2, 3×3) for 3×3, stride-1 convolutions (Lavin & Gray,
/// "Fast Algorithms for Convolutional Neural Networks", CVPR 2016). Each 2×2 output tile is
///
///     Y = Aᵀ [ Σ_c (G g_c Gᵀ) ⊙ (Bᵀ d_c B) ] A
///
/// from the 4×4 input tile d_c of every channel, so the channel sums become 16 independent
/// GEMMs U[ξ] [O, C] · V[ξ] [C, tiles] — 16 multiplies per tile and channel pair instead of
/// im2col's 36. The input gradient is the adjoint, dd = B [Σ_o U[ξ]ᵀ (A dy Aᵀ)] Bᵀ, added back
/// into the overlapping tiles. Rounding differs from direct convolution by a few ulps of the
/// operands' magnitude (the transforms only add, subtract and halve).
enum Winograd {
    /// Tiles transformed and multiplied together (the GEMMs' width); whole images fill it.
    /// Small enough that the transformed tiles (16·C and 16·O floats per tile) stay in L2:
    /// on 14×14 maps with 32→64 channels, 98 tiles (two images) measured fastest of 49–784.
    static let tilesPerGroup = 98

    /// Tiles cover the output in 2×2 steps; the padded input plane holds every 4×4 tile.
    struct Layout {
        let tilesHigh: Int, tilesWide: Int, paddedHeight: Int, paddedWidth: Int
        var tilesPerImage: Int { tilesHigh * tilesWide }
        var paddedPlane: Int { paddedHeight * paddedWidth }
        init(_ g: WindowGeometry) {
            tilesHigh = (g.outputHeight + 1) / 2
            tilesWide = (g.outputWidth + 1) / 2
            paddedHeight = 2 * tilesHigh + 2
            paddedWidth = 2 * tilesWide + 2
        }
    }

    /// 3×3 kernels, stride 1, and enough channels on both sides for the 16 GEMMs of depth C
    /// and height O to run efficiently (the first layer of a CNN, C = 1 or 3, stays on im2col).
    /// At least four tiles per row (W' ≥ 7): the transforms work on four tiles at a time.
    static func applies(to cg: ConvolutionGeometry) -> Bool {
        let g = cg.window
        return g.kernelHeight == 3 && g.kernelWidth == 3 && g.strideHeight == 1 && g.strideWidth == 1
            && g.channels >= 16 && cg.outputChannels >= 16 && g.outputHeight >= 2 && g.outputWidth >= 7
    }

    /// Images per group so that a group holds about `tilesPerGroup` tiles.
    static func imagesPerGroup(_ layout: Layout) -> Int { Swift.max(1, tilesPerGroup / layout.tilesPerImage) }

    /// U[ξ, o, c] = (G g Gᵀ)[ξ] for every kernel g = W[o, c], with
    /// G = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]].
    static func transformWeights(_ w: UnsafePointer<Float>, outputChannels: Int, channels: Int,
                                 into u: UnsafeMutablePointer<Float>) {
        let plane = outputChannels * channels
        @inline(__always) func expand(_ a: Float, _ b: Float, _ c: Float) -> (Float, Float, Float, Float) {
            (a, 0.5 * (a + b + c), 0.5 * (a - b + c), c)
        }
        for i in 0..<plane {
            let k = w + i * 9
            // G·g column by column; row r of G·g is (c0.r, c1.r, c2.r).
            let c0 = expand(k[0], k[3], k[6]), c1 = expand(k[1], k[4], k[7]), c2 = expand(k[2], k[5], k[8])
            func store(_ r: Int, _ v: (Float, Float, Float, Float)) {
                let base = u + 4 * r * plane + i
                base[0] = v.0; base[plane] = v.1; base[2 * plane] = v.2; base[3 * plane] = v.3
            }
            store(0, expand(c0.0, c1.0, c2.0)); store(1, expand(c0.1, c1.1, c2.1))
            store(2, expand(c0.2, c1.2, c2.2)); store(3, expand(c0.3, c1.3, c2.3))
        }
    }

    // The transforms below handle four horizontally adjacent tiles at a time in SIMD4 lanes
    // (tile columns are two floats apart, so an 8-float load splits into even and odd lanes).
    // When the tiles per row are not a multiple of four, the last group of four overlaps the
    // previous one: harmless for the transforms that only write their own outputs, masked
    // for the one that accumulates.

    /// Start of each group of four tiles in a row of `count` ≥ 4 tiles, and how many leading
    /// lanes repeat tiles already done.
    @inline(__always) static func forEachQuad(_ count: Int, _ body: (_ tx: Int, _ repeated: Int) -> Void) {
        var tx = 0, repeated = 0
        while true {
            body(tx, repeated)
            if tx == count - 4 { return }
            let next = Swift.min(tx + 4, count - 4)
            repeated = tx + 4 - next
            tx = next
        }
    }

    /// V[ξ, c, t] = (Bᵀ d B)[ξ] for the tiles of images `images` (tile t = image slot ·
    /// tilesPerImage + ty · tilesWide + tx), with Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0],
    /// [0, −1, 1, 0], [0, 1, 0, −1]]. `padded` is scratch for one zero-padded plane.
    static func transformInput(_ g: WindowGeometry, _ layout: Layout, input: UnsafePointer<Float>, images: Range<Int>,
                               padded: UnsafeMutablePointer<Float>, into v: UnsafeMutablePointer<Float>) {
        let tiles = images.count * layout.tilesPerImage, pw = layout.paddedWidth
        let xi = g.channels * tiles
        let rows = Swift.min(g.height, layout.paddedHeight - g.paddingHeight)
        let cols = Swift.min(g.width, pw - g.paddingWidth)
        padded.update(repeating: 0, count: layout.paddedPlane)
        for (slot, n) in images.enumerated() {
            for c in 0..<g.channels {
                // Only the interior is rewritten, so the border stays zero from the fill above.
                let src = input + (n * g.channels + c) * g.inputPlane
                for y in 0..<rows {
                    Convolution.copy(padded + (y + g.paddingHeight) * pw + g.paddingWidth, src + y * g.width, cols)
                }
                let out = v + c * tiles + slot * layout.tilesPerImage
                for ty in 0..<layout.tilesHigh {
                    let r0 = padded + 2 * ty * pw, r1 = r0 + pw, r2 = r1 + pw, r3 = r2 + pw
                    let o = out + ty * layout.tilesWide
                    forEachQuad(layout.tilesWide) { tx, _ in
                        // Columns 0...3 of four tiles from each row, Bᵀ along rows, then columns.
                        let d0 = tileColumns(r0 + 2 * tx), d1 = tileColumns(r1 + 2 * tx)
                        let d2 = tileColumns(r2 + 2 * tx), d3 = tileColumns(r3 + 2 * tx)
                        let p = o + tx
                        storeInputTransform(d0.0 - d2.0, d0.1 - d2.1, d0.2 - d2.2, d0.3 - d2.3, p, xi, 0)
                        storeInputTransform(d1.0 + d2.0, d1.1 + d2.1, d1.2 + d2.2, d1.3 + d2.3, p, xi, 4)
                        storeInputTransform(d2.0 - d1.0, d2.1 - d1.1, d2.2 - d1.2, d2.3 - d1.3, p, xi, 8)
                        storeInputTransform(d1.0 - d3.0, d1.1 - d3.1, d1.2 - d3.2, d1.3 - d3.3, p, xi, 12)
                    }
                }
            }
        }
    }

    /// Columns 0, 1, 2, 3 of four tiles starting at `row` (tile k starts at row[2k]).
    @inline(__always) static func tileColumns(_ row: UnsafePointer<Float>)
        -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
        let a = UnsafeRawPointer(row).loadUnaligned(as: SIMD8<Float>.self)
        let b = UnsafeRawPointer(row + 2).loadUnaligned(as: SIMD8<Float>.self)
        return (a.evenHalf, a.oddHalf, b.evenHalf, b.oddHalf)
    }

    /// Bᵀ along one row of the tile: V[first + j] for j = 0...3.
    @inline(__always) static func storeInputTransform(_ x0: SIMD4<Float>, _ x1: SIMD4<Float>, _ x2: SIMD4<Float>,
                                                      _ x3: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>,
                                                      _ stride: Int, _ first: Int) {
        store(x0 - x2, p + first * stride)
        store(x1 + x2, p + (first + 1) * stride)
        store(x2 - x1, p + (first + 2) * stride)
        store(x1 - x3, p + (first + 3) * stride)
    }

    @inline(__always) static func load(_ p: UnsafePointer<Float>) -> SIMD4<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD4<Float>.self)
    }
    @inline(__always) static func store(_ v: SIMD4<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD4<Float>.self)
    }
    /// (a0, b0, a1, b1, a2, b2, a3, b3): values for even and odd columns side by side.
    @inline(__always) static func interleave(_ a: SIMD4<Float>, _ b: SIMD4<Float>) -> SIMD8<Float> {
        SIMD8(a[0], b[0], a[1], b[1], a[2], b[2], a[3], b[3])
    }

    /// y[n, o] tiles = Aᵀ m A (+ bias) from M[ξ, o, t], with Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]].
    /// An odd output size is written through `scratch` (one 2·tilesHigh × 2·tilesWide plane)
    /// and cropped.
    static func transformOutput(_ g: WindowGeometry, _ layout: Layout, outputChannels: Int, m: UnsafePointer<Float>,
                                images: Range<Int>, bias: UnsafePointer<Float>?, scratch: UnsafeMutablePointer<Float>,
                                output: UnsafeMutablePointer<Float>) {
        let tiles = images.count * layout.tilesPerImage, xi = outputChannels * tiles
        let ow = g.outputWidth, even = g.outputHeight % 2 == 0 && ow % 2 == 0
        let stride = even ? ow : 2 * layout.tilesWide
        for (slot, n) in images.enumerated() {
            for oc in 0..<outputChannels {
                let b = SIMD4<Float>(repeating: bias?[oc] ?? 0)
                let src = m + oc * tiles + slot * layout.tilesPerImage
                let plane = output + (n * outputChannels + oc) * g.outputPlane
                let dst = even ? plane : scratch
                for ty in 0..<layout.tilesHigh {
                    let s = src + ty * layout.tilesWide
                    let top = dst + 2 * ty * stride, bottom = top + stride
                    forEachQuad(layout.tilesWide) { tx, _ in
                        let p = s + tx
                        // Aᵀ along rows (ξ = 4i + j, row i), then along columns.
                        func row(_ i: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
                            (load(p + 4 * i * xi), load(p + (4 * i + 1) * xi), load(p + (4 * i + 2) * xi), load(p + (4 * i + 3) * xi))
                        }
                        let m0 = row(0), m1 = row(1), m2 = row(2), m3 = row(3)
                        let s0 = m0.0 + m1.0 + m2.0, s1 = m0.1 + m1.1 + m2.1, s2 = m0.2 + m1.2 + m2.2, s3 = m0.3 + m1.3 + m2.3
                        let t0 = m1.0 - m2.0 - m3.0, t1 = m1.1 - m2.1 - m3.1, t2 = m1.2 - m2.2 - m3.2, t3 = m1.3 - m2.3 - m3.3
                        let x = 2 * tx
                        UnsafeMutableRawPointer(top + x).storeBytes(of: interleave(s0 + s1 + s2 + b, s1 - s2 - s3 + b), as: SIMD8<Float>.self)
                        UnsafeMutableRawPointer(bottom + x).storeBytes(of: interleave(t0 + t1 + t2 + b, t1 - t2 - t3 + b), as: SIMD8<Float>.self)
                    }
                }
                if !even {
                    for y in 0..<g.outputHeight { Convolution.copy(plane + y * ow, scratch + y * stride, ow) }
                }
            }
        }
    }

    /// dM[ξ, o, t] = (A dy Aᵀ)[ξ] for the 2×2 output-gradient tiles (zero beyond the output;
    /// an odd output size is first copied into the zero-bordered `scratch`).
    static func transformOutputGradient(_ g: WindowGeometry, _ layout: Layout, outputChannels: Int,
                                        outputGradient: UnsafePointer<Float>, images: Range<Int>,
                                        scratch: UnsafeMutablePointer<Float>, into dm: UnsafeMutablePointer<Float>) {
        let tiles = images.count * layout.tilesPerImage, xi = outputChannels * tiles
        let ow = g.outputWidth, even = g.outputHeight % 2 == 0 && ow % 2 == 0
        let stride = even ? ow : 2 * layout.tilesWide
        if !even { scratch.update(repeating: 0, count: 4 * layout.tilesPerImage) }
        for (slot, n) in images.enumerated() {
            for oc in 0..<outputChannels {
                var src = outputGradient + (n * outputChannels + oc) * g.outputPlane
                if !even {
                    for y in 0..<g.outputHeight { Convolution.copy(scratch + y * stride, src + y * ow, ow) }
                    src = UnsafePointer(scratch)
                }
                let dst = dm + oc * tiles + slot * layout.tilesPerImage
                for ty in 0..<layout.tilesHigh {
                    let top = src + 2 * ty * stride, bottom = top + stride
                    let d = dst + ty * layout.tilesWide
                    forEachQuad(layout.tilesWide) { tx, _ in
                        let u = UnsafeRawPointer(top + 2 * tx).loadUnaligned(as: SIMD8<Float>.self)
                        let l = UnsafeRawPointer(bottom + 2 * tx).loadUnaligned(as: SIMD8<Float>.self)
                        let g00 = u.evenHalf, g01 = u.oddHalf, g10 = l.evenHalf, g11 = l.oddHalf
                        // A = [[1, 0], [1, 1], [1, −1], [0, −1]] along rows, then columns.
                        let p = d + tx
                        storeOutputGradientTransform(g00, g01, p, xi, 0)
                        storeOutputGradientTransform(g00 + g10, g01 + g11, p, xi, 4)
                        storeOutputGradientTransform(g00 - g10, g01 - g11, p, xi, 8)
                        storeOutputGradientTransform(-g10, -g11, p, xi, 12)
                    }
                }
            }
        }
    }

    /// A along one row of the tile: dM[first + j] for j = 0...3.
    @inline(__always) static func storeOutputGradientTransform(_ x0: SIMD4<Float>, _ x1: SIMD4<Float>,
                                                               _ p: UnsafeMutablePointer<Float>, _ stride: Int, _ first: Int) {
        store(x0, p + first * stride)
        store(x0 + x1, p + (first + 1) * stride)
        store(x0 - x1, p + (first + 2) * stride)
        store(-x1, p + (first + 3) * stride)
    }

    /// dx[n, c] = the interior of Σ_tiles B dV Bᵀ placed at each tile's 4×4 input window
    /// (the adjoint of `transformInput`). `padded` is scratch for one padded plane.
    static func transformInputGradient(_ g: WindowGeometry, _ layout: Layout, dv: UnsafePointer<Float>, images: Range<Int>,
                                       padded: UnsafeMutablePointer<Float>, inputGradient: UnsafeMutablePointer<Float>) {
        let tiles = images.count * layout.tilesPerImage, pw = layout.paddedWidth
        let xi = g.channels * tiles
        let rows = Swift.min(g.height, layout.paddedHeight - g.paddingHeight)
        let cols = Swift.min(g.width, pw - g.paddingWidth)
        let lane = SIMD4<Int32>(0, 1, 2, 3)
        for (slot, n) in images.enumerated() {
            for c in 0..<g.channels {
                padded.update(repeating: 0, count: layout.paddedPlane)
                let src = dv + c * tiles + slot * layout.tilesPerImage
                for ty in 0..<layout.tilesHigh {
                    let r0 = padded + 2 * ty * pw, r1 = r0 + pw, r2 = r1 + pw, r3 = r2 + pw
                    let s = src + ty * layout.tilesWide
                    forEachQuad(layout.tilesWide) { tx, repeated in
                        let p = s + tx
                        // Tiles already added by the previous group of four contribute zero here.
                        let skip = lane .< Int32(repeated)
                        // B maps (x0, x1, x2, x3) → (x0, x1 − x2 + x3, −x0 + x1 + x2, −x3): along
                        // columns j within each row i, then along rows.
                        func row(_ i: Int) -> (SIMD4<Float>, SIMD4<Float>, SIMD4<Float>, SIMD4<Float>) {
                            let x0 = load(p + 4 * i * xi).replacing(with: 0, where: skip)
                            let x1 = load(p + (4 * i + 1) * xi).replacing(with: 0, where: skip)
                            let x2 = load(p + (4 * i + 2) * xi).replacing(with: 0, where: skip)
                            let x3 = load(p + (4 * i + 3) * xi).replacing(with: 0, where: skip)
                            return (x0, x1 - x2 + x3, -x0 + x1 + x2, -x3)
                        }
                        let a = row(0), b = row(1), c = row(2), d = row(3)
                        let x = 2 * tx
                        accumulate(a.0, a.1, a.2, a.3, r0 + x)
                        accumulate(b.0 - c.0 + d.0, b.1 - c.1 + d.1, b.2 - c.2 + d.2, b.3 - c.3 + d.3, r1 + x)
                        accumulate(b.0 + c.0 - a.0, b.1 + c.1 - a.1, b.2 + c.2 - a.2, b.3 + c.3 - a.3, r2 + x)
                        accumulate(-d.0, -d.1, -d.2, -d.3, r3 + x)
                    }
                }
                let dst = inputGradient + (n * g.channels + c) * g.inputPlane
                for y in 0..<g.height {
                    if y < rows {
                        Convolution.copy(dst + y * g.width, padded + (y + g.paddingHeight) * pw + g.paddingWidth, cols)
                        Convolution.fill(dst + y * g.width + cols, 0, g.width - cols)
                    } else {
                        Convolution.fill(dst + y * g.width, 0, g.width)
                    }
                }
            }
        }
    }

    /// Adds columns 0...3 of four tiles into a padded row (tile k covers row[2k ..< 2k + 4]).
    @inline(__always) static func accumulate(_ c0: SIMD4<Float>, _ c1: SIMD4<Float>, _ c2: SIMD4<Float>,
                                             _ c3: SIMD4<Float>, _ row: UnsafeMutablePointer<Float>) {
        let first = UnsafeMutableRawPointer(row), second = UnsafeMutableRawPointer(row + 2)
        first.storeBytes(of: first.loadUnaligned(as: SIMD8<Float>.self) + interleave(c0, c1), as: SIMD8<Float>.self)
        second.storeBytes(of: second.loadUnaligned(as: SIMD8<Float>.self) + interleave(c2, c3), as: SIMD8<Float>.self)
    }

    /// Forward convolution of images `images` in groups (see `Convolution.forward`).
    static func forward(_ cg: ConvolutionGeometry, input: UnsafePointer<Float>, u: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>, images: Range<Int>) {
        let g = cg.window, layout = Layout(g), o = cg.outputChannels, c = g.channels
        let group = imagesPerGroup(layout), maxTiles = Swift.min(group, images.count) * layout.tilesPerImage
        // `padded` serves as the padded input plane and as the odd-size output plane.
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: layout.paddedPlane)
        let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * maxTiles)
        let m = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * maxTiles)
        defer { padded.deallocate(); v.deallocate(); m.deallocate() }
        for start in stride(from: images.lowerBound, to: images.upperBound, by: group) {
            let chunk = start..<Swift.min(start + group, images.upperBound), tiles = chunk.count * layout.tilesPerImage
            transformInput(g, layout, input: input, images: chunk, padded: padded, into: v)
            for xi in 0..<16 {
                BLAS.sgemm(transA: false, transB: false, m: o, n: tiles, k: c, alpha: 1, a: u + xi * o * c, lda: c,
                           b: v + xi * c * tiles, ldb: tiles, beta: 0, c: m + xi * o * tiles, ldc: tiles)
            }
            transformOutput(g, layout, outputChannels: o, m: m, images: chunk, bias: bias, scratch: padded, output: output)
        }
    }

    /// Gradients of images `images` in groups. With dM[ξ] = (A dy Aᵀ)[ξ] for the output-gradient
    /// tiles: the input gradient is the adjoint input transform of dV[ξ] = U[ξ]ᵀ · dM[ξ]; the
    /// weight gradient is dW = Gᵀ dU G per kernel with dU[ξ] = Σ_tiles dM[ξ] · V[ξ]ᵀ, V the
    /// input tiles transformed again as the forward pass did (16 multiplies per tile and channel
    /// pair instead of im2col's 36, and no im2col). `weightGradient` is overwritten with this
    /// range's sum; pass nil for a gradient not needed.
    static func backward(_ cg: ConvolutionGeometry, u: UnsafePointer<Float>, input: UnsafePointer<Float>,
                         outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
                         weightGradient: UnsafeMutablePointer<Float>?, images: Range<Int>) {
        let g = cg.window, layout = Layout(g), o = cg.outputChannels, c = g.channels
        let group = imagesPerGroup(layout), maxTiles = Swift.min(group, images.count) * layout.tilesPerImage
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: layout.paddedPlane)
        let dm = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * maxTiles)
        let dv = inputGradient == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * maxTiles)
        let v = weightGradient == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * maxTiles)
        let du = weightGradient == nil ? nil : UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * c)
        du?.update(repeating: 0, count: 16 * o * c)
        defer { padded.deallocate(); dm.deallocate(); dv?.deallocate(); v?.deallocate(); du?.deallocate() }
        for start in stride(from: images.lowerBound, to: images.upperBound, by: group) {
            let chunk = start..<Swift.min(start + group, images.upperBound), tiles = chunk.count * layout.tilesPerImage
            transformOutputGradient(g, layout, outputChannels: o, outputGradient: outputGradient, images: chunk,
                                    scratch: padded, into: dm)
            if let dv, let inputGradient {
                for xi in 0..<16 {
                    BLAS.sgemm(transA: true, transB: false, m: c, n: tiles, k: o, alpha: 1, a: u + xi * o * c, lda: c,
                               b: dm + xi * o * tiles, ldb: tiles, beta: 0, c: dv + xi * c * tiles, ldc: tiles)
                }
                transformInputGradient(g, layout, dv: dv, images: chunk, padded: padded, inputGradient: inputGradient)
            }
            if let v, let du {
                transformInput(g, layout, input: input, images: chunk, padded: padded, into: v)
                for xi in 0..<16 {
                    BLAS.sgemm(transA: false, transB: true, m: o, n: c, k: tiles, alpha: 1, a: dm + xi * o * tiles, lda: tiles,
                               b: v + xi * c * tiles, ldb: tiles, beta: 1, c: du + xi * o * c, ldc: c)
                }
            }
        }
        if let du, let weightGradient { untransformWeightGradient(du, outputChannels: o, channels: c, into: weightGradient) }
    }

    /// dW[o, c] = Gᵀ dU[o, c] G for every kernel (the adjoint of `transformWeights`), with
    /// dU[o, c] the 4×4 matrix dU[4r + j, o, c].
    static func untransformWeightGradient(_ du: UnsafePointer<Float>, outputChannels: Int, channels: Int,
                                          into dw: UnsafeMutablePointer<Float>) {
        let plane = outputChannels * channels
        // Gᵀ·(a0, a1, a2, a3) = (a0 + ½(a1 + a2), ½(a1 − a2), ½(a1 + a2) + a3).
        @inline(__always) func reduce(_ a0: Float, _ a1: Float, _ a2: Float, _ a3: Float) -> (Float, Float, Float) {
            let h = 0.5 * (a1 + a2)
            return (a0 + h, 0.5 * (a1 - a2), h + a3)
        }
        for i in 0..<plane {
            @inline(__always) func at(_ r: Int, _ j: Int) -> Float { du[(4 * r + j) * plane + i] }
            // T = dU·G row by row (r), then dg = Gᵀ·T column by column.
            let t0 = reduce(at(0, 0), at(0, 1), at(0, 2), at(0, 3)), t1 = reduce(at(1, 0), at(1, 1), at(1, 2), at(1, 3))
            let t2 = reduce(at(2, 0), at(2, 1), at(2, 2), at(2, 3)), t3 = reduce(at(3, 0), at(3, 1), at(3, 2), at(3, 3))
            let col0 = reduce(t0.0, t1.0, t2.0, t3.0), col1 = reduce(t0.1, t1.1, t2.1, t3.1), col2 = reduce(t0.2, t1.2, t2.2, t3.2)
            let k = dw + i * 9
            k[0] = col0.0; k[1] = col1.0; k[2] = col2.0
            k[3] = col0.1; k[4] = col1.1; k[5] = col2.1
            k[6] = col0.2; k[7] = col1.2; k[8] = col2.2
        }
    }
}
