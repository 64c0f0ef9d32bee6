import Foundation

// 2-D convolution over NCHW tensors with PyTorch's semantics (cross-correlation, zero
// padding, weight [O, C, kh, kw]) so checkpoints load as is. Three paths, all GEMM-based:
//
// - im2col: each image is unfolded into a reused column buffer [C·kh·kw, H'·W'] and
//   multiplied by the weight matrix [O, C·kh·kw] in one GEMM that writes the image's
//   [O, H'·W'] output slice in place (no transpose of the output or of its gradient). The
//   weight gradient always takes this path.
// - pointwise (1×1, stride 1, no padding): the image is its own column matrix.
// - Winograd F(2×2, 3×3) for 3×3 stride-1 layers with ≥ 16 channels in and out (forward
//   and input gradient): 16/36 of the multiply-adds (see `Winograd` below).
//
// Outside a parallel region, large batches are split into contiguous image ranges across
// worker threads; inside one (the training loop's batch halves) everything runs serially
// with single-threaded GEMMs.

/// The window geometry shared by convolution and pooling over an NCHW tensor:
/// output size per axis is ⌊(in + 2·padding − kernel) / stride⌋ + 1 (PyTorch floor mode).
struct WindowGeometry {
    let batch: Int, channels: Int, height: Int, width: Int
    let kernelHeight: Int, kernelWidth: Int
    let strideHeight: Int, strideWidth: Int
    let paddingHeight: Int, paddingWidth: Int
    let outputHeight: Int, outputWidth: Int

    var inputPlane: Int { height * width }
    var outputPlane: Int { outputHeight * outputWidth }
    /// Rows of the unfolded column matrix: C·kh·kw.
    var patchSize: Int { channels * kernelHeight * kernelWidth }

    /// Validates an NCHW input shape against a window; throws `TensorError` naming the
    /// shapes when the input is not rank 4, the stride is not positive, the padding is
    /// negative, or the kernel does not fit inside the padded input.
    init(operation: String, input shape: [Int], kernel: (Int, Int), stride: (Int, Int),
         padding: (Int, Int), otherShapes: [[Int]] = []) throws {
        guard shape.count == 4 else {
            throw TensorError.shapeMismatch(operation: operation, shapes: [shape] + otherShapes,
                                            expected: "the input must be rank 4 [N, C, H, W], got rank \(shape.count)")
        }
        guard stride.0 > 0, stride.1 > 0 else {
            throw TensorError.invalidArgument(operation: operation,
                                              message: "stride must be positive, got (\(stride.0), \(stride.1))")
        }
        guard padding.0 >= 0, padding.1 >= 0 else {
            throw TensorError.invalidArgument(operation: operation,
                                              message: "padding must be ≥ 0, got (\(padding.0), \(padding.1))")
        }
        guard kernel.0 > 0, kernel.1 > 0 else {
            throw TensorError.invalidArgument(operation: operation,
                                              message: "kernel must be positive, got \(kernel.0)×\(kernel.1)")
        }
        let paddedH = shape[2] + 2 * padding.0, paddedW = shape[3] + 2 * padding.1
        guard kernel.0 <= paddedH, kernel.1 <= paddedW else {
            throw TensorError.shapeMismatch(
                operation: operation, shapes: [shape] + otherShapes,
                expected: "the \(kernel.0)×\(kernel.1) kernel is larger than the padded input "
                    + "\(paddedH)×\(paddedW) (H×W = \(shape[2])×\(shape[3]) with padding (\(padding.0), \(padding.1)))")
        }
        batch = shape[0]; channels = shape[1]; height = shape[2]; width = shape[3]
        kernelHeight = kernel.0; kernelWidth = kernel.1
        strideHeight = stride.0; strideWidth = stride.1
        paddingHeight = padding.0; paddingWidth = padding.1
        outputHeight = (paddedH - kernel.0) / stride.0 + 1
        outputWidth = (paddedW - kernel.1) / stride.1 + 1
    }

    /// Stride 1 with output width equal to input width (e.g. 3×3 kernels with padding 1):
    /// a row (c, ki, kj) of the column matrix is then the input plane shifted by one
    /// constant offset, so im2col/col2im move it as one block instead of row by row.
    var isShiftedPlane: Bool { strideHeight == 1 && strideWidth == 1 && outputWidth == width }

