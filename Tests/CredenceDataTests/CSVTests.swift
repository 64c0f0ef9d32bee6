import CredenceData
import CredenceTensor
import Foundation
import Testing

func parse(_ text: String, _ options: CSVOptions) throws -> InMemoryDataset {
    try CSV.parse(Array(text.utf8), path: "t.csv", name: "t", options: options)
}

@Test func headerIsDetectedAndTargetChosenByName() throws {
    let text = "\u{FEFF}x1, x2 ,species\n1.5,2,setosa\r\n\n3,4e1,virginica\n-1,0.25,setosa\n"
    let data = try parse(text, CSVOptions(task: .classification, target: .name("species")))
    #expect(data.inputs.shape == [3, 2])
    #expect(data.inputs.values == [1.5, 2, 3, 40, -1, 0.25])
    #expect(data.labels == [0, 1, 0])
    #expect(data.classNames == ["setosa", "virginica"])
    #expect(throws: DataError.self) { try CSV.load("/", options: CSVOptions(task: .regression)) }
    #expect(throws: DataError.unwritableFile(path: "/nonexistent-dir/x.gz",
                                             reason: "cannot create a temporary file in '/nonexistent-dir': No such file or directory")) {
        try Gzip.writeFile("/nonexistent-dir/x.gz", bytes: [1], compress: true)
    }
}

@Test func numericClassLabelsAreRemappedInNumericOrder() throws {
    let data = try parse("1,10\n2,-3\n3,2\n4,10\n5,2\n", CSVOptions(task: .classification))
    #expect(data.classNames == ["-3", "2", "10"])
    #expect(data.labels == [2, 0, 1, 2, 1])
    #expect(data.task == .classification(classCount: 3))
}

@Test func regressionWithTargetByIndexAndIgnoredTextColumn() throws {
    let text = "8,307.0,chevrolet chevelle,18.0\n4,97.0,datsun 510,27.0\n"
    let options = CSVOptions(task: .regression, target: .index(3), ignoredColumns: [.index(2)])
    let data = try parse(text, options)
    #expect(data.inputs.values == [8, 307, 4, 97])
    #expect(data.targets?.values == [18, 27] && data.targets?.shape == [2, 1])
    #expect(data.labels.isEmpty)
}

@Test func raggedRowReportsFileAndLineNumber() throws {
    let text = "a,b,c\n1,2,3\n4,5,6\n\n7,8\n"
    #expect(throws: DataError.raggedRow(path: "t.csv", line: 5, cells: 2, expected: 3)) {
        try parse(text, CSVOptions(task: .regression))
    }
    #expect {
        try parse(text, CSVOptions(task: .regression))
    } throws: { "\($0)".contains("t.csv, line 5") }
}

@Test func nonNumericCellReportsLineAndColumn() throws {
    #expect(throws: DataError.nonNumericCell(path: "t.csv", line: 3, column: 2, cell: "n/a")) {
        try parse("1,2,3\n4,5,6\n7,n/a,9\n", CSVOptions(task: .regression, header: .absent))
    }
    #expect(throws: DataError.nonNumericCell(path: "t.csv", line: 2, column: 1, cell: "")) {
        try parse("1,2\n,3\n", CSVOptions(task: .regression, header: .absent))
    }
    // "12abc" is not a number even though it starts like one.
    #expect(throws: DataError.nonNumericCell(path: "t.csv", line: 1, column: 3, cell: "12abc")) {
        try parse("1,2,12abc\n", CSVOptions(task: .regression, target: .index(0), header: .absent))
    }
}

@Test func missingColumnAndEmptyFileAreErrors() throws {
    #expect(throws: DataError.columnNotFound(path: "t.csv", column: "\"y\"", available: ["a", "b"])) {
        try parse("a,b\n1,2\n", CSVOptions(task: .regression, target: .name("y")))
    }
    #expect(throws: DataError.emptyTable(path: "t.csv")) { try parse("\n\n", CSVOptions(task: .regression)) }
    #expect(throws: DataError.emptyTable(path: "t.csv")) { try parse("a,b\n", CSVOptions(task: .regression, header: .present)) }
}

@Test func gzipCSVFileLoads() throws {
    let dir = try TemporaryDirectory()
    defer { dir.cleanup() }
    let path = dir.file("small.csv.gz")
    try Gzip.writeFile(path, bytes: Array("0.5;1;0\n1.5;2;1\n".utf8), compress: true)
    let data = try CSV.load(path, options: CSVOptions(task: .classification, delimiter: ";"))
    #expect(data.name == "small.csv.gz" && data.inputs.values == [0.5, 1, 1.5, 2] && data.labels == [0, 1])
    #expect {
        try CSV.load(dir.file("absent.csv"), options: CSVOptions(task: .regression), remedy: "Run x.")
    } throws: { "\($0)".contains("absent.csv") && "\($0)".contains("Run x.") }
}
