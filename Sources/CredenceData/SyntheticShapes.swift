import CredenceTensor

extension SyntheticData {
    /// 28×28 grey images of four shapes — disc, square, triangle, cross — at random
    /// positions, sizes and intensities on a dark background with a little pixel noise;
    /// the label is the shape. The embedded image set: it needs no files, so the built-in
    /// quick suite can exercise image shifts and the corruption gallery anywhere.
    ///
    /// Example i has class i mod 4; the centre is uniform in [9, 19]², the size
    /// (radius / half side) in [4, 8], the intensity in [0.6, 1], the noise N(0, 0.05²),
    /// and values are clamped to [0, 1].
    public static func shapes(count: Int, rng: inout RandomGenerator) -> InMemoryDataset {
        let side = 28
        var pixels = [Float](repeating: 0, count: count * side * side)
        var labels = [Int32](repeating: 0, count: count)
        for i in 0..<count {
            let label = i % 4
            labels[i] = Int32(label)
            let cx = 9 + 10 * rng.uniformFloat(), cy = 9 + 10 * rng.uniformFloat()
            let size = 4 + 4 * rng.uniformFloat(), level = 0.6 + 0.4 * rng.uniformFloat()
            for y in 0..<side {
                for x in 0..<side {
                    let dx = Float(x) + 0.5 - cx, dy = Float(y) + 0.5 - cy
                    let inside: Bool
                    switch label {
                    case 0: inside = dx * dx + dy * dy <= size * size                              // disc
                    case 1: inside = Swift.abs(dx) <= size && Swift.abs(dy) <= size               // square
                    case 2: inside = dy <= size && dy >= -size && Swift.abs(dx) <= (dy + size) / 2 // triangle, apex up
                    default: inside = (Swift.abs(dx) <= size / 3 && Swift.abs(dy) <= size)
                        || (Swift.abs(dy) <= size / 3 && Swift.abs(dx) <= size)                    // cross
                    }
                    let v = (inside ? level : 0) + 0.05 * rng.normalFloat()
                    pixels[(i * side + y) * side + x] = Swift.min(Swift.max(v, 0), 1)
                }
            }
        }
        return try! InMemoryDataset(name: "shapes", inputs: Tensor(shape: [count, 1, side, side], values: pixels),
                                    labels: labels, classCount: 4)
    }
}
