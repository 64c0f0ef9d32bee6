import CredenceNN
import CredenceTensor

/// Where a Laplace subset lives in the model: its layers, its parameter blocks in subset
/// coordinates, and the flat-vector index of every subset coordinate.
///
/// Subset coordinates are the chosen layers' parameters in flat-vector order (each layer's
/// weight W [out, in] row-major, then its bias); a subnetwork keeps a sorted selection of
/// them. Everything before the first chosen layer is a fixed prefix, computed once per batch.
///
/// Dense layers of a chain give per-example Jacobians in factored form (layer input ×
/// output-gradient), which every structure uses directly. A subset with other layers
/// (convolutions), or of a graph of blocks (ResNet, DenseNet), is served by per-example
/// Jacobian rows — one reverse pass per example and output — so it is limited to small subsets
/// (the first layer, a subnetwork) and to the diagonal, full and low-rank structures.
public struct LaplaceSubset: Equatable, Sendable {
    public let kind: WeightSubset
    /// Model indices of the chosen layers, ascending.
    public let layers: [Int]
    /// Parameter blocks (weights, biases) of the chosen layers, in layer coordinates (for
    /// per-example Jacobian rows: one block per parameter tensor in subset coordinates).
    public let blocks: [ParameterBlock]
    /// Subset coordinate → position in the concatenated layer coordinates (dense subnetworks only).
    public let selection: [Int]?
    /// Subset coordinate → index in the model's flat parameter vector.
    public let flatIndices: [Int]
    /// Prior groups (one per parameter tensor that has chosen coordinates), in subset coordinates.
    public let groups: [Range<Int>]
    /// True when the chosen layer is the network's output layer with nothing after it
    /// but dropout: the output-gradients are then the seeds themselves (no backward pass).
    public let isOutputLayerOnly: Bool
    /// True when the subset includes a layer that is not dense, or the model is a graph of
    /// blocks: Jacobians come as rows, per example.
    public let usesPerExampleJacobians: Bool

    public var dimension: Int { flatIndices.count }
    /// Number of coordinates of the chosen layers (before a subnetwork selection).
    public var layerCoordinateCount: Int { blocks.last?.range.upperBound ?? 0 }
    /// The dense-layer blocks structures may use with factored Jacobians (empty otherwise).
    public var factoredBlocks: [ParameterBlock] { selection == nil && !usesPerExampleJacobians ? blocks : [] }

    /// Resolves `kind` on `model`; `indices` (flat parameter indices) is required for a subnetwork.
    /// The last and first layers are the last and first modules of the parameter layout
    /// (by name); the curvature is then computed layer by layer on a chain, or by rows on a graph.
    public init(_ kind: WeightSubset, model: any NetworkModel, indices: [Int]? = nil) throws {
        let (layered, chosen, sorted, last) = try Self.choose(kind, model: model, indices: indices)
        let perExample = Self.firstPerExampleLayer(chosen, of: layered) != nil
        var blocks: [ParameterBlock] = []
        var flat: [Int] = []
        for l in chosen {
            for entry in model.layout.entries(ofLayer: l) {
                let isBias = entry.shape.count == 1
                let dense = layered.layers[l] as? Dense
                blocks.append(ParameterBlock(range: flat.count..<(flat.count + entry.count), layer: l,
                                             outputs: dense?.outputs ?? entry.shape[0], inputs: isBias ? nil : dense?.inputs))
                flat += Array(entry.range)
            }
        }
        var selection: [Int]? = nil
        var groups = blocks.map(\.range)
        if kind == .subnetwork {
            // Positions of the chosen weights in the concatenated layer coordinates.
            var position = [Int: Int]()
            for (c, i) in flat.enumerated() { position[i] = c }
            let chosenPositions = sorted.map { position[$0]! }
            groups = []
            var start = 0
            for b in blocks {
                let end = start + chosenPositions[start...].prefix { b.range.contains($0) }.count
                if end > start { groups.append(start..<end) }
                start = end
            }
            if perExample {
                // Rows come in subset coordinates: one block per chosen group.
                blocks = groups.map { r in
                    let owner = blocks.first { $0.range.contains(chosenPositions[r.lowerBound]) }!
                    return ParameterBlock(range: r, layer: owner.layer, outputs: owner.outputs, inputs: nil)
                }
            } else {
                selection = chosenPositions
            }
            flat = sorted
        }
        self.kind = kind
        layers = chosen
        self.blocks = blocks
        self.selection = selection
        flatIndices = flat
        self.groups = groups
        usesPerExampleJacobians = perExample
        isOutputLayerOnly = !perExample && chosen == [last] && layered.layers[(last + 1)...].allSatisfy { $0 is Dropout }
    }

