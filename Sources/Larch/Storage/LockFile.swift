import Atomics
import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The lock file beside a database, mapped shared: the memory through which the processes that
/// have the database open find each other's readers (`LockFileLayout`).
///
/// Every process that has it open holds a shared `flock` on it. The first to open it alone (its
/// exclusive `flock` succeeds) rebuilds it, so a table left by processes that died is never
/// trusted; the others check its header. The exclusive lock is held only while rebuilding, then
/// downgraded to shared.
package final class LockFile: @unchecked Sendable {
    // @unchecked: the mapping's bytes are shared with other processes and touched only by atomic
    // operations (`ReaderTable`, `LockFile.word`); `base`, `size` and `descriptor` never change after init.
    let path: String
    let base: UnsafeMutableRawPointer
    let size: Int
    let slotCount: Int
    private let descriptor: FileDescriptor

    private init(path: String, base: UnsafeMutableRawPointer, size: Int, slotCount: Int, descriptor: FileDescriptor) {
        self.path = path
        self.base = base
        self.size = size
        self.slotCount = slotCount
        self.descriptor = descriptor
    }

    deinit {
        munmap(base, size)
        try? descriptor.close()   // releases the shared flock
    }

    /// The lock file of the database at `databasePath`, created or rebuilt with `slots` slots when
    /// no other process has it open. Nil only on a read-only file system, where no writer can
    /// exist: the caller then works alone (docs/CONCURRENCY.md). A lock file that cannot be
    /// created or written for want of permission is an error, not a reason to work alone: a
    /// writer in another process would not see this process's readers (`Options.noLock` opts out).
    static func open(databasePath: String, slots: Int) throws(LarchError) -> LockFile? {
        let path = databasePath + "-lock"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec],
                                         permissions: [.ownerReadWrite, .groupReadWrite, .otherRead])
        } catch {
            if let e = error as? Errno, e == .readOnlyFileSystem { return nil }
            if let e = error as? Errno, e == .permissionDenied { throw notWritable(path) }
            throw DataFile.ioError("open", path, error)
        }
        do throws(LarchError) {
            var size = 0
            var slotCount = 0
            for attempt in 1...3 {
                if flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 {
                    // Alone: rebuild, keeping the published transaction when it was established in this
                    // boot of the machine on this very database file (the page cache still holds what
                    // made it whole, so it need not be checked again).
                    let kept = try retainedPublished(fd, databasePath: databasePath, path: path)
                    size = LockFileLayout.size(slots: slots)
                    slotCount = slots
                    try rebuild(fd, slots: slots, path: path,
                                published: kept ?? Self.identity(ofDatabase: databasePath).map { (0, $0) })
                    try lock(fd, LOCK_SH, path: path)   // downgrade
                    break
                }
                try lock(fd, LOCK_SH, path: path)
                guard let header = try readHeader(fd, path: path),
                      let found = header.withUnsafeBytes({ LockFileLayout.validSlotCount($0.baseAddress!, size: Int.max) }),
                      try fileSize(fd, path: path) >= LockFileLayout.size(slots: found) else {
                    // A process that was rebuilding it died part-way (its exclusive lock went with
                    // it): let go and try again, to rebuild it, unless another process does first.
                    guard attempt < 3 else { throw invalid(path) }
                    _ = flock(fd.rawValue, LOCK_UN)
                    usleep(UInt32(1_000 * attempt))
                    continue
                }
                slotCount = found
                size = LockFileLayout.size(slots: found)
                try allocate(fd, size: size, path: path)
                break
            }
            let base = try map(fd, size: size, path: path)
            return LockFile(path: path, base: base, size: size, slotCount: slotCount, descriptor: fd)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// Writes a new lock file with `slots` empty slots (and the published transaction and
    /// database identity, when known) with `pwrite`, so that the file system allocates every block
    /// of it now: a store through the mapping into a block it has no room for would kill the
    /// process with SIGBUS, where a write fails with ENOSPC, reported.
    private static func rebuild(_ fd: FileDescriptor, slots: Int, path: String,
                                published: (UInt64, (inode: UInt64, device: UInt64))?) throws(LarchError) {
        let size = LockFileLayout.size(slots: slots)
        do { try fd.resize(to: 0) } catch { throw DataFile.ioError("ftruncate", path, error) }
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { b in
            let base = b.baseAddress!
            LockFileLayout.initialize(base, slots: slots)
            if let (txn, identity) = published {
                for (offset, value) in [(LockFileLayout.publishedTxnOffset, txn), (LockFileLayout.bootOffset, ProcessIdentity.bootID),
                                        (LockFileLayout.inodeOffset, identity.inode), (LockFileLayout.deviceOffset, identity.device)] {
                    base.storeBytes(of: value, toByteOffset: offset, as: UInt64.self)
                }
            }
        }
        do {
            _ = try bytes.withUnsafeBytes { try fd.writeAll(toAbsoluteOffset: 0, $0) }
        } catch {
            throw spaceError(error, path: path) ?? DataFile.ioError("pwrite", path, error)
        }
    }

    /// Makes the file system allocate every block of a lock file another process made, without
    /// changing its bytes (Linux `posix_fallocate`; elsewhere the maker's `rebuild` wrote them all).
    private static func allocate(_ fd: FileDescriptor, size: Int, path: String) throws(LarchError) {
        #if os(Linux)
        let r = posix_fallocate(fd.rawValue, 0, off_t(size))
        if r == ENOSPC || r == EDQUOT { throw spaceError(Errno(rawValue: r), path: path)! }
        #endif
    }

    /// The lock file's header, read with `pread` (a mapping of a file system that is full could
    /// fault on a page never written); nil when the file is shorter than a header.
    private static func readHeader(_ fd: FileDescriptor, path: String) throws(LarchError) -> [UInt8]? {
        var header = [UInt8](repeating: 0, count: LockFileLayout.headerSize)
        let n: Int
        do { n = try header.withUnsafeMutableBytes { try fd.read(fromAbsoluteOffset: 0, into: $0) } } catch {
            throw DataFile.ioError("pread", path, error)
        }
        return n == header.count ? header : nil
    }

    private static func fileSize(_ fd: FileDescriptor, path: String) throws(LarchError) -> Int {
        var st = stat()
        guard fstat(fd.rawValue, &st) == 0 else { throw DataFile.ioError("fstat", path, Errno(rawValue: errno)) }
        return Int(st.st_size)
    }

    /// The published transaction of an old lock file, with the database's identity, when both
    /// the boot and the database file are the ones it was established for.
    private static func retainedPublished(_ fd: FileDescriptor, databasePath: String, path: String) throws(LarchError) -> (UInt64, (inode: UInt64, device: UInt64))? {
        guard let header = try readHeader(fd, path: path),
              header.withUnsafeBytes({ LockFileLayout.validSlotCount($0.baseAddress!, size: Int.max) }) != nil,
              let identity = identity(ofDatabase: databasePath), ProcessIdentity.bootID != 0 else { return nil }
        func word(_ offset: Int) -> UInt64 { header.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt64.self) } }
        guard word(LockFileLayout.bootOffset) == ProcessIdentity.bootID, word(LockFileLayout.inodeOffset) == identity.inode,
              word(LockFileLayout.deviceOffset) == identity.device else { return nil }
        return (word(LockFileLayout.publishedTxnOffset), identity)
    }

    /// The database file's inode and device.
    private static func identity(ofDatabase path: String) -> (inode: UInt64, device: UInt64)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_ino), UInt64(st.st_dev))
    }

    /// The 8-byte word at `offset` of a lock-file layout at `base`, for atomic access.
    @inline(__always)
    static func word(in base: UnsafeMutableRawPointer, at offset: Int) -> UnsafeAtomic<UInt64> {
        UnsafeAtomic(at: (base + offset).assumingMemoryBound(to: UInt64.AtomicRepresentation.self))
    }

    /// The lock file cannot be created or written for want of permission.
    private static func notWritable(_ path: String) -> LarchError {
        .io(operation: "open", path: path, errno: EACCES,
            message: "permission denied: the lock file lets the processes that use the database see each other's readers, "
                + "and without it a writer elsewhere could overwrite pages this process reads; make it (or its directory) "
                + "writable, or, if no process writes the database while this one has it open, open it with Options.noLock")
    }

    /// A typed error for a write that found no space, or nil for another failure.
    private static func spaceError(_ error: any Error, path: String) -> LarchError? {
        guard let e = error as? Errno, e == .noSpace || e.rawValue == EDQUOT else { return nil }
        return .io(operation: "open", path: path, errno: e.rawValue,
                   message: "no space left on the device for the lock file (it lets the processes that use the database "
                       + "find each other): free some space and try again")
    }

    private static func invalid(_ path: String) -> LarchError {
        .io(operation: "open", path: path, errno: 0,
            message: "not a Larch lock file of this version; if no process has the database open, remove it")
    }

    private static func lock(_ fd: FileDescriptor, _ operation: Int32, path: String) throws(LarchError) {
        while flock(fd.rawValue, operation) != 0 {
            let e = errno
            if e == EINTR { continue }
            throw DataFile.ioError("flock", path, Errno(rawValue: e))
        }
    }

    private static func map(_ fd: FileDescriptor, size: Int, path: String) throws(LarchError) -> UnsafeMutableRawPointer {
        guard let p = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd.rawValue, 0), p != MAP_FAILED else {
            throw DataFile.ioError("mmap", path, Errno(rawValue: errno))
        }
        return p
    }
}