    /// The output rows `oy` whose input row `oy + offset` lies inside 0..<height (stride 1).
    @inline(__always) func validRows(offset: Int) -> Range<Int> {
        let lower = Swift.max(0, -offset), upper = Swift.min(outputHeight, height - offset)
        return lower..<Swift.max(lower, upper)
    }

    /// The output columns `ox` whose input column `ox·stride + offset` lies inside
    /// 0..<width (computed once per kernel column so inner loops have no bounds tests).
    @inline(__always) func validColumns(offset: Int) -> Range<Int> {
        let s = strideWidth
        let lower = offset >= 0 ? 0 : (s - 1 - offset) / s
        let upper = width - offset <= 0 ? 0 : Swift.min(outputWidth, (width - offset + s - 1) / s)
        return lower..<Swift.max(lower, upper)
    }
}

/// Geometry of one conv2d call: the window over the input plus the output channels.
struct ConvolutionGeometry {
    let window: WindowGeometry
    let outputChannels: Int

    init(input: [Int], weight: [Int], bias: [Int]?, stride: (Int, Int), padding: (Int, Int)) throws {
        let shapes = [input, weight] + (bias.map { [$0] } ?? [])
        guard weight.count == 4 else {
            throw TensorError.shapeMismatch(operation: "conv2d", shapes: shapes,
                                            expected: "the weight must be rank 4 [O, C, kh, kw], got rank \(weight.count)")
        }
        guard input.count == 4 else {
            throw TensorError.shapeMismatch(operation: "conv2d", shapes: shapes,
                                            expected: "the input must be rank 4 [N, C, H, W], got rank \(input.count)")
        }
        guard input[1] == weight[1] else {
            throw TensorError.shapeMismatch(
                operation: "conv2d", shapes: shapes,
                expected: "the weight [O, C, kh, kw] expects C = \(weight[1]) input channels but the input [N, C, H, W] has \(input[1])")
        }
        if let bias, bias != [weight[0]] {
            throw TensorError.shapeMismatch(operation: "conv2d", shapes: shapes,
                                            expected: "the bias must have shape [O] = [\(weight[0])]")
        }
        window = try WindowGeometry(operation: "conv2d", input: input, kernel: (weight[2], weight[3]),
                                    stride: stride, padding: padding, otherShapes: Array(shapes.dropFirst()))
        outputChannels = weight[0]
    }

    var outputShape: [Int] { [window.batch, outputChannels, window.outputHeight, window.outputWidth] }
    /// True for 1×1 kernels with stride 1 and no padding: the image is its own column matrix.
    var isPointwise: Bool {
        window.kernelHeight == 1 && window.kernelWidth == 1 && window.strideHeight == 1 && window.strideWidth == 1
            && window.paddingHeight == 0 && window.paddingWidth == 0
    }
    /// Multiply-adds of one image's forward GEMM.
    var workPerImage: Int { outputChannels * window.patchSize * window.outputPlane }
}

/// The convolution kernels on raw pointers (callers validate shapes first).
enum Convolution {
    /// Forward passes below this many multiply-adds stay on one thread.
    nonisolated(unsafe) static var parallelThreshold = 2_000_000

