import CredenceBench
import CredenceData
import CredenceTensor
import Foundation
import Testing

/// Every malformed or inconsistent input is refused with one message that names the file
/// and says what is wrong where.
@Suite struct ScoreRefusalTests {
    let files: ScoreFiles
    let labels3: String

    init() throws {
        files = try ScoreFiles()
        labels3 = try files.npyLabels("y3.npy", [0, 1, 2])
    }

    func message(probabilities: String, labels: String? = nil, ood: [String] = [],
                 options: ScoreOptions = ScoreOptions()) -> String? {
        scoreErrorMessage {
            try scoreExternalPredictions(probabilities: probabilities, labels: labels ?? labels3, ood: ood, options: options)
        }
    }

    @Test func rowsThatDoNotSumToOneNameTheRowAndOfferLogits() throws {
        defer { files.cleanup() }
        let p = try files.npy("p.npy", shape: [3, 3], [0.2, 0.3, 0.5, 0.1, 0.1, 0.8, 0.5, 0.3, 0.1])
        let m = try #require(message(probabilities: p))
        #expect(m.contains(p) && m.contains("row 2") && m.contains("0.9") && m.contains("--logits"), "\(m)")

        let csv = try files.text("p.csv", "a,b,c\n0.2,0.3,0.5\n\n0.4,0.4,0.4\n0.5,0.5,0\n")
        let c = try #require(message(probabilities: csv))
        #expect(c.contains("p.csv") && c.contains("row 1 (line 4)") && c.contains("1.2"), "\(c)")

        // Per-sample rows are named by example and sample, in the file's own index order.
        var nsc = [Float](repeating: 0, count: 3 * 2 * 3)
        for r in 0..<6 { nsc[r * 3] = 1 }
        nsc[(1 * 2 + 1) * 3] = 0.5  // example 1, sample 1
        let m3 = try #require(message(probabilities: try files.npy("nsc.npy", shape: [3, 2, 3], nsc)))
        #expect(m3.contains("example 1, sample 1 (index [1, 1])") && m3.contains("0.5"), "\(m3)")

        // A looser tolerance accepts the same row; logits are never checked for sums.
        var loose = ScoreOptions()
        loose.rowTolerance = 0.25
        #expect(message(probabilities: csv, options: loose) == nil)
    }

    @Test func valuesOutsideZeroOneAreRefusedWithTheLogitsHint() throws {
        defer { files.cleanup() }
        let p = try files.npy("z.npy", shape: [3, 3], [0.5, -1, 0.5, 0, 0, 1, 1, 0, 0])
        let m = try #require(message(probabilities: p))
        #expect(m.contains("z.npy") && m.contains("-1.0") && m.contains("row 0, class 1") && m.contains("--logits"), "\(m)")
        var logits = ScoreOptions()
        logits.logits = true
        #expect(message(probabilities: p, options: logits) == nil)
    }

