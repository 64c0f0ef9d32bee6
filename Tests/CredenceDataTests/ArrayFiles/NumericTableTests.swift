import CredenceData
import CredenceTensor
import Foundation
import Testing

@Suite struct NumericTableTests {
    func parse(_ text: String, header: CSVOptions.Header = .automatic) throws -> NumericTable {
        try NumericTable.parse(Array(text.utf8), path: "t.csv", header: header)
    }

    @Test func delimitersAndHeadersAreDetected() throws {
        let comma = try parse("p0,p1\n0.25,0.75\n\n1,0\n")
        #expect(comma.values.shape == [2, 2] && comma.values.values == [0.25, 0.75, 1, 0])
        #expect(comma.columnNames == ["p0", "p1"])
        #expect(comma.lineNumbers == [2, 4], "empty lines are skipped, line numbers kept")

        // np.savetxt's default: "%.18e" with single spaces.
        let spaces = try parse("2.500000000000000000e-01 7.500000000000000000e-01\n  1  0 \r\n")
        #expect(spaces.values.values == [0.25, 0.75, 1, 0] && spaces.columnNames == nil)

        let tabs = try parse("0.5\t0.5\r\n0.1\t0.9\r\n")
        #expect(tabs.values.values == [0.5, 0.5, 0.1, 0.9])
        let semicolons = try parse("\u{FEFF}a;b\n0.5;0.5\n")
        #expect(semicolons.values.shape == [1, 2] && semicolons.columnNames == ["a", "b"])

        let column = try parse("label\n3\n1\n4\n")
        #expect(column.values.shape == [3, 1] && column.values.values == [3, 1, 4])
        let forced = try parse("0,1\n2,3\n", header: .present)
        #expect(forced.values.values == [2, 3] && forced.columnNames == ["0", "1"])
        let nan = try parse("nan,1\ninf,0\n")
        #expect(nan.values.values[0].isNaN && nan.values.values[2].isInfinite, "the caller decides about NaN")
    }

    @Test func malformedTablesAreTypedErrors() throws {
        #expect(throws: DataError.raggedRow(path: "t.csv", line: 3, cells: 1, expected: 2)) { try parse("0.5,0.5\n0.1,0.9\n1\n") }
        #expect(throws: DataError.nonNumericCell(path: "t.csv", line: 2, column: 2, cell: "x")) { try parse("a,b\n0.5,x\n") }
        #expect(throws: DataError.emptyTable(path: "t.csv")) { try parse("") }
        #expect(throws: DataError.emptyTable(path: "t.csv")) { try parse("p0,p1\n\n") }
    }

    @Test func readsFilesAndGzip() throws {
        let dir = try TemporaryDirectory()
        defer { dir.cleanup() }
        try Gzip.writeFile(dir.file("p.csv.gz"), bytes: Array("0.5,0.5\n0,1\n".utf8), compress: true)
        #expect(try NumericTable.read(dir.file("p.csv.gz")).values.values == [0.5, 0.5, 0, 1])
    }
}
