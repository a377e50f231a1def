import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch copy`: a consistent copy of a snapshot, optionally compacted.
struct CopyCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "copy",
        abstract: "Copy a file consistently from one snapshot; --compact drops free pages and renumbers.",
        discussion: """
            The copy is taken from a read snapshot, so it is consistent even while the source is being \
            written (by this process, through Environment.copy(to:compact:); another process that has \
            the file open for writing holds its lock). The destination must not exist. It is synced \
            before its meta pages are written, so an interrupted copy is never a valid database.

            Without --compact the copy holds every page, named snapshots included. --compact copies \
            only the pages the newest commit's trees reach, verifying their checksums, renumbered \
            densely from page 2: the copy has no free pages and no snapshots, and the file is as \
            small as the data allows. --snapshot NAME copies that snapshot's state, compacted.

            Examples:
              larch copy app.larch backup.larch
              larch copy app.larch small.larch --compact
              larch copy app.larch monday.larch --snapshot monday
            """)

    @Argument(help: "The database to copy.")
    var source: String
    @Argument(help: "The new file to write (must not exist).")
    var destination: String
    @Flag(name: .long, help: "Drop free pages and renumber the rest densely.")
    var compact = false
    @OptionGroup var snapshot: SnapshotOption
    @Flag(name: .long, help: "Print JSON.")
    var json = false
    @Flag(name: .customLong("no-lock"),
          help: "Work without the source's lock file, for a database no other process writes meanwhile.")
    var noLock = false

    /// The JSON shape of the result.
    struct Report: Encodable {
        var source: String
        var destination: String
        var snapshotID: UInt64
        var sourcePages: UInt64
        var pages: UInt64
        var bytesWritten: Int
        var compacted: Bool
    }

    func execute() throws {
        let env = try DatabaseFile.openForReading(source, noLock: noLock)
        let s = try snapshot.read(env) { txn in try txn.copy(to: destination, compact: compact) }
        let report = Report(source: source, destination: destination, snapshotID: s.snapshotID, sourcePages: s.sourcePages,
                            pages: s.pages, bytesWritten: s.bytesWritten, compacted: s.compacted)
        if json { try printJSON(report); return }
        func g<T: BinaryInteger>(_ n: T) -> String { Formatting.grouped(n) }
        let out = BufferedOutput()
        try out.write("Copied transaction \(s.snapshotID) of \(source) to \(destination)\(snapshot.snapshot.map { " (snapshot \(ByteEncoding.quoted($0)))" } ?? "")\(s.compacted ? ", compacted" : ""): " +
                      "\(g(s.sourcePages)) → \(g(s.pages)) pages, \(Formatting.bytes(s.bytesWritten)) written\n")
        try out.flush()
    }
}
