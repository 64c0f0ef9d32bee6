import Foundation

// Differentiable convolution and pooling primitives (one pullback each); the kernels
// live in Ops/Convolution.swift and Ops/Pooling.swift.

extension Variable {
    /// 2-D convolution of an NCHW batch (PyTorch `conv2d` semantics; see `Tensor.conv2d`).
    /// Pullback: dx = col2im(Wᵀ · dy) (Winograd's adjoint for 3×3 stride-1 layers with ≥ 16
    /// channels), dW = Σₙ dy[n] · im2col(x[n])ᵀ, db = Σ dy over N, H', W' — each computed only
    /// for tracked inputs (a first layer on untracked images skips dx entirely).
    ///
    /// ```swift
    /// let tape = Tape()
    /// let x = tape.variable(images), w = tape.variable(kernels), b = tape.variable(biases)
    /// let y = try x.conv2d(weight: w, bias: b, padding: (1, 1)).relu()
    /// ```
    public func conv2d(weight: Variable, bias: Variable? = nil, stride: (Int, Int) = (1, 1),
                       padding: (Int, Int) = (0, 0)) throws -> Variable {
        let x = value, w = weight.value
        let y = try x.conv2d(weight: w, bias: bias?.value, stride: stride, padding: padding)
        let tx = isTracked, tw = weight.isTracked, tb = bias?.isTracked ?? false, hasBias = bias != nil
        // The pullback captures tensors and flags only: capturing the input `Variable`s would
        // make the tape own closures that own the tape (a retain cycle leaking every step).
        return Variable.record(y, inputs: bias.map { [self, weight, $0] } ?? [self, weight]) { g in
            let grads = try! x.conv2dGradients(weight: w, outputGradient: g, stride: stride, padding: padding,
                                               inputGradient: tx, weightGradient: tw, biasGradient: tb)
            return hasBias ? [grads.input, grads.weight, grads.bias] : [grads.input, grads.weight]
        }
    }

    /// Max pooling over kernel×kernel windows (stride defaults to the kernel; no padding,
    /// floor mode). The forward pass remembers each window's argmax, and the pullback
    /// routes the output gradient there (ties: the first maximum in row-major order; a NaN
    /// in the window wins, as in PyTorch).
    public func maxPool2d(kernel: Int, stride: Int? = nil) throws -> Variable {
        try maxPool2d(kernel: kernel, stride: stride, rectifying: false)
    }

    /// `relu().maxPool2d(kernel:stride:)` in one pass: the windows' maxima of relu(x) read from x
    /// as it goes, so the ReLU's output — four times the pooled size for 2×2 windows — is
    /// never written, nor its gradient. The same numbers, positions and gradients bit for bit:
    /// the gradient reaches each window's argmax where the maximum is > 0 (the ReLU's mask at
    /// that element; a window's output is that element's relu).
    public func reluMaxPool2d(kernel: Int, stride: Int? = nil) throws -> Variable {
        try maxPool2d(kernel: kernel, stride: stride, rectifying: true)
    }

    private func maxPool2d(kernel: Int, stride: Int?, rectifying: Bool) throws -> Variable {
        let (y, indices, g) = try value.maxPool2dWithIndices(kernel: kernel, stride: stride, rectifying: rectifying)
        let s = shape
        return Variable.unary(self, y) { dy in
            let dx = Tensor(uninitializedShape: s)
            if dx.count > 0 {
                let routed = rectifying ? dy.zipMap(y) { gv, yv in yv > 0 ? gv : 0 } : dy
                indices.withUnsafeBufferPointer { at in
                    Pooling.maxBackward(g, outputGradient: routed.storage.pointer + routed.offset,
                                        indices: at.baseAddress!, inputGradient: dx.storage.pointer)
                }
            }
            return dx
        }
    }

    /// Average pooling over kernel×kernel windows (stride defaults to the kernel; no
    /// padding, floor mode). Pullback: each window element receives dy / k².
    public func avgPool2d(kernel: Int, stride: Int? = nil) throws -> Variable {
        let y = try value.avgPool2d(kernel: kernel, stride: stride)
        let g = try value.poolingGeometry("avgPool2d", kernel: kernel, stride: stride)
        let s = shape
        return Variable.unary(self, y) { dy in
            let dx = Tensor(uninitializedShape: s)
            if dx.count > 0 {
                Pooling.averageBackward(g, outputGradient: dy.storage.pointer + dy.offset, inputGradient: dx.storage.pointer)
            }
            return dx
        }
    }

    /// Mean over the spatial axes, [N, C, H, W] → [N, C]. Pullback: dy / (H·W) on every pixel.
    public func globalAveragePool() throws -> Variable {
        let y = try value.globalAveragePool()
        let s = shape, plane = s[2] * s[3]
        return Variable.unary(self, y) { dy in
            let dx = Tensor(uninitializedShape: s)
            let src = dy.storage.pointer + dy.offset, dst = dx.storage.pointer
            let scale = 1 / Float(Swift.max(plane, 1))
            for p in 0..<(s[0] * s[1]) { (dst + p * plane).update(repeating: src[p] * scale, count: plane) }
            return dx
        }
    }
}