    /// Unfolds one image [C, H, W] into columns [C·kh·kw, H'·W'] (row stride H'·W'):
    /// row (c, ki, kj), column (oy, ox) holds x[c, oy·sh − ph + ki, ox·sw − pw + kj], or 0
    /// in the padding.
    static func im2col(_ g: WindowGeometry, image: UnsafePointer<Float>, columns: UnsafeMutablePointer<Float>) {
        let ow = g.outputWidth, oh = g.outputHeight, w = g.width, sw = g.strideWidth, block = oh * ow
        let shifted = g.isShiftedPlane
        var row = columns
        for c in 0..<g.channels {
            let plane = image + c * g.inputPlane
            for ki in 0..<g.kernelHeight {
                for kj in 0..<g.kernelWidth {
                    defer { row += block }
                    let dx = kj - g.paddingWidth
                    let valid = g.validColumns(offset: dx)
                    let x0 = valid.lowerBound, x1 = valid.upperBound
                    if shifted {
                        // row[i] = plane[i + shift] on valid rows and columns, else 0.
                        let dy = ki - g.paddingHeight, rows = g.validRows(offset: dy)
                        if rows.isEmpty || valid.isEmpty { fill(row, 0, block); continue }
                        let start = rows.lowerBound * ow + x0, end = (rows.upperBound - 1) * ow + x1
                        fill(row, 0, start)
                        copy(row + start, plane + start + dy * w + dx, end - start)
                        fill(row + end, 0, block - end)
                        // Zero the columns that wrapped around between consecutive valid rows.
                        for oy in rows.dropLast() { fill(row + oy * ow + x1, 0, ow - x1 + x0) }
                        continue
                    }
                    var dst = row
                    var iy = ki - g.paddingHeight
                    for _ in 0..<oh {
                        if iy < 0 || iy >= g.height {
                            fill(dst, 0, ow)
                        } else {
                            fill(dst, 0, x0)
                            let src = plane + iy * w + x0 * sw + dx, d = dst + x0
                            if sw == 1 {
                                copy(d, src, x1 - x0)
                            } else {
                                for i in 0..<(x1 - x0) { d[i] = src[i * sw] }
                            }
                            fill(dst + x1, 0, ow - x1)
                        }
                        dst += ow
                        iy += g.strideHeight
                    }
                }
            }
        }
    }

    /// Adds columns [C·kh·kw, H'·W'] back into one image gradient [C, H, W] (the adjoint
    /// of `im2col`; overlapping windows accumulate). `image` must be initialised; the
    /// entries of `columns` that fall in the padding are overwritten with zeros.
    static func col2im(_ g: WindowGeometry, columns: UnsafeMutablePointer<Float>, image: UnsafeMutablePointer<Float>) {
        let ow = g.outputWidth, oh = g.outputHeight, w = g.width, sw = g.strideWidth, block = oh * ow
        let shifted = g.isShiftedPlane
        var row = columns
        for c in 0..<g.channels {
            let plane = image + c * g.inputPlane
            for ki in 0..<g.kernelHeight {
                for kj in 0..<g.kernelWidth {
                    defer { row += block }
                    let dx = kj - g.paddingWidth
                    let valid = g.validColumns(offset: dx)
                    let x0 = valid.lowerBound, n = valid.count
                    if valid.isEmpty { continue }
                    if shifted {
                        // plane[i + shift] += row[i] over the valid block, after zeroing the
                        // wrapped-around columns inside it.
                        let dy = ki - g.paddingHeight, rows = g.validRows(offset: dy)
                        if rows.isEmpty { continue }
                        let x1 = valid.upperBound
                        for oy in rows.dropLast() { fill(row + oy * ow + x1, 0, ow - x1 + x0) }
                        let start = rows.lowerBound * ow + x0, end = (rows.upperBound - 1) * ow + x1
                        let dst = plane + start + dy * w + dx, src = row + start
                        for i in 0..<(end - start) { dst[i] += src[i] }
                        continue
                    }
                    var src = row
                    var iy = ki - g.paddingHeight
                    for _ in 0..<oh {
                        if iy >= 0 && iy < g.height {
                            let dst = plane + iy * w + x0 * sw + dx
                            let s = src + x0
                            if sw == 1 {
                                for i in 0..<n { dst[i] += s[i] }
                            } else {
                                for i in 0..<n { dst[i * sw] += s[i] }
                            }
                        }
                        src += ow
                        iy += g.strideHeight
                    }
                }
            }
        }
    }

    /// dst[0..<count] = value, as a plain loop (most calls here fill a handful of elements,
    /// where a `memset` call costs more than the stores).
    @inline(__always) static func fill(_ dst: UnsafeMutablePointer<Float>, _ value: Float, _ count: Int) {
        if count <= 0 { return }
        if count >= 64 { dst.update(repeating: value, count: count); return }
        for i in 0..<count { dst[i] = value }
    }

    @inline(__always) static func copy(_ dst: UnsafeMutablePointer<Float>, _ src: UnsafePointer<Float>, _ count: Int) {
        if count <= 0 { return }
        if count >= 64 { dst.update(from: src, count: count); return }
        for i in 0..<count { dst[i] = src[i] }
    }

