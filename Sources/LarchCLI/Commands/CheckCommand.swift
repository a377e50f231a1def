import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch check`: verify a file completely.
struct CheckCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Verify every page, checksum, key order and free-space record of a file.",
        discussion: """
            Walks every tree of the current snapshot: every page below the page count must be \
            reachable exactly once or free exactly once; every page must match the checksum its parent \
            recorded; headers, cells and key order must be valid; every count in a descriptor must \
            match. Every problem is listed with its page number. Safe on any file: damaged or \
            garbage input is reported, never followed into a crash or a loop.

            A meta page that is invalid while the other is current is normal after a crash during a \
            commit (the torn meta is rewritten by the next commit) and is shown, not counted.

            Exit status: 0 clean; 1 problems found; 2 the file could not be read at all (missing, \
            permissions, I/O error); 3 the file is not a usable Larch file (empty, not a Larch file, \
            unsupported version, truncated, both meta pages invalid), as for every command.

            Examples:
              larch check app.larch
              larch check app.larch --json
            """)

    @OptionGroup var file: FileArgument
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    /// One problem in the JSON output.
    struct Problem: Encodable {
        var page: UInt64?
        var message: String
    }

    /// The JSON shape of the report.
    struct Report: Encodable {
        var file: String
        var clean: Bool
        var transactionID: UInt64?
        var pageCount: UInt64?
        var reachablePages: UInt64?
        var freePages: UInt64?
        var pagesAwaitingReuse: UInt64?
        var namedDatabases: Int?
        var snapshots: Int?
        var snapshotPages: UInt64?
        var metaPages: [String] = []
        var problems: [Problem] = []
    }

    func execute() throws {
        var report = Report(file: file.file, clean: false)
        var unusable = false
        do {
            let env = try file.openForReading()
            let metas = try env.metaPages()
            report.metaPages = metas.map(\.description)
            let r = try env.check()
            // A torn meta page is what a crash leaves; any other invalid meta page is damage.
            let damagedMetas = metas.filter { $0.transactionID == nil && !$0.looksTorn }
                .map { Problem(page: UInt64($0.page), message: "meta page is invalid: \($0.problem ?? "unknown"); the commit it held is lost") }
            report.clean = r.isClean && damagedMetas.isEmpty
            report.transactionID = r.transactionID
            report.pageCount = r.pageCount
            report.reachablePages = r.reachablePages
            report.freePages = r.freePages
            report.pagesAwaitingReuse = r.pagesAwaitingReuse
            report.namedDatabases = r.databaseCount
            report.snapshots = r.snapshotCount
            report.snapshotPages = r.snapshotPages
            report.problems = damagedMetas + r.problems.map { Problem(page: $0.page, message: $0.message) }
            if r.problems.count >= CheckReport.maxProblems {
                report.problems.append(Problem(page: nil, message: "stopped listing after \(CheckReport.maxProblems) problems"))
            }
        } catch let error as UnusableFile {
            report.problems = [Problem(page: nil, message: error.description)]
            unusable = true
        } catch let error as LarchError where error.meansUnusableFile {
            report.problems = [Problem(page: error.page, message: Messages.describe(error))]
        }
        if json {
            try printJSON(report)
        } else {
            func g<T: BinaryInteger>(_ n: T) -> String { Formatting.grouped(n) }
            let out = BufferedOutput()
            if let t = report.transactionID, let pages = report.pageCount {
                try out.write("Checked \(file.file): transaction \(t), \(g(pages)) pages\n")
                for m in report.metaPages { try out.write("  \(m)\n") }
                try out.write("  \(g(report.reachablePages ?? 0)) reachable, \(g(report.freePages ?? 0)) free, " +
                              "\(g(report.pagesAwaitingReuse ?? 0)) awaiting reuse; \(report.namedDatabases ?? 0) named database(s)" +
                              ((report.snapshots ?? 0) > 0 ? "; \(report.snapshots!) snapshot(s), holding \(g(report.snapshotPages ?? 0)) page(s) the newest commit does not reach" : "") + "\n")
            }
            // A problem may quote the file (a database's name): no byte of it acts on the terminal.
            for p in report.problems { try out.write(inert(p.page.map { "page \($0): \(p.message)" } ?? p.message) + "\n") }
            try out.write(report.clean ? "OK: no problems found.\n" : "\(g(report.problems.count)) problem(s) found.\n")
            try out.flush()
        }
        if unusable { throw ExitCode(ExitStatus.unusableFile) }
        if !report.clean { throw ExitCode(ExitStatus.negative) }
    }
}

extension LarchError {
    /// The page an error is about, if any.
    var page: UInt64? {
        switch self {
        case .checksumMismatch(let page, _, _), .corruptPage(let page, _): return page
        default: return nil
        }
    }
}
