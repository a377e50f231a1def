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

/// `larch dump`: write databases in mdb_dump's text format.
struct DumpCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "Write a database (or all of them) in the text format of LMDB's mdb_dump.",
        discussion: """
            The output is exactly what mdb_dump writes (VERSION=3, format=bytevalue or print, \
            database=NAME for named databases, type=btree, duplicates=1 and dupsort=1 for a database \
            with sorted duplicates, whose keys repeat once per value, HEADER=END, DATA=END), so mdb_load can \
            load it into LMDB and larch load back into Larch. The whole dump is one snapshot. \
            With --all, the main database comes first when it has entries (or when there is nothing \
            else), then every named database; like mdb_dump -a for an LMDB file whose main \
            database only names others. mapsize= is a power of two at least twice the Larch file \
            and at least 1 GiB, so that mdb_load has room for the data.

            Examples:
              larch dump app.larch > app.dump
              larch dump app.larch --db users --print
              larch dump app.larch --all | mdb_load -f /dev/stdin lmdb-dir
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var snapshot: SnapshotOption
    @OptionGroup var database: DatabaseOption
    @Flag(name: .shortAndLong, help: "Dump every database.")
    var all = false
    @Flag(name: .shortAndLong, help: "Write printable characters as they are (mdb_dump -p) instead of hex.")
    var print = false
    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
    var output: String?

    func validate() throws {
        if all && database.db != nil { throw ValidationError("give --db NAME or --all, not both") }
    }

    func execute() throws {
        let env = try file.openForReading()
        // --output is written whole or not at all: a failure part-way leaves what the file held.
        let outputFile = try output.map(OutputFile.init)
        do {
            try dump(env, to: outputFile?.fd ?? STDOUT_FILENO)
        } catch {
            outputFile?.discard()
            throw error
        }
        try outputFile?.finish()
    }

    /// Writes the dump to `fd` (its buffer is flushed, and released, before the caller closes it).
    private func dump(_ env: Environment, to fd: Int32) throws {
        let stats = try env.stats()
        let out = BufferedOutput(fd: fd)
        let writer = DumpWriter(out: out, format: print ? .print : .bytevalue)
        let mapSize = DumpWriter.mapSize(forFileSize: stats.fileSizeBytes)
        try snapshot.read(env) { txn in
            var targets: [(String?, Database)] = []
            if all {
                let names = try txn.databaseNames()
                if stats.main.entries > 0 || names.isEmpty { targets.append((nil, .main)) }
                for name in names { targets.append((name, try txn.openDatabase(name, duplicates: try txn.databaseKind(name)))) }
            } else {
                targets.append((database.db, try database.database(in: txn)))
            }
            for (name, db) in targets {
                let duplicates = try txn.stats(db).hasSortedDuplicates
                try writer.header(database: name, mapSize: mapSize, maxReaders: stats.maxReaders, pageSize: stats.pageSize,
                                  duplicates: duplicates)
                let record = { (key: RawSpan, value: RawSpan) throws -> Bool in
                    try key.withUnsafeBytes { k in try value.withUnsafeBytes { v in try writer.record(key: k, value: v) } }
                    return true
                }
                // A database with sorted duplicates: one record per (key, value) pair, as mdb_dump writes.
                if duplicates { try txn.forEachDuplicate(in: db, record) } else { try txn.forEach(in: db, .all, reverse: false, record) }
                try writer.end()
            }
        }
        try out.flush()
    }
}
