import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch stat`: sizes, free space, readers, and the shape of each database.
struct StatCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "stat",
        abstract: "Show page size, transaction, file size, free space and the shape of each database.",
        discussion: """
            Examples:
              larch stat app.larch
              larch stat app.larch --all          every named database too
              larch stat app.larch --db users     one named database
              larch stat app.larch --json
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var database: DatabaseOption
    @Flag(name: .long, help: "Show every named database.")
    var all = false
    @Flag(name: .long, help: "Print JSON.")
    var json = false

    /// The JSON shape of one database.
    struct DatabaseReport: Encodable {
        var name: String?
        var depth: Int
        var branchPages: UInt64
        var leafPages: UInt64
        var overflowPages: UInt64
        var entries: UInt64
        /// Sorted duplicates: `entries` counts (key, value) pairs, the pages include the duplicate trees'.
        var sortedDuplicates: Bool
        init(name: String?, _ s: DatabaseStats) {
            sortedDuplicates = s.hasSortedDuplicates
            self.name = name
            depth = s.depth
            branchPages = s.branchPages
            leafPages = s.leafPages
            overflowPages = s.overflowPages
            entries = s.entries
        }
        var pages: UInt64 { branchPages &+ leafPages &+ overflowPages }   // counts from the file: no trap on forged ones
    }

    /// The JSON shape of the whole report.
    struct Report: Encodable {
        var file: String
        var pageSize: Int
        var transactionID: UInt64
        var fileSizeBytes: Int
        var pageCount: UInt64
        var pagesInUse: UInt64
        var freePages: UInt64
        var pagesAwaitingReuse: UInt64
        var freeTreePages: UInt64
        var metaFreeListEntries: Int
        var readers: Int
        var maxReaders: Int
        var namedDatabaseCount: Int
        var metaPages: [String]
        var databases: [DatabaseReport]
    }

    func validate() throws {
        if all && database.db != nil { throw ValidationError("give --db NAME or --all, not both") }
    }

    func execute() throws {
        let env = try file.openForReading()
        let s = try env.stats()
        let metas = try env.metaPages()
        var databases: [DatabaseReport] = []
        try env.read { txn in
            if let name = database.db {
                databases.append(DatabaseReport(name: name, try txn.stats(try database.database(in: txn))))
            } else {
                databases.append(DatabaseReport(name: nil, s.main))
                if all {
                    for name in try txn.databaseNames() {
                        databases.append(DatabaseReport(name: name, try txn.stats(try txn.openDatabase(name, duplicates: try txn.databaseKind(name)))))
                    }
                }
            }
        }
        let report = Report(
            file: file.file, pageSize: s.pageSize, transactionID: s.transactionID, fileSizeBytes: s.fileSizeBytes,
            pageCount: s.pageCount, pagesInUse: s.pageCount - 2 - s.freePages - s.pagesAwaitingReuse,
            freePages: s.freePages, pagesAwaitingReuse: s.pagesAwaitingReuse, freeTreePages: s.freeTreePages,
            metaFreeListEntries: s.metaFreeListEntries, readers: s.readers, maxReaders: s.maxReaders, namedDatabaseCount: s.databaseCount,
            metaPages: metas.map(\.description), databases: databases)
        if json { try printJSON(report); return }

        func g<T: BinaryInteger>(_ n: T) -> String { Formatting.grouped(n) }
        var lines = [
            "File:              \(file.file), \(Formatting.bytes(s.fileSizeBytes)) (\(g(s.fileSizeBytes)) bytes)",
            "Page size:         \(g(s.pageSize)) bytes",
            "Transaction:       \(s.transactionID) (\(metas.map(\.description).joined(separator: "; ")))",
            "Pages:             \(g(s.pageCount)): 2 meta, \(g(report.pagesInUse)) in use, \(g(s.freePages)) free, \(g(s.pagesAwaitingReuse)) awaiting reuse",
            "Free space:        \(g(s.freePages &+ s.pagesAwaitingReuse)) page(s), listed by the free tree (\(g(s.freeTreePages)) page(s)) and the meta's free list (\(s.metaFreeListEntries) run(s))",
            "Readers:           \(s.readers) of \(s.maxReaders) slots in use (every process)",
            "Named databases:   \(g(s.databaseCount))",
        ]
        for d in databases {
            let title = d.name.map { "Database \"\(ByteEncoding.printable($0.utf8))\":" } ?? "Main database:"
            lines.append(title.padding(19) + "\(g(d.entries)) \(d.sortedDuplicates ? "(key, value) pairs (sorted duplicates)" : "entries"), depth \(d.depth), \(g(d.pages)) pages " +
                         "(\(g(d.branchPages)) branch, \(g(d.leafPages)) leaf, \(g(d.overflowPages)) overflow)")
        }
        let out = BufferedOutput()
        for line in lines { try out.write(line + "\n") }
        try out.flush()
    }
}

extension String {
    /// The string padded with spaces to at least `width` characters.
    func padding(_ width: Int) -> String { count >= width ? self + " " : self + String(repeating: " ", count: width - count) }
}
