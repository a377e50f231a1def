/// Reads the text format of LMDB's `mdb_dump` (see `DumpWriter`): one or more sections, each a
/// header and key/value lines up to `DATA=END`. With `noHeader` (mdb_load -T), the input is
/// instead plain pairs of lines in the print encoding, without headers or leading spaces.
///
/// Errors name the input line. Header keywords Larch has no use for (mapsize, maxreaders, mapaddr)
/// are accepted; unknown ones are reported as warnings and ignored, as mdb_load does; database
/// flags that Larch cannot honour (integer or reverse key or value order) are errors, since
/// loading such data would silently change its meaning. `duplicates=1` (or `dupsort=1`, or
/// `dupfixed=1`, which only says the values have one size) marks a database with sorted
/// duplicates: its records repeat keys, one per value.
package final class DumpReader {
    /// The header of one section.
    package struct Header {
        /// The `database=` name as it is in the input: LMDB names databases with bytes.
        package var database: [UInt8]?
        /// The line of the `database=` name (0 when there is none).
        package var databaseLine = 0
        package var format: DumpWriter.Format = .bytevalue
        /// `db_pagesize=`, if given.
        package var pageSize: Int?
        /// `duplicates=1` or `dupsort=1`: the section's database holds sorted duplicates.
        package var duplicates = false
    }

    private let lines: LineReader
    private let noHeader: Bool
    private var format: DumpWriter.Format = .bytevalue
    private var inSection = false
    private var sectionsRead = 0
    /// A line read ahead (the first line with `noHeader`, to tell empty input).
    private var pending: ArraySlice<UInt8>?
    /// Warnings about ignored header lines.
    package private(set) var warnings: [String] = []

    /// The number of the input line last read, from 1.
    package var lineNumber: Int { lines.lineNumber }

    package init(lines: LineReader, noHeader: Bool) {
        self.lines = lines
        self.noHeader = noHeader
    }

    private func error(_ message: String) -> CLIError {
        CLIError("line \(lines.lineNumber): \(message)")
    }

    /// The next section's header, or nil at the end of the input.
    package func nextSection() throws -> Header? {
        precondition(!inSection, "finish the section's records first")
        if noHeader {
            guard sectionsRead == 0 else { return nil }
            guard let first = try lines.next() else { throw CLIError("empty input: no key and value lines") }
            pending = first
            sectionsRead += 1
            inSection = true
            format = .print
            return Header(database: nil, format: .print, pageSize: nil)
        }
        var header = Header()
        var sawAnything = false
        while let raw = try lines.next() {
            let line = raw.last == UInt8(ascii: "\r") ? raw.dropLast() : raw
            if line.isEmpty && !sawAnything { continue }
            sawAnything = true
            if line.elementsEqual("HEADER=END".utf8) {
                sectionsRead += 1
                inSection = true
                format = header.format
                return header
            }
            guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw error("unexpected line \"\(ByteEncoding.printable(line.prefix(60)))\" in a header (expected KEYWORD=VALUE or HEADER=END); is this an mdb_dump file?")
            }
            let keyword = String(decoding: line[..<eq], as: UTF8.self), valueBytes = line[(eq + 1)...]
            let value = String(decoding: valueBytes, as: UTF8.self)
            let quoted = ByteEncoding.quoted(valueBytes)
            switch keyword {
            case "VERSION":
                guard value == "3" else { throw error("unsupported dump version \(quoted) (this reads VERSION=3)") }
            case "format":
                guard let f = DumpWriter.Format(rawValue: value) else {
                    throw error("unsupported format \(quoted) (expected bytevalue or print)")
                }
                header.format = f
            case "database":
                guard !valueBytes.isEmpty else { throw error("empty database name") }
                // As the line holds it, a CR at its end included: a name may end in CR, and only
                // the loader can tell whether it takes the name (`larch load` refuses it).
                header.database = Array(raw[(eq + 1)...])
                header.databaseLine = lines.lineNumber
            case "type":
                guard value == "btree" else { throw error("unsupported database type \(quoted) (expected btree)") }
            case "db_pagesize":
                guard let size = Int(value) else { throw error("db_pagesize \(quoted) is not a number") }
                header.pageSize = size
            case "mapsize", "maxreaders", "mapaddr":
                break
            case "duplicates", "dupsort", "dupfixed":
                guard value == "0" || value == "1" else {
                    throw error("\(keyword)=\(ByteEncoding.printable(valueBytes.prefix(64))): expected 0 or 1")
                }
                if value == "1" { header.duplicates = true }
            case "integerdup", "reversedup":
                if value != "0" {
                    throw error("the database orders its duplicate values by LMDB's \(keyword) (\(keyword)=\(ByteEncoding.printable(valueBytes.prefix(64)))); Larch orders values bytewise, so loading it would change their order")
                }
            case "integerkey", "reversekey":
                if value != "0" {
                    throw error("the database uses LMDB's \(keyword) order (\(keyword)=\(ByteEncoding.printable(valueBytes.prefix(64)))); Larch orders keys bytewise, so loading it would change its order")
                }
            default:
                warnings.append("line \(lines.lineNumber): unrecognized keyword ignored: \(ByteEncoding.quoted(line[..<eq]))")
            }
        }
        if sawAnything { throw error("the input ends inside a header (no HEADER=END)") }
        if sectionsRead == 0 {
            throw CLIError("empty input: no dump header (when the input comes from mdb_dump, did it fail?)")
        }
        return nil
    }

    /// The next record of the current section, or nil at its end (`DATA=END`).
    package func nextRecord() throws -> (key: [UInt8], value: [UInt8])? {
        precondition(inSection, "read a section header first")
        guard let key = try item(first: true) else {
            inSection = false
            return nil
        }
        guard let value = try item(first: false) else {
            throw error("a key without a value")
        }
        return (key, value)
    }

    /// One key or value line, or nil at the end of the section (where a key would start).
    private func item(first: Bool) throws -> [UInt8]? {
        guard var line = try pending.take() ?? lines.next() else {
            if noHeader { return nil }
            throw error("the input ends before DATA=END")
        }
        if !noHeader {
            if line.elementsEqual("DATA=END".utf8) { return nil }
            if line.elementsEqual("DATA=END\r".utf8) {
                throw error("DATA=END ends in CR (\\r): the input has Windows (CRLF) line endings, which mdb_dump never writes; convert it first (tr -d '\\r')")
            }
            guard line.first == UInt8(ascii: " ") else {
                throw error("expected a data line starting with a space, or DATA=END")
            }
            line = line.dropFirst()
        }
        if line.last == UInt8(ascii: "\r") {
            throw error("\(first ? "key" : "value"): the line ends in CR (\\r): the input has Windows (CRLF) line endings, which mdb_dump never writes; convert it first (tr -d '\\r')")
        }
        do {
            switch format {
            case .bytevalue: return try ByteEncoding.decodeHex(line)
            case .print: return try ByteEncoding.decodePrintable(line)
            }
        } catch {
            throw self.error("\(first ? "key" : "value"): \(error)")
        }
    }
}
