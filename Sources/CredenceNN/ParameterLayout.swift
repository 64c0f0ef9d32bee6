import CredenceTensor

/// Where each named parameter lives inside a model's flat parameter vector — a
/// PyTorch state dict laid end to end. Every Bayesian method works on this vector
/// (SWAG moments, Laplace subsets, ensemble members, SG-MCMC samples).
public struct ParameterLayout: Codable, Equatable, Sendable {
    public struct Entry: Codable, Equatable, Sendable {
        /// State-dict name, e.g. "3.weight".
        public let name: String
        /// Index of the layer that owns it.
        public let layer: Int
        public let offset: Int
        public let shape: [Int]
        public var count: Int { shape.reduce(1, *) }
        public var range: Range<Int> { offset..<(offset + count) }
    }

    public private(set) var entries: [Entry] = []
    /// Total number of parameters.
    public private(set) var count = 0

    public init() {}

    /// Appends a parameter of `shape` owned by layer `layer` at the end of the vector.
    public mutating func append(name: String, layer: Int, shape: [Int]) {
        let e = Entry(name: name, layer: layer, offset: count, shape: shape)
        entries.append(e)
        count += e.count
    }

    public func entry(named name: String) -> Entry? { entries.first { $0.name == name } }

    /// The entries of layer `index`, in order.
    public func entries(ofLayer index: Int) -> [Entry] { entries.filter { $0.layer == index } }

    /// The contiguous index range covered by the given layers' parameters.
    public func range(ofLayers layers: Range<Int>) -> Range<Int> {
        let selected = entries.filter { layers.contains($0.layer) }
        guard let first = selected.first, let last = selected.last else { return 0..<0 }
        return first.offset..<(last.offset + last.count)
    }
}
