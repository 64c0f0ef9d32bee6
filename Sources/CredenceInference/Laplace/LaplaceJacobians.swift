import CredenceNN
import CredenceTensor

// Per-example Jacobians of the network outputs with respect to a Laplace subset, as the
// curvature (seeds = Hessian square-root columns) and the GLM predictive (seeds = identity)
// consume them.

extension LaplaceSubset {
    /// Network outputs f and the factored backpropagation of `seeds(f)` ([B, K, R]): for each
    /// chosen layer its inputs and, per seed column j, the gradient of fᵀ·seedⱼ with respect
    /// to the layer's output ([B, R, out]). With seeds = identity these are the per-output
    /// Jacobians; with seeds = Hessian square roots they give the GGN.
    ///
    /// The prefix (layers before the first chosen one) runs without a tape; when the chosen
    /// layer is the output layer no backward pass is needed (the gradients are the seeds).
    func backpropagate(model network: any NetworkModel, parameters: Tensor, inputs: Tensor,
                       seeds: (Tensor) throws -> Tensor) throws -> (outputs: Tensor, factors: OutputJacobians) {
        guard let model = try network.laplaceLayers() as? Sequential else {
            // A graph of blocks: rows through the whole network.
            return try perExampleRows(inputs: inputs, parameters: parameters, seeds: seeds) { x, theta, context in
                try network(x, parameters: theta, context: &context)
            }
        }
        let theta = Variable(constant: parameters)
        var context = ForwardContext(mode: .eval)
        let first = layers[0], end = model.layers.count
        let prefix = try model(Variable(constant: inputs), parameters: theta, context: &context, layers: 0..<first).value
        let b = prefix.shape[0]
        func hasBias(_ l: Int) -> Bool { (model.layers[l] as! Dense).useBias }
        if usesPerExampleJacobians {
            return try perExampleRows(inputs: prefix, parameters: parameters, seeds: seeds) { x, theta, context in
                try model(x, parameters: theta, context: &context, layers: first..<end)
            }
        }
        if isOutputLayerOnly {
            let f = try model(Variable(constant: prefix), parameters: theta, context: &context, layers: first..<end).value
            let l = try seeds(f)
            let g = try l.permuted([0, 2, 1])  // [B, R, K]
            let layer = OutputJacobians.Layer(inputs: prefix, outputGradients: g, hasBias: hasBias(first))
            return (f, OutputJacobians(exampleCount: b, outputCount: g.shape[1], layers: [layer], selection: selection))
        }
        let tape = Tape()
        var x = tape.variable(prefix)
        var layerInputs: [Tensor] = [], layerOutputs: [Variable] = []
        for i in first..<end {
            let chosen = layers.contains(i)
            if chosen { layerInputs.append(x.value) }
            x = try model(x, parameters: theta, context: &context, layers: i..<(i + 1))
            if chosen { layerOutputs.append(x) }
        }
        let f = x.value
        let l = try seeds(f)
        let k = f.shape[1], r = l.shape[2]
        var gradients = layerOutputs.map { Tensor(uninitializedShape: [b, r, $0.shape[1]]) }
        for j in 0..<r {
            var seed = Tensor(uninitializedShape: [b, k])
            seed.withUnsafeMutableBufferPointer { s in
                l.withUnsafeBufferPointer { lp in for e in 0..<b { for o in 0..<k { s[e * k + o] = lp[(e * k + o) * r + j] } } }
            }
            let grads = tape.gradients(of: x, seed: seed)
            for (t, out) in layerOutputs.enumerated() {
                let g = grads[out], width = out.shape[1]
                g.withUnsafeBufferPointer { gp in
                    gradients[t].withUnsafeMutableBufferPointer { dst in
                        for e in 0..<b { for o in 0..<width { dst[(e * r + j) * width + o] = gp[e * width + o] } }
                    }
                }
            }
        }
        let factorLayers = zip(zip(layers, layerInputs), gradients).map { li, g in
            OutputJacobians.Layer(inputs: li.1, outputGradients: g, hasBias: hasBias(li.0))
        }
        return (f, OutputJacobians(exampleCount: b, outputCount: r, layers: factorLayers, selection: selection))
    }

    /// Jacobian rows for subsets with non-dense layers or of a graph: per example, one forward
    /// pass (`run` on `inputs`: a chain's layers after its prefix, or the whole graph) with the
    /// parameters on a tape and one reverse pass per seed column (B·R passes per batch).
    private func perExampleRows(inputs: Tensor, parameters: Tensor, seeds: (Tensor) throws -> Tensor,
                                run: (Variable, Variable, inout ForwardContext) throws -> Variable)
        throws -> (outputs: Tensor, factors: OutputJacobians) {
        let b = inputs.shape[0]
        var context = ForwardContext(mode: .eval)
        let f = try run(Variable(constant: inputs), Variable(constant: parameters), &context).value
        let l = try seeds(f)
        let k = f.shape[1], r = l.shape[2], n = dimension
        var rows = Tensor(uninitializedShape: [b, r, n])
        for e in 0..<b {
            let tape = Tape()
            let theta = tape.variable(parameters)
            let out = try run(Variable(constant: try inputs.rows(e..<(e + 1))), theta, &context)
            for j in 0..<r {
                var seed = Tensor(uninitializedShape: [1, k])
                seed.withUnsafeMutableBufferPointer { s in l.withUnsafeBufferPointer { lp in for o in 0..<k { s[o] = lp[(e * k + o) * r + j] } } }
                let g = tape.gradients(of: out, seed: seed)[theta]
                g.withUnsafeBufferPointer { gp in
                    rows.withUnsafeMutableBufferPointer { dst in
                        for (c, i) in flatIndices.enumerated() { dst[(e * r + j) * n + c] = gp[i] }
                    }
                }
            }
        }
        return (f, OutputJacobians(rows: rows))
    }
}
