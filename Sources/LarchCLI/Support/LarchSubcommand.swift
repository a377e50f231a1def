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

/// Exit statuses shared by every command.
enum ExitStatus {
    /// The command did what was asked.
    static let success: Int32 = 0
    /// A negative answer: the key is absent, `check` found problems.
    static let negative: Int32 = 1
    /// An error: the file is missing or unreadable, the input is malformed, the disk is full, ...
    static let failure: Int32 = 2
    /// The file is not a usable Larch file: it cannot be opened as a Larch database (`UnusableFile`).
    static let unusableFile: Int32 = 3
}

/// The file cannot be opened as a Larch database: it is empty, not a Larch file, of an unsupported
/// version, truncated, or both its meta pages are invalid. Every command exits 3 for it.
struct UnusableFile: Error, CustomStringConvertible {
    var description: String
}

extension LarchError {
    /// Whether opening a file failed because it is not a usable Larch file (rather than because it
    /// could not be read, or is busy).
    var meansUnusableFile: Bool {
        switch self {
        case .notALarchFile, .unsupportedVersion, .bothMetaPagesInvalid, .truncatedFile, .checksumMismatch, .corruptPage: return true
        default: return false
        }
    }
}

/// A `larch` subcommand: its `execute()` may throw any error, which is printed as one line on
/// standard error (`larch get: ...`) with exit status 2 (3 for `UnusableFile`) — never a stack trace.
protocol LarchSubcommand: ParsableCommand {
    func execute() throws
    /// The command as messages name it (`get`, `snapshot list`).
    static var messageName: String { get }
}

extension LarchSubcommand {
    static var messageName: String { _commandName }

    func run() throws {
        do {
            try execute()
        } catch let exit as ExitCode {
            throw exit
        } catch {
            printError("larch \(Self.messageName): \(Messages.describe(error))")
            throw ExitCode(error is UnusableFile ? ExitStatus.unusableFile : ExitStatus.failure)
        }
    }
}

/// Prints a line to standard error, with every control character escaped (`inert`): messages
/// quote input, and no byte of it may act on the terminal.
func printError(_ message: String) {
    var line = Array(inert(message).utf8)
    line.append(UInt8(ascii: "\n"))
    line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress!, $0.count) }
}

/// `text` with every control character — C0 (the newline too), DEL and C1 — shown as a backslash
/// and the hex digits of its UTF-8 bytes, as the print encoding shows them: a message that quotes
/// input (whatever escaped it or forgot to) cannot clear, recolour or retitle a terminal.
func inert(_ text: String) -> String {
    func active(_ v: UInt32) -> Bool { v < 0x20 || (0x7f...0x9f).contains(v) }
    guard text.unicodeScalars.contains(where: { active($0.value) }) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
        if active(scalar.value) { out += ByteEncoding.printable(Array(String(scalar).utf8)) } else { out.unicodeScalars.append(scalar) }
    }
    return out
}

/// The database file argument and how to open it.
struct FileArgument: ParsableArguments {
    @Argument(help: "The database file.")
    var file: String

    @Flag(name: .customLong("no-lock"),
          help: "Work without the lock file (FILE-lock), for a database no other process writes meanwhile (read-only media, a directory this user cannot write).")
    var noLock = false

    /// Opens an existing file read-only (other processes may have it open, and write, meanwhile).
    func openForReading() throws -> Environment { try DatabaseFile.openForReading(file, noLock: noLock) }

    /// Opens an existing file for writing, or creates it when `create` is set; a write waits for
    /// the writer lock for at most `wait` seconds.
    func openForWriting(create: Bool, pageSize: Int? = nil, wait: WaitOption, maxDirtyBytes: Int? = nil) throws -> Environment {
        try DatabaseFile.openForWriting(file, create: create, pageSize: pageSize, wait: wait.wait, maxDirtyBytes: maxDirtyBytes, noLock: noLock)
    }
}

/// `--wait SECONDS`: how long a writing command waits while another process writes.
struct WaitOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Wait at most this long for another process's write to finish (0: fail at once).", valueName: "seconds"))
    var wait: Double = 30

    func validate() throws {
        guard wait >= 0, wait.isFinite else { throw ValidationError("--wait needs a number of seconds, 0 or more") }
    }
}

/// How the CLI opens database files: checksums verified on every read, missing files reported
/// plainly, a file that is not a usable Larch file reported as `UnusableFile`.
enum DatabaseFile {
    static func openForReading(_ path: String, noLock: Bool = false) throws -> Environment {
        try requireExisting(path, allowEmpty: false)
        var options = Options(verifyChecksums: true, readOnly: true, createIfMissing: false)
        options.noLock = noLock
        return try opening(path) { try Environment(path: path, options: options) }
    }

