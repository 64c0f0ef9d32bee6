import CredenceData
import CredenceTensor
import Foundation
import Testing

/// One image under every shift × severity as a PNG contact sheet: one row per kind (in
/// `ShiftKind.allCases` order), the clean image first, then the evaluated severities; short
/// rows are filled with mid-grey cells. Set `CREDENCE_SHIFT_CONTACT_SHEET=/path/sheet.png`
/// to keep the sheet for looking at; otherwise it goes to a temporary directory.
@Test func contactSheetOfEveryShiftDecodes() throws {
    let image = ShiftSamples.images(1)
    let columns = 1 + ShiftKind.allCases.map(\.severities.count).max()!
    var cells: [Tensor] = []
    for kind in ShiftKind.allCases {
        var row = [try image.reshaped([1, 28, 28])]
        for severity in kind.severities {
            row.append(try applyShift(Shift(kind, severity: severity), to: image, seed: 1).reshaped([1, 28, 28]))
        }
        row += Array(repeating: Tensor(shape: [1, 28, 28], repeating: 0.5), count: columns - row.count)
        cells += row
    }
    let png = try PNG.grid(cells, columns: columns, padding: 2, scale: 3)

    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = ProcessInfo.processInfo.environment["CREDENCE_SHIFT_CONTACT_SHEET"] ?? dir.file("shifts.png")
    try png.write(to: URL(fileURLWithPath: path))

    let decoded = try readPNG(try Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(decoded.width == columns * 84 + (columns + 1) * 2)
    #expect(decoded.height == ShiftKind.allCases.count * 84 + (ShiftKind.allCases.count + 1) * 2)
    // The clean cell of the first row is the image itself.
    let clean = image.values
    for y in 0..<28 { for x in 0..<28 {
        let p = decoded.pixels[(2 + 3 * y) * decoded.width + 2 + 3 * x]
        #expect(p == UInt8((clean[y * 28 + x] * 255).rounded()))
    } }
}
