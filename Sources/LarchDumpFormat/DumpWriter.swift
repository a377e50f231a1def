/// Writes databases in the text format of LMDB's `mdb_dump` (VERSION=3), which `mdb_load` and
/// `larch load` read:
///
/// ```
/// VERSION=3
/// format=bytevalue            (or print)
/// database=NAME               (named databases only)
/// type=btree
/// mapsize=1073741824
/// maxreaders=126
/// db_pagesize=4096
/// HEADER=END
///  6b6579                     a key: a space, then hex (or the print encoding)
///  76616c7565                 its value, the same way
/// DATA=END
/// ```
package struct DumpWriter {
    /// How keys and values are written.
    package enum Format: String {
        /// Lowercase hex.
        case bytevalue
        /// Printable ASCII as is, a backslash doubled, other bytes as a backslash and two hex digits.
        case print
    }

    package let out: BufferedOutput
    package let format: Format

    package init(out: BufferedOutput, format: Format) {
        self.out = out
        self.format = format
    }

    /// The header of one database. `mapSize` is what an LMDB environment needs to hold the data.
    /// `duplicates`: the database holds sorted duplicates; written as mdb_dump writes an
    /// `MDB_DUPSORT` database (`duplicates=1` and `dupsort=1`), its pairs as repeated keys.
    package func header(database: String?, mapSize: Int, maxReaders: Int, pageSize: Int, duplicates: Bool = false) throws {
        var text = "VERSION=3\nformat=\(format.rawValue)\n"
        if let database {
            guard !database.utf8.contains(UInt8(ascii: "\n")) else {
                throw CLIError("the database name \"\(ByteEncoding.printable(database.utf8))\" contains a newline, which the dump format cannot carry")
            }
            text += "database=\(database)\n"
        }
        text += "type=btree\nmapsize=\(mapSize)\nmaxreaders=\(maxReaders)\n"
        if duplicates { text += "duplicates=1\ndupsort=1\n" }
        text += "db_pagesize=\(pageSize)\nHEADER=END\n"
        try out.write(text)
    }

    /// One key and its value.
    package func record(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        let format = format
        try out.append { buf in
            for item in [key, value] {
                buf.append(UInt8(ascii: " "))
                switch format {
                case .bytevalue: ByteEncoding.hex(item, into: &buf)
                case .print: ByteEncoding.printable(item, into: &buf, backslashAsHex: true)
                }
                buf.append(UInt8(ascii: "\n"))
            }
        }
    }

    /// The end of one database.
    package func end() throws { try out.write("DATA=END\n") }

    /// The `mapsize=` to write for a Larch file of `fileSize` bytes: a power of two at least twice
    /// the file and at least 1 GiB, so that `mdb_load` can hold the data.
    package static func mapSize(forFileSize fileSize: Int) -> Int {
        var size = 1 << 30
        while size < 2 * fileSize { size <<= 1 }
        return size
    }
}
