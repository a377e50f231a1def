import ArgumentParser
import Larch
import LarchDumpFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `larch get`: print one value.
struct GetCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Print the value stored under a key.",
        discussion: """
            Prints the value followed by a newline: on a terminal as scan shows it (bytes outside \
            printable ASCII as a backslash and two hex digits, a backslash doubled), elsewhere (a pipe, \
            a file) as it is. --raw prints exactly the stored bytes, anywhere. Exit status 1 when the \
            key is absent. In a database with sorted duplicates, prints every value of the key, one \
            per line, in order (--raw: the first value only).

            Examples:
              larch get app.larch user:1
              larch get app.larch --db tags user:1
              larch get app.larch --hex 00ff10        the key as hex; the value is printed as hex
              larch get app.larch photo:7 --raw > photo.jpg
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var snapshot: SnapshotOption
    @Argument(help: "The key.")
    var key: String
    @OptionGroup var database: DatabaseOption
    @OptionGroup var encoding: EncodingOption
    @Flag(name: .long, help: "Print the value's bytes exactly, with no newline and no encoding.")
    var raw = false

    func validate() throws {
        if raw && encoding.hex { throw ValidationError("give --hex or --raw, not both") }
    }

    func execute() throws {
        let keyBytes = try encoding.decode(key, what: "key")
        let env = try file.openForReading()
        let values = try snapshot.read(env) { txn -> [[UInt8]] in
            let db = try database.database(in: txn)
            if !raw, try txn.stats(db).hasSortedDuplicates { return try txn.values(forKey: keyBytes, in: db) }
            return try txn.get(keyBytes, in: db).map { [$0] } ?? []
        }
        guard !values.isEmpty else {
            printError("larch get: key not found: \(encoding.quoted(keyBytes))")
            throw ExitCode(ExitStatus.negative)
        }
        let out = BufferedOutput()
        for value in values { try write(value, to: out) }
        try out.flush()
    }

    private func write(_ value: [UInt8], to out: BufferedOutput) throws {
        if raw {
            try out.write(value)
        } else if encoding.hex {
            try out.write(ByteEncoding.hex(value) + "\n")
        } else if isatty(STDOUT_FILENO) != 0 {
            // As scan shows it: a value's bytes must not garble, or act on, the terminal.
            try out.write(ByteEncoding.printable(value) + "\n")
        } else {
            try out.write(value)
            try out.write("\n")
        }
    }
}