    /// Contiguous image ranges, one per worker thread when the work is large and we are
    /// not already inside a parallel region (then each worker's GEMMs run single-threaded).
    static func imageRanges(batch: Int, work: Int) -> [Range<Int>] {
        let serial = Parallel.isNested || Parallel.workerCount == 1 || work < parallelThreshold
        return serial ? [0..<batch] : Parallel.ranges(batch, parts: Parallel.workerCount)
    }

    /// y[n] = W · im2col(x[n]) + b for every image n.
    static func forward(_ cg: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, output: UnsafeMutablePointer<Float>) {
        let g = cg.window, o = cg.outputChannels, k = g.patchSize, p = g.outputPlane
        let inStride = g.channels * g.inputPlane, outStride = o * p
        let pointwise = cg.isPointwise
        nonisolated(unsafe) let x = input, w = weight, b = bias, y = output
        let ranges = imageRanges(batch: g.batch, work: g.batch * cg.workPerImage)
        if Winograd.applies(to: cg) {
            let u = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * g.channels)
            defer { u.deallocate() }
            Winograd.transformWeights(weight, outputChannels: o, channels: g.channels, into: u)
            nonisolated(unsafe) let uu = UnsafePointer(u)
            Parallel.forEach(ranges.count) { part in
                Winograd.forward(cg, input: x, u: uu, bias: b, output: y, images: ranges[part])
            }
            return
        }
        Parallel.forEach(ranges.count) { part in
            let images = ranges[part]
            let columns = pointwise ? nil : UnsafeMutablePointer<Float>.allocate(capacity: k * p)
            defer { columns?.deallocate() }
            for n in images {
                let image = x + n * inStride, out = y + n * outStride
                let cols: UnsafePointer<Float>
                if let columns { im2col(g, image: image, columns: columns); cols = UnsafePointer(columns) } else { cols = image }
                BLAS.sgemm(transA: false, transB: false, m: o, n: p, k: k, alpha: 1, a: w, lda: k,
                           b: cols, ldb: p, beta: 0, c: out, ldc: p)
                if let b {
                    for oc in 0..<o {
                        let row = out + oc * p, v = b[oc]
                        for i in 0..<p { row[i] += v }
                    }
                }
            }
        }
    }

    /// Gradients of y = conv2d(x, W, b) given dy: dx[n] = col2im(Wᵀ · dy[n]),
    /// dW = Σₙ dy[n] · im2col(x[n])ᵀ, db = Σₙ,ₚ dy[n, :, p]. Pass nil for gradients not needed.
    /// `weightGradient` and `biasGradient` are overwritten (no accumulation).
    static func backward(_ cg: ConvolutionGeometry, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
                         outputGradient: UnsafePointer<Float>, inputGradient: UnsafeMutablePointer<Float>?,
                         weightGradient: UnsafeMutablePointer<Float>?, biasGradient: UnsafeMutablePointer<Float>?) {
        let g = cg.window, o = cg.outputChannels, k = g.patchSize, p = g.outputPlane
        let inStride = g.channels * g.inputPlane, outStride = o * p
        let pointwise = cg.isPointwise
        let work = g.batch * cg.workPerImage * ((inputGradient == nil ? 0 : 1) + (weightGradient == nil ? 0 : 1))
        let ranges = imageRanges(batch: g.batch, work: work)
        // Part 0 writes the weight and bias gradients in place, the others into partial
        // buffers summed in part order afterwards (deterministic for a given thread count).
        let partialSize = o * k + o
        let partials = ranges.count > 1 ? UnsafeMutablePointer<Float>.allocate(capacity: ranges.count * partialSize) : nil
        defer { partials?.deallocate() }
        // With Winograd, the input gradient is its own pass; the loop below then does dW, db.
        let winograd = inputGradient != nil && Winograd.applies(to: cg)
        let u = winograd ? UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * g.channels) : nil
        defer { u?.deallocate() }
        if let u { Winograd.transformWeights(weight, outputChannels: o, channels: g.channels, into: u) }
        nonisolated(unsafe) let x = input, w = weight, dy = outputGradient, dx = winograd ? nil : inputGradient
        nonisolated(unsafe) let dw = weightGradient, db = biasGradient, scratch = partials
        nonisolated(unsafe) let winogradDX = winograd ? inputGradient : nil, uu = u.map { UnsafePointer($0) }
        Parallel.forEach(ranges.count) { part in
            let images = ranges[part]
            if let winogradDX, let uu {
                Winograd.inputGradient(cg, u: uu, outputGradient: dy, inputGradient: winogradDX, images: images)
            }
            if dw == nil && db == nil && dx == nil { return }
            let partDW = dw == nil ? nil : (part == 0 ? dw : scratch! + part * partialSize)
            let partDB = db == nil ? nil : (part == 0 ? db : scratch! + part * partialSize + o * k)
            partDB?.update(repeating: 0, count: o)
            partDW?.update(repeating: 0, count: o * k)
            let columns = (!pointwise && partDW != nil) ? UnsafeMutablePointer<Float>.allocate(capacity: k * p) : nil
            let columnGradient = (!pointwise && dx != nil) ? UnsafeMutablePointer<Float>.allocate(capacity: k * p) : nil
            defer { columns?.deallocate(); columnGradient?.deallocate() }
            for n in images {
                let image = x + n * inStride, gy = dy + n * outStride
                if let partDW {
                    let cols: UnsafePointer<Float>
                    if let columns { im2col(g, image: image, columns: columns); cols = UnsafePointer(columns) } else { cols = image }
                    BLAS.sgemm(transA: false, transB: true, m: o, n: k, k: p, alpha: 1, a: gy, lda: p,
                               b: cols, ldb: p, beta: 1, c: partDW, ldc: k)
                }
                if let partDB {
                    for oc in 0..<o { partDB[oc] += Convolution.sum(gy + oc * p, count: p) }
                }
                if let dx {
                    let gx = dx + n * inStride
                    if let columnGradient {
                        BLAS.sgemm(transA: true, transB: false, m: k, n: p, k: o, alpha: 1, a: w, lda: k,
                                   b: gy, ldb: p, beta: 0, c: columnGradient, ldc: p)
                        gx.update(repeating: 0, count: inStride)
                        col2im(g, columns: columnGradient, image: gx)
                    } else {
                        BLAS.sgemm(transA: true, transB: false, m: k, n: p, k: o, alpha: 1, a: w, lda: k,
                                   b: gy, ldb: p, beta: 0, c: gx, ldc: p)
                    }
                }
            }
        }
        if let partials {
            for part in 1..<ranges.count {
                let base = partials + part * partialSize
                if let dw { for i in 0..<(o * k) { dw[i] += base[i] } }
                if let db { for i in 0..<o { db[i] += base[o * k + i] } }
            }
        }
    }

    /// Σ p[0..<count], eight lanes at a time.
    @inline(__always) static func sum(_ p: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>()
        var i = 0
        let raw = UnsafeRawPointer(p)
        while i + 8 <= count {
            acc += raw.loadUnaligned(fromByteOffset: i * MemoryLayout<Float>.stride, as: SIMD8<Float>.self)
            i += 8
        }
        var s = acc.sum()
        while i < count { s += p[i]; i += 1 }
        return s
    }
}

