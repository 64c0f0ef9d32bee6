import Foundation

// Max, average and global-average pooling over NCHW tensors, without padding, in
// PyTorch's floor mode: H' = ⌊(H − k) / s⌋ + 1, so trailing rows and columns that do not
// fill a window are ignored (and receive zero gradient).

/// The pooling kernels on raw pointers, one (n, c) plane at a time.
enum Pooling {
    /// Tensors with fewer elements than this are pooled on one thread.
    nonisolated(unsafe) static var parallelThreshold = 1 << 18

    /// Runs `body(planes)` over contiguous ranges of the N·C planes, split across worker
    /// threads for large tensors outside a parallel region.
    static func forEachPlaneRange(_ g: WindowGeometry, _ body: (Range<Int>) -> Void) {
        let planes = g.batch * g.channels
        let serial = Parallel.isNested || Parallel.workerCount == 1 || planes * g.inputPlane < parallelThreshold
        let ranges = serial ? [0..<planes] : Parallel.ranges(planes, parts: Parallel.workerCount)
        Parallel.forEach(ranges.count) { body(ranges[$0]) }
    }

    /// y = max over each window; `indices` receives the position of the maximum inside its
    /// input plane (iy·W + ix). NaN propagates, as in PyTorch. With `rectifying`, of
    /// relu(x) = x > 0 ? x : 0 (NaN → 0) read as it goes: a ReLU before the pooling, the same
    /// numbers and positions as pooling the ReLU's output.
    static func maxForward(_ g: WindowGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
                           indices: UnsafeMutablePointer<Int32>, rectifying: Bool = false) {
        let w = g.width, oh = g.outputHeight, ow = g.outputWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, sh = g.strideHeight, sw = g.strideWidth
        nonisolated(unsafe) let x = input, y = output, idx = indices
        forEachPlaneRange(g) { planes in
            for plane in planes {
                let src = x + plane * g.inputPlane
                let dst = y + plane * g.outputPlane, at = idx + plane * g.outputPlane
                if kh == 2 && kw == 2 && sh == 2 && sw == 2 && ow >= 4 {
                    for oy in 0..<oh {
                        let top = 2 * oy * w
                        var ox = 0
                        while true {
                            maxPool2x2Quad(src + top, width: w, top: top, column: ox, output: dst + oy * ow, indices: at + oy * ow,
                                           rectifying: rectifying)
                            if ox == ow - 4 { break }
                            ox = Swift.min(ox + 4, ow - 4)   // the last quad may overlap the previous one
                        }
                    }
                    continue
                }
                var j = 0
                for oy in 0..<oh {
                    let y0 = oy * sh
                    for ox in 0..<ow {
                        let x0 = ox * sw
                        var best = -Float.infinity, bi = y0 * w + x0
                        for ky in 0..<kh {
                            let rowStart = (y0 + ky) * w + x0
                            let row = src + rowStart
                            for kx in 0..<kw {
                                let read = row[kx], v = rectifying ? (read > 0 ? read : 0) : read
                                if v > best || v.isNaN { best = v; bi = rowStart + kx }
                            }
                        }
                        dst[j] = best
                        at[j] = Int32(truncatingIfNeeded: bi)
                        j += 1
                    }
                }
            }
        }
    }

