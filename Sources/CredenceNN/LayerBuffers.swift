import CredenceTensor

/// The state of a model's layers that is not a parameter — which layers keep buffers (batch
/// normalization), their values, and the module name each layer's buffers are named under —
/// shared by `Sequential` (modules "0", "1", …) and `BlockNetwork` (block paths).
struct LayerBuffers {
    /// The layers with buffers, by layer index (nil elsewhere), cast once here rather than per pass.
    let statefulLayers: [(any StatefulLayer)?]
    /// Each layer's module name, the prefix of its buffers' names.
    let moduleNames: [String]
    /// Buffer values per layer, in the order of the layer's `bufferShapes` (empty for layers
    /// without buffers).
    private(set) var values: [[Tensor]]
    /// The layer of each module name that has buffers.
    let layerOfModule: [String: Int]

    /// Fresh layers' buffers (PyTorch's initial values).
    init(layers: [any Layer], moduleNames: [String]) {
        statefulLayers = layers.map { $0 as? any StatefulLayer }
        self.moduleNames = moduleNames
        values = statefulLayers.map { $0?.initialBuffers() ?? [] }
        layerOfModule = Dictionary(uniqueKeysWithValues: zip(moduleNames, statefulLayers).enumerated()
            .compactMap { i, pair in pair.1 == nil ? nil : (pair.0, i) })
    }

    /// Every buffer with its value, named "<module>.running_mean" etc., in layer order.
    var named: [NamedBuffer] {
        statefulLayers.enumerated().flatMap { i, layer -> [NamedBuffer] in
            guard let layer else { return [] }
            return zip(layer.bufferShapes, values[i]).map { NamedBuffer(name: "\(moduleNames[i]).\($0.name)", value: $1) }
        }
    }

    /// These buffers set to `given`, by name: every buffer must be given, with its shape, and
    /// no other name.
    func replacing(_ given: [String: Tensor]) throws -> LayerBuffers {
        var copy = self
        var used = 0
        for (i, layer) in statefulLayers.enumerated() {
            guard let layer else { continue }
            copy.values[i] = try layer.bufferShapes.map { entry in
                let name = "\(moduleNames[i]).\(entry.name)"
                guard let value = given[name] else { throw ModelError.bufferMismatch("'\(name)' is missing") }
                guard value.shape == entry.shape else {
                    throw ModelError.bufferMismatch("'\(name)' has shape \(value.shape), the model's is \(entry.shape)")
                }
                used += 1
                return value
            }
        }
        if used != given.count {
            let known = Set(named.map(\.name))
            throw ModelError.bufferMismatch("the model has no buffer \(given.keys.filter { !known.contains($0) }.sorted())")
        }
        return copy
    }

    /// These buffers after folding in the batch statistics of `.train` passes (by module name,
    /// in pass order), as `ForwardContext.batchStatistics` collects them.
    func updating(with statistics: [String: [BatchNormStatistics]]) throws -> LayerBuffers {
        var copy = self
        for (module, passes) in statistics {
            guard let i = layerOfModule[module], let layer = statefulLayers[i] else {
                throw ModelError.bufferMismatch("batch statistics for '\(module)', which is not a layer with buffers")
            }
            for pass in passes { copy.values[i] = layer.updatedBuffers(copy.values[i], with: pass) }
        }
        return copy
    }

    /// Runs layer `i` with its parameters — with its buffers, recording its batch statistics in
    /// `context` under its module name, for a layer that has them.
    func forward(_ i: Int, _ layer: any Layer, _ x: Variable, parameters: [Variable], context: inout ForwardContext) throws -> Variable {
        guard let stateful = statefulLayers[i] else { return try layer.forward(x, parameters: parameters, context: &context) }
        let (y, statistics) = try stateful.forward(x, parameters: parameters, buffers: values[i], context: &context)
        if let statistics { context.batchStatistics[moduleNames[i], default: []].append(statistics) }
        return y
    }
}

/// Fresh parameters of `layers` (PyTorch's default initialisation), drawn layer by layer into
/// one flat vector of `count` values.
func initialFlatParameters(_ layers: [any Layer], count: Int, rng: inout RandomGenerator) -> Tensor {
    var flat = Tensor(uninitializedShape: [count])
    flat.withUnsafeMutableBufferPointer { dst in
        var offset = 0
        for layer in layers {
            for t in layer.initialParameters(rng: &rng) {
                t.withUnsafeBufferPointer { src in (dst.baseAddress! + offset).update(from: src.baseAddress!, count: t.count) }
                offset += t.count
            }
        }
    }
    return flat
}
