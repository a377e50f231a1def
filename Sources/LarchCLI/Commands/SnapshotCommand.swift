import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch snapshot create|list|drop`: named snapshots of a database file.
struct SnapshotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "snapshot",
        abstract: "Create, list and drop named snapshots.",
        discussion: """
            A snapshot keeps the state of the newest commit readable — get, scan, dump and copy \
            take --snapshot NAME — after any number of commits and restarts, until it is dropped. \
            Its pages are not reused meanwhile: the file grows by what the snapshots alone hold \
            ("unique" in the list), and dropping one gives exactly that back. See docs/REPLICATION.md.

            Examples:
              larch snapshot create app.larch nightly
              larch snapshot list app.larch
              larch get app.larch user:1 --snapshot nightly
              larch snapshot drop app.larch nightly
            """,
        subcommands: [Create.self, List.self, Drop.self])

    struct Create: LarchSubcommand {
        static var messageName: String { "snapshot create" }
        static let configuration = CommandConfiguration(
            commandName: "create", abstract: "Create snapshot NAME of the newest commit.")

        @OptionGroup var file: FileArgument
        @Argument(help: "The snapshot's name (1 to 255 bytes of UTF-8).")
        var name: String
        @OptionGroup var wait: WaitOption

        func execute() throws {
            let env = try file.openForWriting(create: false, wait: wait)
            let info = try env.createSnapshot(name)
            let out = BufferedOutput()
            try out.write("Created snapshot \(ByteEncoding.quoted(info.name)) of transaction \(info.transactionID).\n")
            try out.flush()
        }
    }

    struct List: LarchSubcommand {
        static var messageName: String { "snapshot list" }
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List the snapshots, oldest first: transaction, creation time, bytes referenced and held only by each.")

        @OptionGroup var file: FileArgument
        @Flag(name: .long, help: "Print JSON.")
        var json = false
        @Flag(name: .long, help: "Print only the names, one per line, oldest first.")
        var names = false

        /// The JSON shape of one snapshot.
        struct Snapshot: Encodable {
            var name: String
            var transaction: UInt64
            var created: String
            var id: String
            var referencedBytes: UInt64
            var uniqueBytes: UInt64
        }

        func execute() throws {
            let env = try file.openForReading()
            let snapshots = try env.snapshots().sorted { ($0.transactionID, $0.name) < ($1.transactionID, $1.name) }
            if json {
                try printJSON(snapshots.map {
                    Snapshot(name: $0.name, transaction: $0.transactionID, created: Formatting.utcTimestamp(nanoseconds: $0.createdNanoseconds),
                             id: ByteEncoding.hex($0.id), referencedBytes: $0.referencedBytes, uniqueBytes: $0.uniqueBytes)
                })
                return
            }
            let out = BufferedOutput()
            if names {
                for s in snapshots { try out.write(ByteEncoding.printable(Array(s.name.utf8)) + "\n") }
            } else if snapshots.isEmpty {
                try out.write("No snapshots.\n")
            } else {
                for s in snapshots {
                    try out.write("\(ByteEncoding.quoted(s.name)): transaction \(s.transactionID), created \(Formatting.utcTimestamp(nanoseconds: s.createdNanoseconds)), \(Formatting.bytes(s.referencedBytes)) referenced, \(Formatting.bytes(s.uniqueBytes)) held only by it\n")
                }
            }
            try out.flush()
        }
    }

    struct Drop: LarchSubcommand {
        static var messageName: String { "snapshot drop" }
        static let configuration = CommandConfiguration(
            commandName: "drop", abstract: "Drop snapshot NAME, giving back the pages only it held.")

        @OptionGroup var file: FileArgument
        @Argument(help: "The snapshot's name.")
        var name: String
        @OptionGroup var wait: WaitOption

        func execute() throws {
            let env = try file.openForWriting(create: false, wait: wait)
            let held = try env.snapshots().first { $0.name.utf8.elementsEqual(name.utf8) }?.uniqueBytes
            try env.dropSnapshot(name)
            let out = BufferedOutput()
            try out.write("Dropped snapshot \(ByteEncoding.quoted(name))\(held.map { ", giving back \(Formatting.bytes($0))" } ?? "").\n")
            try out.flush()
        }
    }
}