    /// Four adjacent 2×2 / stride 2 windows starting at output column `column`, with SIMD
    /// selects instead of data-dependent branches (which mispredict on every other window).
    /// Same rule as the scalar path: a later element wins when it is greater or NaN.
    @inline(__always)
    static func maxPool2x2Quad(_ row: UnsafePointer<Float>, width w: Int, top: Int, column ox: Int,
                               output: UnsafeMutablePointer<Float>, indices: UnsafeMutablePointer<Int32>, rectifying: Bool) {
        let c = 2 * ox
        var upper = UnsafeRawPointer(row + c).loadUnaligned(as: SIMD8<Float>.self)
        var lower = UnsafeRawPointer(row + w + c).loadUnaligned(as: SIMD8<Float>.self)
        if rectifying {   // x > 0 ? x : 0, NaN → 0
            upper.replace(with: 0, where: .!(upper .> 0))
            lower.replace(with: 0, where: .!(lower .> 0))
        }
        let base = SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: top + c)) &+ SIMD4<Int32>(0, 2, 4, 6)
        let w32 = SIMD4<Int32>(repeating: Int32(truncatingIfNeeded: w))
        var best = upper.evenHalf, at = base
        var v = upper.oddHalf
        var m = (v .> best) .| (v .!= v)
        best.replace(with: v, where: m); at.replace(with: base &+ 1, where: m)
        v = lower.evenHalf
        m = (v .> best) .| (v .!= v)
        best.replace(with: v, where: m); at.replace(with: base &+ w32, where: m)
        v = lower.oddHalf
        m = (v .> best) .| (v .!= v)
        best.replace(with: v, where: m); at.replace(with: base &+ w32 &+ 1, where: m)
        UnsafeMutableRawPointer(output + ox).storeBytes(of: best, as: SIMD4<Float>.self)
        UnsafeMutableRawPointer(indices + ox).storeBytes(of: at, as: SIMD4<Int32>.self)
    }

    /// dx = 0, then dx[plane, indices[j]] += dy[plane, j] (overlapping windows accumulate).
    static func maxBackward(_ g: WindowGeometry, outputGradient: UnsafePointer<Float>,
                            indices: UnsafePointer<Int32>, inputGradient: UnsafeMutablePointer<Float>) {
        let outPlane = g.outputPlane, inPlane = g.inputPlane
        nonisolated(unsafe) let dy = outputGradient, idx = indices, dx = inputGradient
        forEachPlaneRange(g) { planes in
            (dx + planes.lowerBound * inPlane).update(repeating: 0, count: planes.count * inPlane)
            for plane in planes {
                let gx = dx + plane * inPlane, gy = dy + plane * outPlane, at = idx + plane * outPlane
                for j in 0..<outPlane { gx[Int(at[j])] += gy[j] }
            }
        }
    }

    /// y = mean over each kh×kw window.
    static func averageForward(_ g: WindowGeometry, input: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>) {
        let w = g.width, oh = g.outputHeight, ow = g.outputWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, sh = g.strideHeight, sw = g.strideWidth
        let scale = 1 / Float(kh * kw)
        nonisolated(unsafe) let x = input, y = output
        forEachPlaneRange(g) { planes in
            for plane in planes {
                let src = x + plane * g.inputPlane
                var dst = y + plane * g.outputPlane
                for oy in 0..<oh {
                    let top = src + oy * sh * w
                    for ox in 0..<ow {
                        var s: Float = 0
                        var row = top + ox * sw
                        for _ in 0..<kh {
                            for kx in 0..<kw { s += row[kx] }
                            row += w
                        }
                        dst[ox] = s * scale
                    }
                    dst += ow
                }
            }
        }
    }

    /// dx = 0, then each window receives dy / (kh·kw) on every element.
    static func averageBackward(_ g: WindowGeometry, outputGradient: UnsafePointer<Float>,
                                inputGradient: UnsafeMutablePointer<Float>) {
        let w = g.width, oh = g.outputHeight, ow = g.outputWidth
        let kh = g.kernelHeight, kw = g.kernelWidth, sh = g.strideHeight, sw = g.strideWidth
        let scale = 1 / Float(kh * kw), inPlane = g.inputPlane
        nonisolated(unsafe) let dy = outputGradient, dx = inputGradient
        forEachPlaneRange(g) { planes in
            (dx + planes.lowerBound * inPlane).update(repeating: 0, count: planes.count * inPlane)
            for plane in planes {
                let gx = dx + plane * inPlane
                var gy = dy + plane * g.outputPlane
                for oy in 0..<oh {
                    let top = gx + oy * sh * w
                    for ox in 0..<ow {
                        let v = gy[ox] * scale
                        var row = top + ox * sw
                        for _ in 0..<kh {
                            for kx in 0..<kw { row[kx] += v }
                            row += w
                        }
                    }
                    gy += ow
                }
            }
        }
    }
}

extension Tensor {
    /// Validates an NCHW input for a square pooling window (stride defaults to the kernel).
    func poolingGeometry(_ operation: String, kernel: Int, stride: Int?) throws -> WindowGeometry {
        let s = stride ?? kernel
        return try WindowGeometry(operation: operation, input: shape, kernel: (kernel, kernel), stride: (s, s), padding: (0, 0))
    }