    /// With `create`, a missing file is created, and an empty one initialized: an empty file is a
    /// database not yet made (as for sqlite3 and mdb_load).
    static func openForWriting(_ path: String, create: Bool, pageSize: Int? = nil, wait: Double, maxDirtyBytes: Int? = nil,
                               noLock: Bool = false) throws -> Environment {
        if !create { try requireExisting(path, allowEmpty: false) }
        var options = Options(verifyChecksums: true, createIfMissing: create)
        options.noLock = noLock
        if let pageSize { options.pageSize = pageSize }
        if let maxDirtyBytes { options.maxDirtyBytes = maxDirtyBytes }
        options.writerTimeout = .nanoseconds(Int64(wait * 1e9))
        return try opening(path) { try Environment(path: path, options: options) }
    }

    private static func opening(_ path: String, _ open: () throws -> Environment) throws -> Environment {
        do {
            let env = try open()
            OpenedFile.record(path, pageSize: env.pageSize)
            return env
        } catch let error as LarchError where error.meansUnusableFile {
            throw UnusableFile(description: Messages.describe(error))
        }
    }

    /// Whether a file exists at `path` (before a command that may create it).
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Removes the database at `path` and its lock file, which this command created and then
    /// failed to fill, when no other process has it open (an exclusive lock on its lock file is
    /// granted); returns whether it did. The caller has closed its own environment.
    static func removeCreated(_ path: String) -> Bool {
        let fd = open(path + "-lock", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        guard unlink(path) == 0 else { return false }
        unlink(path + "-lock")
        return true
    }

    static func requireExisting(_ path: String, allowEmpty: Bool) throws {
        var st = stat()
        guard stat(path, &st) == 0 else {
            throw CLIError(errno == ENOENT ? "no such file: \(path)" : "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CLIError("not a regular file: \(path)") }
        guard allowEmpty || st.st_size > 0 else {
            throw UnusableFile(description: "empty file: \(path) is 0 bytes, not a Larch database yet (larch put or larch load makes it one)")
        }
    }
}

/// `--page-size BYTES`: the page size of a file a command creates.
struct PageSizeOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Page size when creating the file (4096 to 65536, a power of two; an existing file keeps its own).", valueName: "bytes"))
    var pageSize: Int?

    func validate() throws {
        guard let p = pageSize else { return }
        guard p >= 4096 && p <= 65536 && p & (p - 1) == 0 else {
            throw ValidationError("--page-size \(p): a page size is a power of two from 4096 to 65536")
        }
    }
}

/// `--db NAME`: which database a command works on.
struct DatabaseOption: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A named database (default: the main, unnamed database).", valueName: "name"))
    var db: String?

    /// The database in a read transaction (must exist).
    func database(in txn: borrowing ReadTransaction) throws -> Database {
        guard let db else { return .main }
        return try txn.openDatabase(db, duplicates: try txn.databaseKind(db))
    }

    /// The database in a write transaction, created (without duplicates) when `create` is set.
    func database(in txn: inout WriteTransaction, create: Bool) throws -> Database {
        guard let db else { return .main }
        let kind: Duplicates
        do { kind = try txn.databaseKind(db) } catch LarchError.databaseNotFound { kind = .none }
        return try txn.openDatabase(db, create: create, duplicates: kind)
    }
}

/// `--hex`: keys and values given and shown as hex.
struct EncodingOption: ParsableArguments {
    @Flag(name: .long, help: "Keys and values are given and shown as hex digits (for binary data).")
    var hex = false

    /// The bytes of a key or value given on the command line.
    func decode(_ text: String, what: String) throws -> [UInt8] {
        guard hex else { return Array(text.utf8) }
        do { return try ByteEncoding.decodeHex(text) } catch {
            throw CLIError("bad hex in the \(what) \(ByteEncoding.quoted(text)): \(error)")
        }
    }

    /// The text shown for a key or value: hex, or the print encoding (printable ASCII as is).
    func show(_ bytes: some Collection<UInt8>) -> String {
        hex ? ByteEncoding.hex(bytes) : ByteEncoding.printable(bytes)
    }

    /// A key or value in a message: as `show` has it, cut after 64 bytes with the whole length given.
    func quoted(_ bytes: some Collection<UInt8>, limit: Int = 64) -> String {
        guard bytes.count > limit else { return show(bytes) }
        return show(bytes.prefix(limit)) + "... (\(Formatting.grouped(bytes.count)) bytes)"
    }
}