    @Test func labelsOutOfRangeOrNotWholeAreRefused() throws {
        defer { files.cleanup() }
        let p = try files.npy("p.npy", shape: [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let high = try #require(message(probabilities: p, labels: try files.npyLabels("high.npy", [0, 1, 5])))
        #expect(high.contains("high.npy") && high.contains("label 2 is 5") && high.contains("0..<3"), "\(high)")
        let negative = try #require(message(probabilities: p, labels: try files.npyLabels("neg.npy", [-1, 1, 2])))
        #expect(negative.contains("label 0 is -1"), "\(negative)")
        let fractional = try #require(message(probabilities: p, labels: try files.npy("frac.npy", shape: [3], [0, 1.5, 2])))
        #expect(fractional.contains("frac.npy") && fractional.contains("label 1 is 1.5") && fractional.contains("whole number"), "\(fractional)")
        let oneHot = try #require(message(probabilities: p, labels: p))
        #expect(oneHot.contains("labels have shape [3, 3]") && oneHot.contains("argmax"), "\(oneHot)")
        let csv = try files.text("labels.csv", "0,1\n1,0\n2,2\n")
        #expect(try #require(message(probabilities: p, labels: csv)).contains("[3, 2]"))
    }

    @Test func countMismatchNamesBothFilesAndSuggestsTheLayout() throws {
        defer { files.cleanup() }
        let p = try files.npy("p4.npy", shape: [4, 3], [Float](repeating: 1.0 / 3, count: 12))
        let m = try #require(message(probabilities: p))
        #expect(m.contains("p4.npy holds 4 examples") && m.contains("y3.npy holds 3 labels"), "\(m)")

        // [S = 2, N = 3, C = 3] read as the default [N, S, C] gives N = 2: the message says what to pass.
        let snc = try files.npy("snc.npy", shape: [2, 3, 3], [Float](repeating: 1.0 / 3, count: 18))
        let layout = try #require(message(probabilities: snc))
        #expect(layout.contains("--layout snc"), "\(layout)")
        var sampleMajor = ScoreOptions()
        sampleMajor.layout = .snc
        let nsc = try files.npy("nsc.npy", shape: [3, 2, 3], [Float](repeating: 1.0 / 3, count: 18))
        #expect(try #require(message(probabilities: nsc, options: sampleMajor)).contains("--layout nsc"))
    }

    @Test func nonFiniteValuesAreRefusedWithTheirPosition() throws {
        defer { files.cleanup() }
        let nan = try files.npy("nan.npy", shape: [3, 3], [1, 0, 0, 0, .nan, 1, 0, 0, 1])
        let m = try #require(message(probabilities: nan))
        #expect(m.contains("nan.npy") && m.contains("nan") && m.contains("row 1, class 1") && m.contains("finite"), "\(m)")
        let inf = try files.text("inf.csv", "1,0,0\n0,1,0\ninf,0,0\n")
        #expect(try #require(message(probabilities: inf)).contains("row 2 (line 3), class 0"))
        var logits = ScoreOptions()
        logits.logits = true
        #expect(try #require(message(probabilities: nan, options: logits)).contains("finite"), "logits must be finite too")
        let p = try files.npy("ok.npy", shape: [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let badLabels = try files.npy("ynan.npy", shape: [3], [0, .nan, 2])
        #expect(try #require(message(probabilities: p, labels: badLabels)).contains("ynan.npy"))
    }

    @Test func wrongRanksAndShapesAreRefused() throws {
        defer { files.cleanup() }
        let vector = try #require(message(probabilities: try files.npy("v.npy", shape: [3], [0.2, 0.3, 0.5])))
        #expect(vector.contains("v.npy") && vector.contains("shape [3]") && vector.contains("N×C"), "\(vector)")
        let rank4 = try #require(message(probabilities: try files.npy("r4.npy", shape: [1, 3, 1, 3], [Float](repeating: 1.0 / 3, count: 9))))
        #expect(rank4.contains("[1, 3, 1, 3]"))
        let column = try #require(message(probabilities: try files.npy("col.npy", shape: [3, 1], [0.9, 0.2, 0.6])))
        #expect(column.contains("np.stack([1 - p, p]"), "\(column)")
    }

    @Test func emptyFilesAreRefused() throws {
        defer { files.cleanup() }
        let zero = try files.text("zero.npy", "")
        #expect(try #require(message(probabilities: zero)).contains("zero.npy is empty (0 bytes)"))
        let noRows = try files.npy("norows.npy", shape: [0, 3], [])
        #expect(try #require(message(probabilities: noRows)).contains("norows.npy is empty (shape [0, 3])"))
        let headerOnly = try files.text("header.csv", "p0,p1,p2\n")
        #expect(try #require(message(probabilities: headerOnly)).contains("header.csv is empty (no data rows)"))
        let p = try files.npy("ok.npy", shape: [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1])
        #expect(try #require(message(probabilities: p, labels: try files.npyLabels("noy.npy", []))).contains("noy.npy is empty"))
        let noTensors = try files.safetensors("none.safetensors", [])
        #expect(try #require(message(probabilities: noTensors)).contains("holds no tensors"))
    }

    @Test func unreadableFilesNameTheFile() throws {
        defer { files.cleanup() }
        #expect(try #require(message(probabilities: "/nonexistent/p.npy")).contains("/nonexistent/p.npy"))
        let garbled = try files.text("garbled.npy", "\u{93}NUMPY garbage")
        #expect(try #require(message(probabilities: garbled)).contains("garbled.npy"))
        var truncated = NumPy.encode(Tensor(shape: [3, 3], values: [1, 0, 0, 0, 1, 0, 0, 0, 1]))
        truncated.removeLast(5)
        try Gzip.writeFile(files.path("cut.npy"), bytes: truncated, compress: false)
        let cut = try #require(message(probabilities: files.path("cut.npy")))
        #expect(cut.contains("cut.npy") && cut.contains("truncated"), "\(cut)")
        let unknown = try files.text("p.bin", "some bytes that are no known format")
        #expect(try #require(message(probabilities: unknown)).contains("unknown file format"))
        let bad = try files.text("bad.csv", "0.5,0.5\n0.5,zero\n")
        #expect(try #require(message(probabilities: bad)).contains("line 2, column 2"))
    }

    @Test func safetensorsTensorsAreChosenByName() throws {
        defer { files.cleanup() }
        let file = try files.safetensors("out.safetensors", [("probs", Tensor(shape: [3, 3], values: [1, 0, 0, 0, 1, 0, 0, 0, 1]))])
        var options = ScoreOptions()
        options.tensor = "logits"
        let m = try #require(message(probabilities: file, options: options))
        #expect(m.contains("no tensor 'logits'") && m.contains("'probs' [3, 3]"), "\(m)")
    }

    @Test func oodFilesMustHaveTheSameClasses() throws {
        defer { files.cleanup() }
        let p = try files.npy("p.npy", shape: [3, 3], [1, 0, 0, 0, 1, 0, 0, 0, 1])
        let ood = try files.npy("ood4.npy", shape: [2, 4], [Float](repeating: 0.25, count: 8))
        let m = try #require(message(probabilities: p, ood: [ood]))
        #expect(m.contains("ood4.npy has 4 classes") && m.contains("p.npy has 3"), "\(m)")
        let badOOD = try files.npy("oodbad.npy", shape: [2, 3], [0.5, 0.5, 0.5, 0.2, 0.2, 0.6])
        #expect(try #require(message(probabilities: p, ood: [badOOD])).contains("oodbad.npy"))
    }

    @Test func invalidOptionsAreRefusedBeforeReading() throws {
        defer { files.cleanup() }
        var bins = ScoreOptions()
        bins.binCount = 0
        #expect(try #require(message(probabilities: "/nonexistent.npy", options: bins)).contains("--bins"))
        var tolerance = ScoreOptions()
        tolerance.rowTolerance = 2
        #expect(try #require(message(probabilities: "/nonexistent.npy", options: tolerance)).contains("--tolerance"))
        var regression = ScoreOptions()
        regression.dataset = .bostonHousing
        #expect(try #require(message(probabilities: "/nonexistent.npy", options: regression)).contains("regression"))
    }
}
