/// Every failure Larch reports. Each case says what went wrong and what to do about it
/// (`description`). A write transaction that fails leaves the database as it was at its last commit.
public enum LarchError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file would grow past `Options.maxSize`. Abort the transaction, or reopen with a larger limit.
    case mapFull(limitBytes: Int, requiredBytes: Int)
    /// Keys must be at least one byte long.
    case emptyKey
    /// The key exceeds the limit for this page size (a quarter page: 1,024 bytes at 4 KiB).
    case keyTooLarge(size: Int, limit: Int)
    /// The value exceeds the largest value a page reference can describe.
    case valueTooLarge(size: Int, limit: Int)
    /// `put(..., overwrite: false)` found the key already present.
    case keyExists
    /// The file does not start with a Larch meta page.
    case notALarchFile(path: String)
    /// The file was written by a format version this build does not read.
    case unsupportedVersion(path: String, found: UInt32, supported: UInt32)
    /// Neither meta page is valid; the file cannot be opened. Both reasons are given.
    case bothMetaPagesInvalid(path: String, page0: String, page1: String)
    /// A page's content does not match the checksum its parent recorded.
    case checksumMismatch(page: UInt64, expected: UInt32, found: UInt32)
    /// A page is structurally invalid (bad kind, offsets out of bounds, keys out of order, ...).
    case corruptPage(page: UInt64, reason: String)
    /// The file is shorter than its meta page says.
    case truncatedFile(path: String, sizeBytes: Int, requiredBytes: Int)
    /// The transaction was committed or aborted and can no longer be used.
    case transactionEnded
    /// The environment was opened read-only.
    case readOnlyEnvironment
    /// A named database does not exist (open it with `create: true` inside a write transaction).
    case databaseNotFound(name: String)
    /// Database names must be non-empty UTF-8 of at most the key size limit.
    case invalidDatabaseName(name: String, reason: String)
    /// A database handle from another environment was used.
    case foreignDatabase
    /// All reader slots are in use; end some read transactions or raise `Options.maxReaders`.
    case readersFull(limit: Int)
    /// An option is out of range.
    case invalidOption(String)
    /// A system call failed.
    case io(operation: String, path: String, errno: Int32, message: String)
    /// A previous commit failed after its meta page may have reached the disk; the in-memory state can
    /// no longer be trusted. Close and reopen the environment.
    case environmentFailed(reason: String)
    /// The environment has been closed.
    case environmentClosed
    /// A change was attempted inside a zero-copy view of the same transaction (`withValue`,
    /// `forEach`, `Cursor.withCurrent`), which could move or free the bytes the view shows.
    case viewInUse
    /// This thread already has the write transaction open: a second one would wait for the first
    /// for ever. Use the open one, or end it first.
    case nestedWriteTransaction
    /// A write transaction (or its cursor) was used while a nested transaction of it is open
    /// (`Transaction.nested`): inside the nested closure, use the child transaction it was given.
    case nestedTransactionOpen
    /// Another write transaction — of this process or another — held the writer lock for longer
    /// than `Options.writerTimeout`.
    case writerTimeout(seconds: Double)
    /// A writer reused the pages of this read transaction's snapshot, which had fallen too far
    /// behind (`Options.maxReaderLag`). End it and begin a new one.
    case snapshotExpired(snapshot: UInt64)
    /// No named snapshot of that name exists.
    case snapshotNotFound(name: String)
    /// A named snapshot of that name exists already: drop it first, or choose another name.
    case snapshotExists(name: String)
    /// A snapshot name must be 1 ... 255 bytes of valid UTF-8.
    case invalidSnapshotName(name: String, reason: String)
    /// A snapshot cannot be created here (for example after this transaction changed a database).
    case snapshotNotAllowed(reason: String)
    /// A change stream is malformed, truncated or damaged; nothing of it was applied.
    case invalidChangeStream(reason: String)
    /// A change stream does not apply to this file's current state (its base snapshot is missing,
    /// or the file changed since); nothing of it was applied.
    case changeStreamBaseMismatch(reason: String)
    /// Bytes decoded as an `OrderedKey` are not an encoding of that type (malformed, cut short, or
    /// followed by more bytes): the key was written by another type or by hand.
    case invalidKeyEncoding(reason: String)
    /// Bytes decoded as a value (`LarchBinaryDecoder`, a `ValueCoder`, a `TypedDatabase`) are not an
    /// encoding of the expected type, or a value could not be encoded.
    case invalidValueEncoding(reason: String)
    /// A database was opened or used as the other kind: with sorted duplicates when it was created
    /// without them, or the other way round, or a duplicates-only operation on a plain database
    /// (LMDB's `MDB_INCOMPATIBLE`). `reason` says which.
    case incompatibleDatabase(name: String, reason: String)
    /// `putDuplicate(..., allowExisting: false)` found the (key, value) pair already present
    /// (LMDB's `MDB_KEYEXIST` with `MDB_NODUPDATA`).
    case duplicateExists
    /// Values of a sorted-duplicates database are sorted like keys and limited like them: 1 to
    /// `limit` bytes (a quarter page).
    case duplicateValueSize(size: Int, limit: Int)

    public var description: String {
        switch self {
        case let .mapFull(limit, required):
            return "map full: the database needs \(required) bytes but its size limit is \(limit) bytes; abort this transaction, or reopen with a larger Options.maxSize"
        case .emptyKey:
            return "empty key: keys must be at least 1 byte long"
        case let .keyTooLarge(size, limit):
            return "key too large: \(size) bytes, the limit for this page size is \(limit) bytes"
        case let .valueTooLarge(size, limit):
            return "value too large: \(size) bytes, the limit is \(limit) bytes"
        case .keyExists:
            return "key exists: the key is already present and overwriting was not allowed"
        case let .notALarchFile(path):
            return "not a Larch file: \(path) does not start with a Larch meta page"
        case let .unsupportedVersion(path, found, supported):
            let move = found == 3 && supported == 4
                ? " (version 3 files are valid version 4 files: run `larch upgrade \(path)` (or Environment.upgrade(path:)) to mark it version 4)"
                : found < supported
                ? " (dump it with the build that wrote it — `larch dump --all` — and load the dump with this one)"
                : " (it was written by a newer Larch)"
            return "unsupported version: \(path) has format version \(found); this build of Larch reads version \(supported)" + move
        case let .bothMetaPagesInvalid(path, p0, p1):
            return "both meta pages of \(path) are invalid (page 0: \(p0); page 1: \(p1)); the file cannot be opened — restore it from a backup"
        case let .checksumMismatch(page, expected, found):
            return "page \(page) failed its checksum: expected \(hex32(expected)) found \(hex32(found)); the file is damaged in that page (its byte offset is \(page) times the page size); Environment.check() lists every damaged page"
        case let .corruptPage(page, reason):
            return "page \(page) is corrupt: \(reason)"
        case let .truncatedFile(path, size, required):
            return "truncated file: \(path) is \(size) bytes but its meta page needs \(required); was the copy interrupted?"
        case .transactionEnded:
            return "transaction ended: it was already committed or aborted; begin a new one"
        case .readOnlyEnvironment:
            return "read-only environment: the environment was opened with Options.readOnly"
        case let .databaseNotFound(name):
            return "database not found: no database named \"\(name)\"; create it in a write transaction with openDatabase(_:create: true)"
        case let .invalidDatabaseName(name, reason):
            return "invalid database name \"\(name)\": \(reason)"
        case .foreignDatabase:
            return "foreign database handle: the handle belongs to another environment"
        case let .readersFull(limit):
            return "readers full: all \(limit) reader slots are in use; end some read transactions or raise Options.maxReaders"
        case let .invalidOption(what):
            return "invalid option: \(what)"
        case let .io(operation, path, errno, message):
            return "\(operation) failed on \(path): \(message) (errno \(errno))"
        case let .environmentFailed(reason):
            return "environment failed: \(reason); close and reopen the environment"
        case .environmentClosed:
            return "environment closed: it can no longer be used"
        case .viewInUse:
            return "view in use: this transaction cannot change while a zero-copy view of it (withValue, forEach, Cursor.withCurrent) is open; copy the bytes you need and change it after the closure returns"
        case let .snapshotExpired(snapshot):
            return "snapshot expired: this read transaction of snapshot \(snapshot) fell too many commits behind (Options.maxReaderLag) and a writer reused its pages; end it and begin a new one"
        case let .snapshotNotFound(name):
            return "snapshot not found: no snapshot named \(quotedForMessage(name)); list them with Environment.snapshots() (larch snapshot list)"
        case let .snapshotExists(name):
            return "snapshot exists: a snapshot named \(quotedForMessage(name)) exists already; drop it first or choose another name"
        case let .invalidSnapshotName(name, reason):
            return "invalid snapshot name \(quotedForMessage(name)): \(reason)"
        case let .snapshotNotAllowed(reason):
            return "snapshot not allowed: \(reason)"
        case let .invalidChangeStream(reason):
            return "invalid change stream: \(reason); nothing was applied"
        case let .changeStreamBaseMismatch(reason):
            return "change stream does not apply here: \(reason); nothing was applied"
        case let .invalidKeyEncoding(reason):
            return "invalid key encoding: \(reason); the key was not written by this key type's encodeKey — decode keys with the type (and, for composite keys, the element types in the order) that wrote them, or scan only the range or prefix of keys written that way"
        case let .invalidValueEncoding(reason):
            return "invalid value encoding: \(reason); decode a value with the type (and the ValueCoder) that encoded it — a typed database's value type must match what was stored under its name — or, when encoding failed, check the value's encode(to:)"
        case let .incompatibleDatabase(name, reason):
            return "incompatible database \(quotedForMessage(name)): \(reason)"
        case .duplicateExists:
            return "duplicate exists: the key already holds this value and adding it again was not allowed"
        case let .duplicateValueSize(size, limit):
            return "duplicate value of \(size) bytes: values of a sorted-duplicates database are sorted like keys and must be 1 to \(limit) bytes"
        case let .writerTimeout(seconds):
            return "writer busy: another write transaction (of this or another process) held the writer lock for the \(seconds) s this one waited (Options.writerTimeout); try again later"
        case .nestedTransactionOpen:
            return "nested transaction open: this write transaction is suspended while a nested transaction of it runs; inside the nested closure use the child transaction (and its cursors), and the parent's cursors again once the closure returned"
        case .nestedWriteTransaction:
            return "nested write transaction: the environment's write transaction was begun on this thread and is still open, so waiting for it here could wait for ever; use the open one, or commit or abort it first (in async code, a task that holds it across a suspension blocks the threads that wait: use `await env.write { ... }`)"
        }
    }
}

/// `name` in quotes, with control characters and backslashes escaped as in mdb_dump's print
/// format (a backslash and two hex digits; a backslash doubled), so that a name that came from
/// input cannot change what a terminal shows.
func quotedForMessage(_ name: String) -> String {
    var out = "\""
    for u in name.unicodeScalars {
        switch u {
        case "\\": out += "\\\\"
        case _ where u.value < 0x20 || (u.value >= 0x7F && u.value < 0xA0):
            out += "\\" + String(u.value, radix: 16).leftPadded(to: 2)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

extension String {
    fileprivate func leftPadded(to n: Int) -> String { count >= n ? self : String(repeating: "0", count: n - count) + self }
}
