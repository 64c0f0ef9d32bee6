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
//   and input gradient): 16/36 of the multiply-adds (`Winograd`, in Winograd.swift).
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
        // With Winograd, the input and weight gradients are its own pass; the loop below then
        // does only the bias gradient.
        let winograd = (inputGradient != nil || weightGradient != nil) && Winograd.applies(to: cg)
        let u = winograd ? UnsafeMutablePointer<Float>.allocate(capacity: 16 * o * g.channels) : nil
        defer { u?.deallocate() }
        if let u { Winograd.transformWeights(weight, outputChannels: o, channels: g.channels, into: u) }
        nonisolated(unsafe) let x = input, w = weight, dy = outputGradient, dx = winograd ? nil : inputGradient
        nonisolated(unsafe) let dw = weightGradient, db = biasGradient, scratch = partials
        nonisolated(unsafe) let winogradDX = winograd ? inputGradient : nil, uu = u.map { UnsafePointer($0) }
        Parallel.forEach(ranges.count) { part in
            let images = ranges[part]
            let partDW = dw == nil ? nil : (part == 0 ? dw : scratch! + part * partialSize)
            let partDB = db == nil ? nil : (part == 0 ? db : scratch! + part * partialSize + o * k)
            if let uu {
                Winograd.backward(cg, u: uu, input: x, outputGradient: dy, inputGradient: winogradDX, weightGradient: partDW,
                                  images: images)
            } else {
                partDW?.update(repeating: 0, count: o * k)
            }
            let loopDW = uu == nil ? partDW : nil
            partDB?.update(repeating: 0, count: o)
            if loopDW == nil && partDB == nil && dx == nil { return }
            let columns = (!pointwise && loopDW != nil) ? UnsafeMutablePointer<Float>.allocate(capacity: k * p) : nil
            let columnGradient = (!pointwise && dx != nil) ? UnsafeMutablePointer<Float>.allocate(capacity: k * p) : nil
            defer { columns?.deallocate(); columnGradient?.deallocate() }
            for n in images {
                let image = x + n * inStride, gy = dy + n * outStride
                if let loopDW {
                    let cols: UnsafePointer<Float>
                    if let columns { im2col(g, image: image, columns: columns); cols = UnsafePointer(columns) } else { cols = image }
                    BLAS.sgemm(transA: false, transB: true, m: o, n: k, k: p, alpha: 1, a: gy, lda: p,
                               b: cols, ldb: p, beta: 1, c: loopDW, ldc: k)
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
