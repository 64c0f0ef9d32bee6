import CredenceInference
import CredenceNN
import CredenceTensor

/// Smoothing noise drawn where the network first sees it: after its first dense layer.
///
/// A network that begins with a dense layer on the (flattened) input maps x + σδ,
/// δ ~ N(0, I_d), to (Wx + b) + σWδ, and Wδ ~ N(0, WWᵀ) = L·z with z ~ N(0, I_h) and L the
/// Cholesky factor of the h×h matrix WWᵀ. So the noisy copies can be drawn directly as that
/// layer's outputs — exactly the same distribution of everything the network computes after
/// it — with h instead of d normal draws per copy and a triangular product of h²/2
/// multiply-adds instead of the layer's h·d. It pays when the layer narrows (h < d): the
/// Fashion-MNIST MLP 784-512-512-10 needs 398k multiply-adds per noisy copy instead of 669k.
///
/// It applies to one set of first-layer weights: a point network, or MC dropout's masks (which
/// all share them); an ensemble's members each map δ by their own W and take the direct path.
struct FirstLayerNoise {
    /// The chain and the index of its first dense layer (only `flatten` before it).
    let chain: Sequential
    let layer: Int
    /// Where the layer's parameters (W, then b) sit in the flat vector, and their values as
    /// factored (each batch's redrawn networks are compared with them).
    let layerParameters: Range<Int>
    let layerValues: Tensor
    /// L, the lower-triangular Cholesky factor of WWᵀ, [h, h].
    let factor: Tensor

    /// The factored first layer of `networks`, when they share it and it narrows; nil when the
    /// direct path is the only one (or the cheaper one): another architecture, a widening
    /// layer, different weights across networks, or a rank-deficient W (dead units), whose
    /// WWᵀ has no Cholesky factor.
    init?(networks: [PosteriorSample]) {
        guard let first = networks.first, let chain = first.model.layerChain,
              let layer = chain.spec.layers.firstIndex(where: { $0 != .flatten }),
              case let .dense(inputs, outputs, _) = chain.spec.layers[layer], outputs < inputs,
              let weightEntry = chain.layout.entry(named: "\(layer).weight") else { return nil }
        let entries = chain.layout.entries(ofLayer: layer)
        let range = entries.map(\.offset).min()!..<entries.map { $0.range.upperBound }.max()!
        guard let values = Self.layerValues(of: first, range: range),
              networks.allSatisfy({ $0.model.layerChain?.spec == chain.spec && Self.layerValues(of: $0, range: range) == values }),
              let weight = try? first.parameters.segment(offset: weightEntry.offset, shape: weightEntry.shape),
              let w = try? DenseMatrix(weight),
              let factor = try? w.matmul(w, transposeRight: true).choleskyFactor() else { return nil }
        self.chain = chain
        self.layer = layer
        layerParameters = range
        layerValues = values
        self.factor = factor.tensor
    }

    /// Whether every one of `networks` (e.g. a batch's redrawn samples) is this chain with the
    /// factored first layer.
    func applies(to networks: [PosteriorSample]) -> Bool {
        networks.allSatisfy { $0.model.layerChain?.spec == chain.spec && Self.layerValues(of: $0, range: layerParameters) == layerValues }
    }

    private static func layerValues(of sample: PosteriorSample, range: Range<Int>) -> Tensor? {
        try? sample.parameters.segment(offset: range.lowerBound, shape: [range.count])
    }

    /// Wx + b for one input, [h].
    func center(of input: Tensor, parameters: Tensor) throws -> Tensor {
        var context = ForwardContext(mode: .eval)
        let x = try input.reshaped([1] + chain.inputShape)
        let out = try chain(Variable(constant: x), parameters: Variable(constant: parameters), context: &context,
                            layers: 0..<(layer + 1))
        return out.value
    }

    /// `count` draws of the first layer's output on x + σδ: `center` + σ·L·z, [count, h], each
    /// worker part drawing its normals and multiplying them by Lᵀ (`parallelNormalRows`).
    func noisyOutputs(center: Tensor, count: Int, sigma: Float, rng: inout RandomGenerator) -> Tensor {
        let h = center.count
        return factor.withUnsafeBufferPointer { l in
            center.withUnsafeBufferPointer { c in
                parallelNormalRows(count: count, rowShape: [h], rng: &rng) { rows, region in
                    BLAS.multiplyByTransposedLowerTriangular(m: rows.count, n: h, alpha: sigma, l: l.baseAddress!, ldl: h,
                                                             b: region.baseAddress!, ldb: h)
                    for r in 0..<rows.count {
                        for j in 0..<h { region[r * h + j] += c[j] }
                    }
                }
            }
        }
    }

    /// A network's outputs (scaled as its samples scale them) from the first layer's outputs on.
    func outputs(fromFirstLayer hidden: Tensor, of sample: PosteriorSample) throws -> Tensor {
        var context = ForwardContext(mode: sample.mode, rng: sample.noise)
        let out = try chain(Variable(constant: hidden), parameters: Variable(constant: sample.parameters), context: &context,
                            layers: (layer + 1)..<chain.layers.count).value
        return sample.outputScale.map { out * $0 } ?? out
    }
}