extension Tensor {
    /// 2-D convolution (cross-correlation, as PyTorch's `conv2d`) of an NCHW batch.
    ///
    /// y[n, o, i, j] = b[o] + Σ_{c, u, v} W[o, c, u, v] · x[n, c, i·sh − ph + u, j·sw − pw + v],
    /// with x zero outside the image; H' = ⌊(H + 2·ph − kh) / sh⌋ + 1 (likewise W').
    ///
    /// - Parameters:
    ///   - weight: [O, C, kh, kw], PyTorch's layout (checkpoints load unchanged).
    ///   - bias: [O], or nil.
    ///   - stride: (sh, sw), both positive.
    ///   - padding: (ph, pw) zeros added on each side, both ≥ 0.
    /// - Returns: [N, O, H', W'].
    /// - Throws: `TensorError` on a non-rank-4 input or weight, a channel or bias mismatch,
    ///   a non-positive stride, or a kernel larger than the padded input.
    ///
    /// ```swift
    /// let x = Tensor(shape: [1, 1, 3, 3], values: [1, 2, 3, 4, 5, 6, 7, 8, 9])
    /// let w = Tensor(shape: [1, 1, 2, 2], values: [1, 0, 0, 1])
    /// try x.conv2d(weight: w).values   // [6, 8, 12, 14]
    /// ```
    public func conv2d(weight: Tensor, bias: Tensor? = nil, stride: (Int, Int) = (1, 1),
                       padding: (Int, Int) = (0, 0)) throws -> Tensor {
        let cg = try ConvolutionGeometry(input: shape, weight: weight.shape, bias: bias?.shape,
                                         stride: stride, padding: padding)
        let out = Tensor(uninitializedShape: cg.outputShape)
        if out.count == 0 { return out }
        Convolution.forward(cg, input: storage.pointer + offset, weight: weight.storage.pointer + weight.offset,
                            bias: bias.map { UnsafePointer($0.storage.pointer + $0.offset) },
                            output: out.storage.pointer)
        return out
    }

