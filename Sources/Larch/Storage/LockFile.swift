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
    /// no other process has it open. Nil when it cannot be created (a read-only directory): the
    /// caller then works alone (documented: read-only media).
    static func open(databasePath: String, slots: Int) throws(LarchError) -> LockFile? {
        let path = databasePath + "-lock"
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(path), .readWrite, options: [.create, .closeOnExec],
                                         permissions: [.ownerReadWrite, .groupReadWrite, .otherRead])
        } catch {
            if let e = error as? Errno, e == .readOnlyFileSystem || e == .permissionDenied { return nil }
            throw DataFile.ioError("open", path, error)
        }
        do throws(LarchError) {
            let size: Int
            let slotCount: Int
            if flock(fd.rawValue, LOCK_EX | LOCK_NB) == 0 {
                // Alone: rebuild, keeping the published transaction when it was established in this
                // boot of the machine on this very database file (the page cache still holds what
                // made it whole, so it need not be checked again).
                let kept = try retainedPublished(fd, databasePath: databasePath, path: path)
                size = LockFileLayout.size(slots: slots)
                slotCount = slots
                do { try fd.resize(to: Int64(size)) } catch { throw DataFile.ioError("ftruncate", path, error) }
                let base = try map(fd, size: size, path: path)
                LockFileLayout.initialize(base, slots: slots)
                if let (published, identity) = kept ?? Self.identity(ofDatabase: databasePath).map({ (0, $0) }) {
                    word(in: base, at: LockFileLayout.publishedTxnOffset).store(published, ordering: .relaxed)
                    word(in: base, at: LockFileLayout.bootOffset).store(ProcessIdentity.bootID, ordering: .relaxed)
                    word(in: base, at: LockFileLayout.inodeOffset).store(identity.inode, ordering: .relaxed)
                    word(in: base, at: LockFileLayout.deviceOffset).store(identity.device, ordering: .relaxed)
                }
                munmap(base, size)
                try lock(fd, LOCK_SH, path: path)   // downgrade
            } else {
                try lock(fd, LOCK_SH, path: path)
                var st = stat()
                guard fstat(fd.rawValue, &st) == 0 else { throw DataFile.ioError("fstat", path, Errno(rawValue: errno)) }
                let fileSize = Int(st.st_size)
                guard fileSize >= LockFileLayout.headerSize else { throw invalid(path) }
                let probe = try map(fd, size: fileSize, path: path)
                let found = LockFileLayout.validSlotCount(probe, size: fileSize)
                munmap(probe, fileSize)
                guard let found else { throw invalid(path) }
                slotCount = found
                size = LockFileLayout.size(slots: found)
            }
            let base = try map(fd, size: size, path: path)
            return LockFile(path: path, base: base, size: size, slotCount: slotCount, descriptor: fd)
        } catch {
            try? fd.close()
            throw error
        }
    }

    /// The published transaction of an old lock file, with the database's identity, when both
    /// the boot and the database file are the ones it was established for.
    private static func retainedPublished(_ fd: FileDescriptor, databasePath: String, path: String) throws(LarchError) -> (UInt64, (inode: UInt64, device: UInt64))? {
        var st = stat()
        guard fstat(fd.rawValue, &st) == 0, Int(st.st_size) >= LockFileLayout.headerSize else { return nil }
        let fileSize = Int(st.st_size)
        let old = try map(fd, size: fileSize, path: path)
        defer { munmap(old, fileSize) }
        guard LockFileLayout.validSlotCount(old, size: fileSize) != nil,
              let identity = identity(ofDatabase: databasePath), ProcessIdentity.bootID != 0,
              word(in: old, at: LockFileLayout.bootOffset).load(ordering: .relaxed) == ProcessIdentity.bootID,
              word(in: old, at: LockFileLayout.inodeOffset).load(ordering: .relaxed) == identity.inode,
              word(in: old, at: LockFileLayout.deviceOffset).load(ordering: .relaxed) == identity.device else { return nil }
        return (word(in: old, at: LockFileLayout.publishedTxnOffset).load(ordering: .relaxed), identity)
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
