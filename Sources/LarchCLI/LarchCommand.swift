import ArgumentParser
import LarchDumpFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `larch`: inspect, edit, move and verify Larch database files.
@main
struct LarchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "larch",
        abstract: "Inspect, edit, dump, load, verify and copy Larch database files.",
        discussion: """
            Commands that only read open the file read-only (other read-only processes may share it); \
            commands that write need the file to be open nowhere else. Keys and values are text \
            unless --hex is given. Exit status: 0 success, 1 a negative answer (key not found, check \
            found problems), 2 an error (message on standard error), 3 the file is not a usable \
            Larch file (empty, not a Larch file, truncated, ...), 64 a usage error.

            Examples:
              larch demo                                   a million keys, in numbers
              larch put app.larch user:1 'Ada Lovelace'    creates the file
              larch get app.larch user:1
              larch scan app.larch --prefix user: --limit 10
              larch stat app.larch --all
              larch check app.larch
              mdb_dump -a lmdb-dir | larch load app.larch  from LMDB
              larch dump app.larch --all | mdb_load lmdb   and back
              larch copy app.larch backup.larch --compact
            """,
        version: "0.1.0",
        subcommands: [
            StatCommand.self, GetCommand.self, PutCommand.self, DeleteCommand.self, ScanCommand.self,
            DumpCommand.self, LoadCommand.self, CheckCommand.self, CopyCommand.self, ReadersCommand.self,
            ShrinkCommand.self, SnapshotCommand.self, SendCommand.self, ReceiveCommand.self, UpgradeCommand.self, DemoCommand.self,
        ]
    )

    /// Refuses an argument that is not valid UTF-8 before parsing: Swift's command-line arguments
    /// replace such bytes with U+FFFD, so `put` would store, `del` delete and `--db` name other
    /// bytes than given (two different keys could become one). Binary keys, values and names go
    /// through `--hex`.
    static func main() {
        for i in 1..<Int(CommandLine.argc) {
            guard let arg = CommandLine.unsafeArgv[i] else { continue }
            let bytes = Array(UnsafeBufferPointer(start: UnsafeRawPointer(arg).assumingMemoryBound(to: UInt8.self), count: strlen(arg)))
            guard String(validating: bytes, as: UTF8.self) == nil else { continue }
            printError("larch: argument \(i) (\(ByteEncoding.quoted(bytes))) is not valid UTF-8: arguments are text; give binary keys, values and database names in hex with --hex")
            Self.exit(withError: ExitCode.validationFailure)
        }
        Self.main(nil)
    }
}