    /// Gradients of `conv2d` with respect to the input, weight and bias (each computed
    /// only when asked), given the output gradient `outputGradient` [N, O, H', W'].
    public func conv2dGradients(weight: Tensor, outputGradient: Tensor, stride: (Int, Int) = (1, 1),
                                padding: (Int, Int) = (0, 0), inputGradient wantInput: Bool = true,
                                weightGradient wantWeight: Bool = true, biasGradient wantBias: Bool = true)
        throws -> (input: Tensor?, weight: Tensor?, bias: Tensor?) {
        let cg = try ConvolutionGeometry(input: shape, weight: weight.shape, bias: nil, stride: stride, padding: padding)
        guard outputGradient.shape == cg.outputShape else {
            throw TensorError.shapeMismatch(operation: "conv2d gradient", shapes: [shape, weight.shape, outputGradient.shape],
                                            expected: "the output gradient must have the output shape \(cg.outputShape)")
        }
        var dx = wantInput ? Tensor(uninitializedShape: shape) : nil
        var dw = wantWeight ? Tensor(uninitializedShape: weight.shape) : nil
        var db = wantBias ? Tensor(uninitializedShape: [cg.outputChannels]) : nil
        if dx == nil && dw == nil && db == nil { return (nil, nil, nil) }
        if outputGradient.count == 0 {
            dx = dx.map { Tensor(shape: $0.shape, repeating: 0) }
            dw = dw.map { Tensor(shape: $0.shape, repeating: 0) }
            db = db.map { Tensor(shape: $0.shape, repeating: 0) }
            return (dx, dw, db)
        }
        Convolution.backward(cg, input: storage.pointer + offset, weight: weight.storage.pointer + weight.offset,
                             outputGradient: outputGradient.storage.pointer + outputGradient.offset,
                             inputGradient: dx?.storage.pointer, weightGradient: dw?.storage.pointer,
                             biasGradient: db?.storage.pointer)
        return (dx, dw, db)
    }
}

// MARK: - Winograd F(2×2, 3×3)

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

    /// Input gradient of images `images` in groups: dV[ξ] = U[ξ]ᵀ · dM[ξ], then the adjoint
    /// input transform.
    static func inputGradient(_ cg: ConvolutionGeometry, u: UnsafePointer<Float>, outputGradient: UnsafePointer<Float>,
                              inputGradient: UnsafeMutablePointer<Float>, images: Range<Int>) {
        let g = cg.window, layout = Layout(g), o = cg.outputChannels, c = g.channels
        let group = imagesPerGroup(layout), maxTiles = Swift.min(group, images.count) * layout.tilesPerImage
        let padded = UnsafeMutablePointer<Float>.allocate(capacity: layout.paddedPlane)
        let dm = UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * maxTiles)
        let dv = UnsafeMutablePointer<Float>.allocate(capacity: 16 * c * maxTiles)
        defer { padded.deallocate(); dm.deallocate(); dv.deallocate() }
        for start in stride(from: images.lowerBound, to: images.upperBound, by: group) {
            let chunk = start..<Swift.min(start + group, images.upperBound), tiles = chunk.count * layout.tilesPerImage
            transformOutputGradient(g, layout, outputChannels: o, outputGradient: outputGradient, images: chunk,
                                    scratch: padded, into: dm)
            for xi in 0..<16 {
                BLAS.sgemm(transA: true, transB: false, m: c, n: tiles, k: o, alpha: 1, a: u + xi * o * c, lda: c,
                           b: dm + xi * o * tiles, ldb: tiles, beta: 0, c: dv + xi * c * tiles, ldc: tiles)
            }
            transformInputGradient(g, layout, dv: dv, images: chunk, padded: padded, inputGradient: inputGradient)
        }
    }
}