    /// What `kind` picks on `model` — its number of coordinates and the first chosen layer
    /// that needs per-example Jacobian rows (nil when none does), described for messages —
    /// without listing the coordinates (a validation of a very wide layer must not allocate
    /// its index list).
    public static func extent(of kind: WeightSubset, model: any NetworkModel, indices: [Int]? = nil) throws
        -> (dimension: Int, firstPerExampleLayer: String?) {
        let (layered, chosen, sorted, _) = try choose(kind, model: model, indices: indices)
        let dimension = kind == .subnetwork ? sorted.count : chosen.reduce(0) { $0 + model.layout.range(ofLayers: $1..<($1 + 1)).count }
        return (dimension, firstPerExampleLayer(chosen, of: layered).map(layered.layerDescription))
    }

    /// The first of `chosen` whose Jacobians come as per-example rows: a layer that is not
    /// dense, or on a graph of blocks (no chain to split into prefix and factored layers) the first.
    private static func firstPerExampleLayer(_ chosen: [Int], of model: any LayeredModel) -> Int? {
        model is Sequential ? chosen.first { !(model.layers[$0] is Dense) } : chosen.first
    }

    /// The model's layers, the chosen layers (model indices, ascending), a subnetwork's sorted
    /// distinct indices (empty otherwise) and the last parameterized layer.
    private static func choose(_ kind: WeightSubset, model: any NetworkModel, indices: [Int]?) throws
        -> (layered: any LayeredModel, chosen: [Int], sorted: [Int], last: Int) {
        let layered = try model.laplaceLayers()
        let layout = model.layout
        // Each module's layer in the chain, in layout order.
        let parameterized = layout.moduleNames.map { module in
            layout.entries.first { ParameterLayout.module(of: $0.name) == module }!.layer
        }
        guard let first = parameterized.first, let last = parameterized.last else {
            throw LaplaceError.unsupportedModel("the model has no parameters")
        }
        switch kind {
        case .lastLayer:
            // A homoscedastic head's noise level goes with the means' layer it sits on.
            let lastTwo = Array(parameterized.suffix(2))
            return (layered, layered.layers[last] is HomoscedasticNoise && lastTwo.count == 2 ? lastTwo : [last], [], last)
        case .firstLayer: return (layered, [first], [], last)
        case .all: return (layered, parameterized, [], last)
        case .subnetwork:
            guard let indices, !indices.isEmpty else {
                throw LaplaceError.invalidValue("a subnetwork needs a non-empty set of weight indices (or select them by marginal variance)")
            }
            let sorted = Array(Set(indices)).sorted()
            guard sorted.first! >= 0, sorted.last! < model.parameterCount else {
                throw LaplaceError.invalidValue("subnetwork indices must lie in 0..<\(model.parameterCount)")
            }
            let chosen = parameterized.filter { l in
                let r = model.layout.range(ofLayers: l..<(l + 1))
                return sorted.contains { r.contains($0) }
            }
            return (layered, chosen, sorted, last)
        }
    }

    /// The subset's values in `parameters`.
    public func gather(_ parameters: Tensor) -> [Double] {
        parameters.withUnsafeBufferPointer { p in flatIndices.map { Double(p[$0]) } }
    }

    /// `parameters` with `delta` added to the subset's coordinates.
    public func adding(_ delta: [Double], to parameters: Tensor) -> Tensor {
        var out = parameters
        out.withUnsafeMutableBufferPointer { p in for (c, i) in flatIndices.enumerated() { p[i] += Float(delta[c]) } }
        return out
    }
}

extension NetworkModel {
    /// The layers Laplace's curvature is computed on: a chain's layer by layer, a graph's by
    /// per-example rows.
    func laplaceLayers() throws -> any LayeredModel {
        guard let layered = self as? any LayeredModel else {
            throw LaplaceError.unsupportedModel(
                "Laplace computes its curvature over the model's layers (Kronecker factors, per-layer Jacobians), which needs a chain of layers or a graph of blocks; \(type(of: self)) is neither")
        }
        return layered
    }
}