    /// Max pooling of an NCHW batch over kernel×kernel windows (PyTorch `max_pool2d`,
    /// no padding, floor mode): y[n, c, i, j] = max_{u, v < k} x[n, c, i·s + u, j·s + v].
    ///
    /// - Parameters:
    ///   - kernel: window side, positive and at most H and W.
    ///   - stride: step between windows; defaults to `kernel` (non-overlapping windows).
    /// - Returns: [N, C, ⌊(H − k)/s⌋ + 1, ⌊(W − k)/s⌋ + 1].
    /// - Throws: `TensorError` on a non-rank-4 input, a non-positive kernel or stride, or a
    ///   kernel larger than the input.
    ///
    /// ```swift
    /// let x = Tensor(shape: [1, 1, 2, 4], values: [1, 5, 2, 0, 3, 4, 8, 7])
    /// try x.maxPool2d(kernel: 2).values   // [5, 8]
    /// ```
    public func maxPool2d(kernel: Int, stride: Int? = nil) throws -> Tensor {
        try maxPool2dWithIndices(kernel: kernel, stride: stride).output
    }

    /// Max pooling that also returns, per output element, the index of the maximum inside
    /// its input plane (iy·W + ix) — what the pullback routes the gradient to.
    /// With `rectifying`, of relu(self) (`Pooling.maxForward`).
    func maxPool2dWithIndices(kernel: Int, stride: Int?, rectifying: Bool = false) throws -> (output: Tensor, indices: [Int32], geometry: WindowGeometry) {
        let g = try poolingGeometry("maxPool2d", kernel: kernel, stride: stride)
        let out = Tensor(uninitializedShape: [g.batch, g.channels, g.outputHeight, g.outputWidth])
        let n = out.count
        let indices = [Int32](unsafeUninitializedCapacity: n) { buffer, initialized in
            if n > 0 {
                Pooling.maxForward(g, input: storage.pointer + offset, output: out.storage.pointer, indices: buffer.baseAddress!,
                                   rectifying: rectifying)
            }
            initialized = n
        }
        return (out, indices, g)
    }

    /// Average pooling of an NCHW batch over kernel×kernel windows (PyTorch `avg_pool2d`,
    /// no padding, floor mode): y[n, c, i, j] = (1/k²) Σ_{u, v < k} x[n, c, i·s + u, j·s + v].
    ///
    /// - Parameters:
    ///   - kernel: window side, positive and at most H and W.
    ///   - stride: step between windows; defaults to `kernel`.
    /// - Throws: `TensorError` as `maxPool2d`.
    ///
    /// ```swift
    /// let x = Tensor(shape: [1, 1, 2, 2], values: [1, 2, 3, 6])
    /// try x.avgPool2d(kernel: 2).values   // [3]
    /// ```
    public func avgPool2d(kernel: Int, stride: Int? = nil) throws -> Tensor {
        let g = try poolingGeometry("avgPool2d", kernel: kernel, stride: stride)
        let out = Tensor(uninitializedShape: [g.batch, g.channels, g.outputHeight, g.outputWidth])
        if out.count > 0 { Pooling.averageForward(g, input: storage.pointer + offset, output: out.storage.pointer) }
        return out
    }

    /// Mean over the spatial axes: [N, C, H, W] → [N, C].
    ///
    /// ```swift
    /// let x = Tensor(shape: [1, 2, 1, 2], values: [1, 3, 10, 20])
    /// try x.globalAveragePool().values   // [2, 15]
    /// ```
    public func globalAveragePool() throws -> Tensor {
        guard rank == 4 else {
            throw TensorError.shapeMismatch(operation: "globalAveragePool", shapes: [shape],
                                            expected: "the input must be rank 4 [N, C, H, W], got rank \(rank)")
        }
        let planes = shape[0] * shape[1], plane = shape[2] * shape[3]
        let out = Tensor(uninitializedShape: [shape[0], shape[1]])
        let src = storage.pointer + offset, dst = out.storage.pointer
        let scale = plane == 0 ? Float.nan : 1 / Float(plane)
        for p in 0..<planes { dst[p] = Convolution.sum(src + p * plane, count: plane) * scale }
        return out
    }
}
