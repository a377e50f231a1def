/// What the fuzz target (scripts/fuzz-dump.sh) and the replay of its corpus (`swift test`) check of
/// the dump reader on any input: it reads the input as `larch load` would, with headers and
/// without (`--no-header`), and must end in records and a clean end, or in a `CLIError` — never a
/// crash, a hang or another error. Input it reads cleanly is written back by `DumpWriter` in both
/// formats and read again: the same sections and records must come back.
package enum DumpFuzzing {
    /// One section as read.
    struct Section: Equatable {
        var database: [UInt8]?
        var records: [Record]
    }

    struct Record: Equatable {
        var key: [UInt8]
        var value: [UInt8]
    }

    /// Checks `input`; returns what went wrong, or nil.
    package static func check(_ input: [UInt8]) -> String? {
        for noHeader in [false, true] {
            let sections: [Section]
            switch read(input, noHeader: noHeader) {
            case .failure(let violation): return violation.message
            case .success(nil): continue   // a CLIError: malformed input, reported
            case .success(let s?): sections = s
            }
            if noHeader { continue }
            if let violation = roundTrip(sections) { return violation }
        }
        return nil
    }

    /// The sections of `input`, nil when the reader refused it with a `CLIError`, or a violation.
    static func read(_ input: [UInt8], noHeader: Bool) -> Result<[Section]?, Violation> {
        let reader = DumpReader(lines: LineReader(bytes: input), noHeader: noHeader)
        var sections: [Section] = []
        var records = 0
        do {
            while let header = try reader.nextSection() {
                var section = Section(database: header.database, records: [])
                while let (key, value) = try reader.nextRecord() {
                    section.records.append(Record(key: key, value: value))
                    records += 1
                    // Each record takes at least two lines, each a byte of input at least.
                    guard records <= input.count else { return .failure(Violation("more records than input bytes")) }
                }
                sections.append(section)
                guard sections.count <= input.count + 1 else { return .failure(Violation("more sections than input bytes")) }
            }
        } catch is CLIError {
            return .success(nil)
        } catch {
            return .failure(Violation("an error that is not a CLIError: \(type(of: error)): \(error)"))
        }
        return .success(sections)
    }

    /// `sections` written in both formats and read back must be what they were.
    static func roundTrip(_ sections: [Section]) -> String? {
        for format in [DumpWriter.Format.bytevalue, .print] {
            let out = BufferedOutput.collecting()
            let writer = DumpWriter(out: out, format: format)
            var written: [Section] = []
            do {
                for section in sections {
                    // load refuses a name that is not UTF-8, and a writer cannot carry a newline.
                    let name = section.database.map { String(decoding: $0, as: UTF8.self) }
                    if let name, Array(name.utf8) != section.database! { continue }
                    try writer.header(database: name, mapSize: 1 << 30, maxReaders: 126, pageSize: 4096)
                    for r in section.records {
                        try r.key.withUnsafeBytes { k in try r.value.withUnsafeBytes { v in try writer.record(key: k, value: v) } }
                    }
                    try writer.end()
                    written.append(section)
                }
                try out.flush()
            } catch {
                return "the writer failed on what the reader read: \(error)"
            }
            switch read(out.collected, noHeader: false) {
            case .failure(let violation): return "reading back the \(format) dump: \(violation.message)"
            case .success(nil) where written.isEmpty: continue   // nothing written: empty input
            case .success(nil): return "the \(format) dump of what was read does not read back"
            case .success(let again?):
                if again != written { return "the \(format) dump of what was read reads back differently" }
            }
        }
        return nil
    }

    /// A property the reader broke.
    struct Violation: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }
}
