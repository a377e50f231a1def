import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch readers`: the read transactions of every process that has the database open.
struct ReadersCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "readers",
        abstract: "List the read transactions of every process that has the database open.",
        discussion: """
            A reader pins its snapshot: pages freed by later commits wait for it before they are
            reused, so a forgotten one makes the file grow. Each line shows the process, the
            snapshot, its age, how many commits the database is past it, and the free pages that
            wait for it. Readers of processes that died are marked stale; --clear-stale frees
            their slots (a writer also does so by itself).

            Examples:
              larch readers app.larch
              larch readers app.larch --json
              larch readers app.larch --clear-stale
            """)

    @OptionGroup var file: FileArgument
    @Flag(name: .long, help: "Print JSON.")
    var json = false
    @Flag(name: .customLong("clear-stale"), help: "Free the slots of readers whose process no longer runs.")
    var clearStale = false

    /// The JSON shape of one reader.
    struct Reader: Encodable {
        var pid: Int
        var stale: Bool
        var expired: Bool
        var snapshot: UInt64?
        var ageSeconds: Double
        var lag: UInt64
        var pagesHeld: UInt64
    }

    /// The JSON shape of the report.
    struct Report: Encodable {
        var file: String
        var clearedStale: Int?
        var readers: [Reader]
    }

    func execute() throws {
        let env = try file.openForReading()
        let cleared = clearStale ? env.clearStaleReaders() : nil
        let readers = try env.activeReaders().map {
            Reader(pid: $0.processID, stale: !$0.isLive, expired: $0.isExpired, snapshot: $0.snapshotID,
                   ageSeconds: Double($0.ageNanoseconds) / 1e9, lag: $0.lag, pagesHeld: $0.pagesHeld)
        }
        if json { try printJSON(Report(file: file.file, clearedStale: cleared, readers: readers)); return }
        let out = BufferedOutput()
        if let cleared { try out.write("Cleared \(cleared) stale reader slot(s).\n") }
        if readers.isEmpty { try out.write("No readers.\n") }
        for r in readers {
            let snapshot = r.snapshot.map { "snapshot \($0)" } ?? "beginning"
            let age = r.ageSeconds < 60 ? String(format1: r.ageSeconds) + " s" : Formatting.grouped(Int(r.ageSeconds)) + " s"
            try out.write("pid \(r.pid)\(r.stale ? " (stale)" : "")\(r.expired ? " (expired)" : ""): \(snapshot), \(age) old, \(Formatting.grouped(r.lag)) commit(s) behind, \(Formatting.grouped(r.pagesHeld)) page(s) held\n")
        }
        try out.flush()
    }
}

extension String {
    /// `value` with one decimal.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}
