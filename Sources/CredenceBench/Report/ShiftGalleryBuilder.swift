import CredenceData
import CredenceTensor
import Foundation

extension ShiftGallery {
    /// The gallery of one grey image (`[1, H, W]`, `[H, W]` or `[1, 1, H, W]`, values in [0, 1])
    /// under every shift kind at every severity of `ShiftKind.severities` (corruptions 1–5,
    /// rotations 0–180° in 15° steps, translations 2–26 px), each picture up-scaled `scale`×
    /// with nearest-neighbour pixels.
    ///
    /// - Throws: `DataError` for an image of another shape or values outside [0, 1].
    ///
    /// ```swift
    /// let gallery = try ShiftGallery(image: try test.inputs.rows(0..<1), seed: 0)
    /// try writeReport(records, to: "report", gallery: gallery)
    /// ```
    public init(image: Tensor, seed: UInt64 = 0, kinds: [ShiftKind] = ShiftKind.allCases, scale: Int = 3) throws {
        guard image.shape.count >= 2, image.count == image.shape.suffix(2).reduce(1, *), image.count > 0 else {
            throw DataError.invalidArgument(name: "image", message: "needs one grey image [1, H, W], got shape \(image.shape)")
        }
        let (h, w) = (image.shape[image.shape.count - 2], image.shape[image.shape.count - 1])
        let batch = try image.reshaped([1, 1, h, w])
        func picture(_ t: Tensor) throws -> Data { try PNG.encode(image: t.reshaped([h, w]), scale: scale) }
        var rows: [Row] = []
        for kind in kinds {
            let cells = try kind.severities.map { severity -> (label: String, png: Data) in
                let shifted = try applyShift(Shift(kind, severity: severity), to: batch, seed: seed)
                let label = kind == .rotation ? "\(severity)°" : kind == .translation ? "\(severity) px" : "\(severity)"
                return (label, try picture(shifted))
            }
            rows.append(Row(shift: kind.rawValue, cells: cells))
        }
        self.init(clean: try picture(batch), rows: rows, displaySize: max(56, min(72, w * scale)))
    }
}

/// The gallery for a report on `records`: the first test image of the first image data set
/// (Fashion-MNIST, MNIST-5k) among runs that evaluated shift, or nil when there is none or its
/// files are not on this machine (the report then says so instead of failing).
public func shiftGallery(for records: [RunRecord], dataDirectory: String? = nil, seed: UInt64 = 0) -> ShiftGallery? {
    let imageSets: [DatasetName] = [.fashionMNIST, .mnist5k, .shapes]
    let candidates = records.filter { $0.configuration.evaluations.contains(.shift) || !$0.metrics.shift.isEmpty }
        .map(\.configuration.dataset)
    guard let dataset = imageSets.first(where: candidates.contains) else { return nil }
    do {
        let test: InMemoryDataset
        if dataset == .fashionMNIST {
            let options = DataOptions(directory: dataDirectory)
            test = try FashionMNIST.load(.test, directory: FashionMNIST.directory(options: options))
        } else {
            test = try loadDataset(dataset, options: DataOptions(directory: dataDirectory)).test
        }
        guard test.count > 0 else { return nil }
        return try ShiftGallery(image: try test.inputs.rows(0..<1), seed: seed)
    } catch {
        return nil
    }
}
