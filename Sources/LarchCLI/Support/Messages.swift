import Larch
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization
import LarchDumpFormat

/// The database file a command opened, for its messages (a page's byte offsets need its page size).
enum OpenedFile {
    private static let current = Mutex<(path: String, pageSize: Int)?>(nil)

    static func record(_ path: String, pageSize: Int) { current.withLock { $0 = (path, pageSize) } }
    static var path: String? { current.withLock { $0?.path } }
    static var pageSize: Int? { current.withLock { $0?.pageSize } }
}

/// Errors in the CLI's own words: what the library says in terms of its API (`Options.pageSize`,
/// `openDatabase(_:create: true)`) said in terms of the command line.
enum Messages {
    /// The one line a command prints for `error` (after `larch NAME: `).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? LarchError else { return "\(error)" }
        let file = OpenedFile.path
        switch error {
        case let .checksumMismatch(page, expected, found):
            var place = "page \(page)"
            if let size = OpenedFile.pageSize {
                let start = Int(page) * size
                place += " (bytes \(Formatting.grouped(start)) to \(Formatting.grouped(start + size - 1)) of the file)"
            }
            let check = file.map { "larch check \($0)" } ?? "larch check"
            return "\(place) failed its checksum: expected \(hex32(expected)) found \(hex32(found)); the file is damaged there: `\(check)` lists every damaged page"
        case let .databaseNotFound(name):
            let list = file.map { "`larch stat \($0) --all` lists the databases" } ?? "`larch stat FILE --all` lists the databases"
            return "database not found: \(file ?? "the file") has no database named \(ByteEncoding.quoted(name)); \(list), and put and load create one"
        case let .snapshotNotFound(name):
            let list = file.map { "`larch snapshot list \($0)` lists them" } ?? "`larch snapshot list FILE` lists them"
            return "snapshot not found: \(file ?? "the file") has no snapshot named \(ByteEncoding.quoted(name)); \(list)"
        case let .snapshotExists(name):
            return "snapshot exists: \(file ?? "the file") has a snapshot named \(ByteEncoding.quoted(name)) already; drop it first (larch snapshot drop) or choose another name"
        case let .invalidDatabaseName(name, reason):
            return "invalid database name \(ByteEncoding.quoted(name)): \(reason)"
        case let .writerTimeout(seconds):
            return "writer busy: another process held the writer lock for the \(Formatting.fixed(seconds, 1)) s this command waited; try again, or wait longer with --wait SECONDS"
        case let .mapFull(limit, required):
            return "map full: the database needs \(Formatting.grouped(required)) bytes, more than its size limit of \(Formatting.grouped(limit)) bytes"
        case let .readersFull(limit):
            let list = file.map { "`larch readers \($0)` lists them" } ?? "`larch readers FILE` lists them"
            return "readers full: all \(limit) reader slots are in use by other processes; \(list) (--clear-stale frees those of processes that died)"
        case let .io(operation, path, code, _) where code == EACCES && path.hasSuffix("-lock"):
            return "\(operation) failed on \(path): permission denied (errno \(code)). The lock file lets the processes that use "
                + "the database see each other's readers; without it a writer elsewhere could overwrite pages this command reads. "
                + "Make it (or its directory) writable, or, if no process writes the database meanwhile, run the command with --no-lock"
        case let .io(_, path, code, _) where (code == ENOSPC || code == EDQUOT) && !path.hasSuffix("-lock"):
            let shrink = file.map { "`larch shrink \($0)`" } ?? "`larch shrink FILE`"
            return error.description + ": the disk holding \(path) is full; free some space on it and try again (a write that "
                + "failed left the database as it was; deleting keys makes room inside the file, and \(shrink) gives its free pages back to the disk)"
        default:
            return error.description
        }
    }

    /// The warning for `--page-size requested` given with a file that exists with pages of another size.
    static func warnIfIgnored(pageSize requested: Int?, _ env: Environment, command: String) {
        guard let requested, requested != env.pageSize else { return }
        printError("larch \(command): warning: --page-size \(requested) ignored: \(env.path) exists, with pages of \(Formatting.grouped(env.pageSize)) bytes (a page size is chosen when a file is created)")
    }

    static func hex32(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
