import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch load`: read mdb_dump's text format into a Larch file.
struct LoadCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "load",
        abstract: "Load the text format of LMDB's mdb_dump (from standard input) into a Larch file.",
        discussion: """
            Reads every section of the input: each goes to the database its database= line names \
            (created if needed), or to the main database, or to --db NAME when given. Existing keys \
            are overwritten unless --no-overwrite. A section with duplicates=1 (mdb_dump of an \
            MDB_DUPSORT database: a key repeated once per value) goes to a named database with \
            sorted duplicates, which gains each (key, value) pair; its values are limited like keys. The file is created if missing, with the page size \
            of --page-size, else the dump's db_pagesize when Larch supports it, else 4096. \
            The whole input is one transaction, all or nothing: if the input turns out to be malformed, \
            or the load is interrupted (Ctrl-C, SIGTERM, SIGHUP: it stops at the next record and exits \
            128 + the signal, 130 for Ctrl-C; a second Ctrl-C stops it at once) or killed, the file \
            keeps exactly what it held before. Memory stays bounded whatever the input's size: the \
            input is read in small buffers, and changed pages past --max-dirty MiB are written to the \
            file before the commit (the default is Larch's, a quarter of memory up to 256 MiB).

            Examples:
              mdb_dump -a lmdb-dir | larch load app.larch
              larch load app.larch --input app.dump
              larch load app.larch --db users < users.dump
              printf 'key\\nvalue\\n' | larch load app.larch --no-header     plain key/value line pairs (mdb_load -T)
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var waiting: WaitOption
    @OptionGroup var database: DatabaseOption
    @Option(name: [.customShort("f"), .long], help: ArgumentHelp("Read this file instead of standard input.", valueName: "file"))
    var input: String?
    @Flag(name: [.customShort("T"), .long], help: "The input is plain pairs of lines (key, value) in the print encoding, with no headers (mdb_load -T).")
    var noHeader = false
    @Flag(name: [.customShort("N"), .long], help: "Keep the existing value when a key is already present.")
    var noOverwrite = false
    @OptionGroup var pageSize: PageSizeOption
    @Flag(name: .shortAndLong, help: "Print nothing on success.")
    var quiet = false
    @Option(name: .long, help: ArgumentHelp("Keep at most this many MiB of changed pages in memory; more are written to the file before the commit.", valueName: "MiB"))
    var maxDirty: Int?

    func validate() throws {
        if let maxDirty, maxDirty < 1 { throw ValidationError("--max-dirty needs a number of MiB, 1 or more") }
    }

    /// Opens (creating) the database `name`, given on input line `line` (0: by --db); a name Larch
    /// cannot take is reported with its line, cut.
    /// `duplicates`: the section holds sorted duplicates (`duplicates=1`), and so must the database.
    static func open(_ name: String, in txn: inout WriteTransaction, line: Int, duplicates: Bool) throws -> Database {
        do {
            return try txn.openDatabase(name, create: true, duplicates: duplicates ? .sorted : .none)
        } catch LarchError.invalidDatabaseName(_, let reason) {
            throw CLIError("\(line > 0 ? "line \(line): " : "")invalid database name \(ByteEncoding.quoted(name)): \(reason)")
        } catch LarchError.incompatibleDatabase {
            let kind = duplicates ? "without sorted duplicates" : "with sorted duplicates"
            throw CLIError("\(line > 0 ? "line \(line): " : "")database \(ByteEncoding.quoted(name)) exists \(kind); the section \(duplicates ? "holds sorted duplicates (duplicates=1)" : "has one value per key") — load it under another name with --db NAME")
        }
    }

    /// A `database=` name as Larch names databases: UTF-8 text. LMDB names them with bytes; a name
    /// that is not UTF-8 is refused rather than changed (decoding would put U+FFFD in place of each
    /// bad byte, so a round trip to LMDB would rename the database).
    static func name(_ bytes: [UInt8], line: Int) throws -> String {
        if bytes.last == UInt8(ascii: "\r") {
            throw CLIError("line \(line): the database name \(ByteEncoding.quoted(bytes)) ends in CR (\\r): the input may have Windows (CRLF) line endings (convert it with tr -d '\\r'), or the name ends in CR, which cannot be told apart: load the section under a name of your choice with --db NAME")
        }
        guard let name = String(validating: bytes, as: UTF8.self) else {
            throw CLIError("line \(line): the database name \(ByteEncoding.quoted(bytes)) is not UTF-8; Larch names databases with text, so it cannot keep this name as it is: load the section under a name of your choice with --db NAME")
        }
        return name
    }

    func execute() throws {
        Interruption.install()   // Ctrl-C stops at the next record and says what was committed
        let reader = DumpReader(lines: try LineReader.open(input), noHeader: noHeader)
        let existed = DatabaseFile.exists(file.file)
        var env: Environment? = nil
        /// After a failure, with the transaction aborted: what became of the file. One this load
        /// created is removed again (the environment is closed and released first, so that its lock
        /// file is free) unless another process has it open.
        func outcome() -> String {
            guard env != nil else { return "nothing was written to \(file.file)" }
            if existed { return "\(file.file) is as it was before the load" }
            env?.close()
            env = nil
            return DatabaseFile.removeCreated(file.file) ? "\(file.file), which the load created, was removed"
                : "\(file.file), which the load created, holds nothing"
        }
        var committed = 0, pending = 0, skipped = 0, sections = 0, commits = 0
        var databases = Set<[UInt8]>()   // names as bytes: distinct names may be equal Strings
        // The file is opened (created) when the first record or empty named database needs it: a
        // load that fails before then creates nothing.
        func environment(_ header: DumpReader.Header) throws -> Environment {
            if let env { return env }
            var size = pageSize.pageSize
            if size == nil, let p = header.pageSize, p >= 4096 && p <= 65536 && p & (p - 1) == 0 { size = p }
            let opened = try file.openForWriting(create: true, pageSize: size, wait: waiting, maxDirtyBytes: maxDirty.map { $0 << 20 })
            Messages.warnIfIgnored(pageSize: pageSize.pageSize, opened, command: "load")
            env = opened
            return opened
        }
        // One transaction for the whole input, begun at the first record or empty named database
        // (dropped, so aborted, when an error ends the load).
        var txn: WriteTransaction? = nil
        do {
            while let header = try reader.nextSection() {
                sections += 1
                let name = try database.db ?? header.database.map { try Self.name($0, line: header.databaseLine) }
                let nameLine = database.db == nil ? header.databaseLine : 0   // where the name came from
                if header.duplicates && name == nil {
                    throw CLIError("line \(reader.lineNumber): the section holds sorted duplicates (duplicates=1), which only a named database can hold in Larch: load it with --db NAME")
                }
                databases.insert(Array((name ?? "").utf8))
                var db = Database.main
                var opened = false   // the section's database, in the transaction
                while let record = try reader.nextRecord() {
                    if let signal = Interruption.signal { throw Interruption.error(signal) }
                    let (key, value) = record
                    if !opened {
                        if txn == nil { txn = try environment(header).beginWrite() }
                        if let name { db = try Self.open(name, in: &txn!, line: nameLine, duplicates: header.duplicates) }
                        opened = true
                    }
                    do {
                        if header.duplicates {
                            // One record per (key, value) pair; with --no-overwrite a present pair counts as kept.
                            if try !txn!.putDuplicate(value, forKey: key, in: db), noOverwrite {
                                skipped += 1
                                continue
                            }
                        } else {
                            try txn!.put(value, forKey: key, in: db, overwrite: !noOverwrite)
                        }
                    } catch LarchError.keyExists {
                        skipped += 1
                        continue
                    } catch {
                        throw CLIError("line \(reader.lineNumber): \(Messages.describe(error))")
                    }
                    pending += 1
                }
                if !opened, let name {   // an empty section still creates its database
                    if txn == nil { txn = try environment(header).beginWrite() }
                    _ = try Self.open(name, in: &txn!, line: nameLine, duplicates: header.duplicates)
                }
            }
            if let t = txn.take() {
                try t.commit()
                committed = pending
                pending = 0
                commits = 1
            }
        } catch let error as UnusableFile {
            throw error   // before anything was loaded
        } catch let error as CLIError where error.signal != nil {
            // The open transaction was dropped, so aborted, on the way here.
            txn = nil   // aborted: the file keeps what it held before the load
            let lost = pending > 0 ? "the \(Formatting.grouped(pending)) entries read were rolled back; " : ""
            printError("larch load: \(error) after input line \(reader.lineNumber): \(lost)\(outcome())")
            throw ExitCode(128 + error.signal!)
        } catch {
            txn = nil
            let note = env == nil ? "" : " (nothing was committed: the load is one transaction, and \(outcome()))"
            throw CLIError("\(Messages.describe(error))\(note)")
        }
        for w in reader.warnings { printError("larch load: warning: \(w)") }
        if env == nil {   // sections with no records
            Messages.warnIfIgnored(pageSize: pageSize.pageSize, try file.openForWriting(create: true, pageSize: pageSize.pageSize, wait: waiting), command: "load")
        }
        if !quiet {
            let skippedNote = skipped > 0 ? ", \(Formatting.grouped(skipped)) existing keys kept" : ""
            printError("larch load: \(Formatting.grouped(committed)) entries into \(databases.count) database(s) from \(sections) section(s) in \(commits) commit(s)\(skippedNote)")
        }
    }
}
