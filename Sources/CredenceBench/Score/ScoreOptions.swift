import CredenceData
import CredenceMetrics
import Foundation

/// How the axes of a rank-3 per-sample probability file are ordered.
public enum ProbabilityLayout: String, CaseIterable, Codable, Sendable {
    /// `[N, S, C]`: one block of `S` sample rows per example (`np.stack(samples, axis=1)`).
    case nsc
    /// `[S, N, C]`: one `N × C` matrix per sample (`torch.stack(samples)`), Credence's own order.
    case snc
}

/// How `scoreExternalPredictions` reads and scores prediction files.
///
/// ```swift
/// var options = ScoreOptions(name: "resnet-mcdropout")
/// options.layout = .snc                  // the file is torch.stack(samples): [S, N, C]
/// ```
public struct ScoreOptions: Codable, Sendable {
    /// The method name shown in tables and the report (default "external").
    public var name: String
    /// The files hold logits (unnormalised scores); a softmax is applied to every row.
    public var logits: Bool
    /// Axis order of rank-3 probability files.
    public var layout: ProbabilityLayout
    /// The tensor to read from `.safetensors` probability files (in-distribution and OOD);
    /// nil = the first tensor in the file.
    public var tensor: String?
    /// The tensor to read from a `.safetensors` labels file; nil = the first tensor.
    public var labelsTensor: String?
    /// Largest accepted `|Σ_c p_c − 1|` for a probability row.
    public var rowTolerance: Double
    /// Equal-width bins of the reliability diagram and the ECE.
    public var binCount: Int
    /// The Credence data set the predictions were made on, when they were (e.g. a PyTorch
    /// model scored on the Fashion-MNIST test split); recorded in the report's run record.
    public var dataset: DatasetName?

    public init(name: String = "external", logits: Bool = false, layout: ProbabilityLayout = .nsc,
                tensor: String? = nil, labelsTensor: String? = nil,
                rowTolerance: Double = Predictive.defaultRowTolerance, binCount: Int = 15,
                dataset: DatasetName? = nil) {
        self.name = name
        self.logits = logits
        self.layout = layout
        self.tensor = tensor
        self.labelsTensor = labelsTensor
        self.rowTolerance = rowTolerance
        self.binCount = binCount
        self.dataset = dataset
    }

    /// Rejects options that cannot work, before any file is read.
    func validate() throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ScoreError.invalidOption(name: "--name", message: "must not be empty")
        }
        guard rowTolerance >= 0, rowTolerance < 1 else {
            throw ScoreError.invalidOption(name: "--tolerance", message: "must be in [0, 1), got \(rowTolerance)")
        }
        guard binCount >= 1 else {
            throw ScoreError.invalidOption(name: "--bins", message: "must be ≥ 1, got \(binCount)")
        }
        if let dataset, dataset.isRegression {
            throw ScoreError.invalidOption(name: "--dataset",
                                           message: "\(dataset.rawValue) is a regression set; `credence score` scores classifiers")
        }
    }
}
