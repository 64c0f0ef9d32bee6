import Credence
import Foundation

/// Progress and log output on stderr: a redrawn bar on a terminal, periodic plain
/// lines otherwise (logs, CI).
enum Terminal {
    static let isInteractive = isatty(STDERR_FILENO) == 1

    static func error(_ line: String, terminator: String = "\n") {
        FileHandle.standardError.write(Data((line + terminator).utf8))
    }

    /// `line` in place of the status line on a terminal (`""` clears it); nothing otherwise.
    static func redraw(_ line: String) {
        if isInteractive { error("\r\u{1B}[K" + line, terminator: "") }
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "--:--" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60) : String(format: "%02d:%02d", s / 60, s % 60)
    }

    /// Renders one training progress report.
    static func show(_ p: TrainingProgress) {
        let fraction = Double(p.step) / Double(max(p.stepsPerEpoch, 1))
        var fields = [String(format: "loss %.4f", p.loss)]
        if let a = p.accuracy { fields.append(String(format: "acc %.4f", a)) }
        fields.append(String(format: "%.0f samples/s", p.samplesPerSecond))
        fields.append("ETA \(duration(p.remaining))")
        let status = fields.joined(separator: "  ")
        if isInteractive {
            let width = 24, filled = Int(fraction * Double(width))
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            var line = "\r\u{1B}[2Kepoch \(p.epoch)/\(p.epochs) \(bar) \(status)"
            if p.isEpochEnd { line += "\n" }
            FileHandle.standardError.write(Data(line.utf8))
        } else if p.isEpochEnd {
            error("epoch \(p.epoch)/\(p.epochs)  \(status)")
        } else {
            error(String(format: "epoch %d/%d  %3.0f%%  ", p.epoch, p.epochs, fraction * 100) + status)
        }
    }
}

/// Prints `value` as one JSON object on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // ROC curves start at threshold +∞; JSON has no infinity, so spell it as a string.
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// One indented "label  value" line of a metrics table; nothing for a missing value.
func printMetricRow(_ name: String, _ value: Double?, labelWidth: Int) {
    guard let value else { return }
    print("  " + name.padding(toLength: labelWidth, withPad: " ", startingAt: 0) + String(format: "%.4f", value))
}
