import SystemPackage
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The database file: positioned reads and writes, vectored writes, data sync, size and locking.
///
/// Every system call's failure becomes a `LarchError.io` naming the operation and the path.
/// Writes go through here; reads of committed pages go through the `Mapping` instead.
final class DataFile: StorageDevice {
    let descriptor: FileDescriptor
    package let path: String
    let isReadOnly: Bool
    /// Linux: a second descriptor opened with O_DSYNC, for `writeDurably` (the meta page). A write
    /// through it is durable when it returns, like a write followed by fdatasync, but the kernel only
    /// has to make that one write durable (a FUA write where the device supports it), not look for
    /// other dirty pages. -1 when not open (read-only, or other systems).
    private let syncDescriptor: Int32

    private init(descriptor: FileDescriptor, path: String, isReadOnly: Bool) {
        self.descriptor = descriptor
        self.path = path
        self.isReadOnly = isReadOnly
        #if canImport(Glibc)
        // Without it, meta pages are written and synced through the main descriptor.
        syncDescriptor = isReadOnly ? -1 : ((try? Self.reopen(descriptor.rawValue, path: path, flags: O_WRONLY | O_DSYNC)) ?? -1)
        #else
        syncDescriptor = -1
        #endif
    }

    /// A new descriptor, with its own open file description, for the file `fd` has open — never for
    /// whatever is at `path` now: the file may have been renamed or replaced since it was opened.
    /// Linux reopens through /proc/self/fd; elsewhere (or without /proc) `path` is opened and must
    /// be the same file (device and inode), else the call fails.
    static func reopen(_ fd: Int32, path: String, flags: Int32) throws(LarchError) -> Int32 {
        var held = stat()
        guard fstat(fd, &held) == 0 else { throw ioError("fstat", path, Errno(rawValue: errno)) }
        var new: Int32 = -1
        #if os(Linux)
        new = openDescriptor("/proc/self/fd/\(fd)", flags | O_CLOEXEC)
        #endif
        if new < 0 {
            new = openDescriptor(path, flags | O_CLOEXEC)
            guard new >= 0 else { throw ioError("reopen", path, Errno(rawValue: errno)) }
        }
        var found = stat()
        guard fstat(new, &found) == 0, found.st_dev == held.st_dev, found.st_ino == held.st_ino else {
            _ = closeDescriptor(new)
            throw LarchError.io(operation: "reopen", path: path, errno: 0,
                                message: "the file at this path is no longer the database file this environment opened (it was renamed or replaced); close and reopen the environment")
        }
        return new
    }

    /// `open(2)`, from the platform's C library.
    static func openDescriptor(_ path: String, _ flags: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.open(path, flags)
        #elseif canImport(Musl)
        return Musl.open(path, flags)
        #else
        return Darwin.open(path, flags)
        #endif
    }

    /// `close(2)`, from the platform's C library.
    static func closeDescriptor(_ fd: Int32) -> Int32 {
        #if canImport(Glibc)
        return Glibc.close(fd)
        #elseif canImport(Musl)
        return Musl.close(fd)
        #else
        return Darwin.close(fd)
        #endif
    }

    /// Opens (and with `create`, creates) the file. Any number of environments, in any processes,
    /// may have it open; write transactions take the writer lock (`lockWriter`).
    static func open(path: String, create: Bool, readOnly: Bool) throws(LarchError) -> DataFile {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(
                FilePath(path), readOnly ? .readOnly : .readWrite,
                options: create && !readOnly ? [.create, .closeOnExec] : [.closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw ioError("open", path, error)
        }
        return DataFile(descriptor: fd, path: path, isReadOnly: readOnly)
    }

    /// The writer lock is an exclusive `flock` on this environment's own open file description of
    /// the data file: it serializes the write transactions of every environment, in this process or
    /// another, and the system releases it when its holder's descriptor closes or its process dies.
    package func lockWriter(timeout: Duration?) throws(LarchError) {
        try whileOpen { () throws(LarchError) in
            guard let timeout else {
                while flock(descriptor.rawValue, LOCK_EX) != 0 {
                    let e = errno
                    if e == EINTR { continue }
                    throw Self.ioError("flock", path, Errno(rawValue: e))
                }
                return
            }
            // flock has no timeout: try, and sleep a little longer each time until the deadline.
            let clock = ContinuousClock()
            let deadline = clock.now + timeout
            var pause: UInt32 = 200   // microseconds
            while flock(descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                if e == EINTR { continue }
                guard e == EWOULDBLOCK else { throw Self.ioError("flock", path, Errno(rawValue: e)) }
                guard clock.now < deadline else {
                    throw LarchError.writerTimeout(seconds: timeout.inSeconds)
                }
                usleep(pause)
                pause = min(pause * 2, 20_000)
            }
        }
    }

    package func tryLockWriter() throws(LarchError) -> Bool {
        try whileOpen { () throws(LarchError) -> Bool in
            while flock(descriptor.rawValue, LOCK_EX | LOCK_NB) != 0 {
                let e = errno
                if e == EINTR { continue }
                if e == EWOULDBLOCK { return false }
                throw Self.ioError("flock", path, Errno(rawValue: e))
            }
            return true
        }
    }

    package func unlockWriter() {
        try? whileOpen { () throws(LarchError) in _ = flock(descriptor.rawValue, LOCK_UN) }
    }

    package func openLockFile(slots: Int) throws(LarchError) -> LockFile? {
        try LockFile.open(databasePath: path, slots: slots)
    }

    /// Creates a new file at `path`, failing when anything exists there, and locks it exclusively.
    static func createNew(path: String) throws(LarchError) -> DataFile {
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(
                FilePath(path), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            if let e = error as? Errno, e == .fileExists {
                throw LarchError.io(operation: "create", path: path, errno: e.rawValue,
                                    message: "the destination already exists; choose a new path or remove it first")
            }
            throw ioError("create", path, error)
        }
        if flock(fd.rawValue, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            try? fd.close()
            throw ioError("flock", path, Errno(rawValue: e))
        }
        return DataFile(descriptor: fd, path: path, isReadOnly: false)
    }

    static func ioError(_ op: String, _ path: String, _ error: any Error) -> LarchError {
        if let e = error as? Errno { return .io(operation: op, path: path, errno: e.rawValue, message: e.description) }
        return .io(operation: op, path: path, errno: 0, message: "\(error)")
    }

    /// Closes the descriptors (releasing the lock) once; later calls do nothing. An operation under
    /// way on another thread finishes first, and the last one closes them: a descriptor is never
    /// closed under an operation, whose number the system could otherwise give to another file.
    /// Operations that begin after `close()` throw `environmentClosed`.
    package func close() {
        let now = use.withLock { u in
            guard !u.closing else { return false }
            u.closing = true
            return u.inFlight == 0
        }
        if now { closeDescriptors() }
    }

    private func closeDescriptors() {
        #if canImport(Glibc)
        if syncDescriptor >= 0 { _ = Glibc.close(syncDescriptor) }
        #endif
        try? descriptor.close()
    }

    /// Operations in flight, and whether `close()` was called.
    private struct Use {
        var inFlight = 0
        var closing = false
    }
    private let use = Mutex(Use())

    /// Runs `body` with the descriptors open (see `close()`).
    private func whileOpen<R>(_ body: () throws(LarchError) -> R) throws(LarchError) -> R {
        let admitted = use.withLock { u in
            guard !u.closing else { return false }
            u.inFlight += 1
            return true
        }
        guard admitted else { throw .environmentClosed }
        defer {
            let last = use.withLock { u in
                u.inFlight -= 1
                return u.closing && u.inFlight == 0
            }
            if last { closeDescriptors() }
        }
        return try body()
    }

    /// The file's size in bytes.
    package func size() throws(LarchError) -> Int { try whileOpen { () throws(LarchError) in try openSize() } }
    /// Reads exactly `buffer.count` bytes at `offset`; bytes past the end of the file read as zero.
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(LarchError) {
        try whileOpen { () throws(LarchError) in try openRead(into: buffer, at: offset) }
    }
    /// Writes all of `buffer` at `offset`.
    package func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        try whileOpen { () throws(LarchError) in try openWrite(buffer, at: offset) }
    }
    /// Writes the buffers back to back starting at `offset`, in as few system calls as the kernel allows.
    package func write(vectors: UnsafeMutableBufferPointer<iovec>, at offset: Int) throws(LarchError) {
        try whileOpen { () throws(LarchError) in try openWrite(vectors: vectors, at: offset) }
    }
    /// Writes `buffer` at `offset` and returns once it is durable (see `openWriteDurably`).
    package func writeDurably(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        try whileOpen { () throws(LarchError) in try openWriteDurably(buffer, at: offset) }
    }
    /// Makes everything written so far durable.
    package func sync() throws(LarchError) { try whileOpen { () throws(LarchError) in try openSync() } }
    /// Maps the file this environment opened.
    package func map(sizeBytes: Int) throws(LarchError) -> Mapping {
        try whileOpen { () throws(LarchError) in try openMap(sizeBytes: sizeBytes) }
    }
    /// Sets the file's size.
    package func resize(to size: Int) throws(LarchError) { try whileOpen { () throws(LarchError) in try openResize(to: size) } }
    /// Grows the file to `size`, writing zeros from `start` on (see `StorageDevice.grow`).
    package func grow(to size: Int, writingZerosFrom start: Int) throws(LarchError) {
        try whileOpen { () throws(LarchError) in
            try openResize(to: size)
            try openWriteZeros(from: start, to: size)
        }
    }

    /// The file's size in bytes: the end offset from `lseek`, not `fstat`. Asking for the
    /// timestamps (as `fstat` does) makes Linux give the file's next write a fine-grained
    /// modification time (multigrain timestamps, 6.13 and later): every commit, which asks the
    /// size, would then change the inode, and its fdatasync would write the inode too — one more
    /// device write per sync, waited for after the data and before the flush (measured: a fifth
    /// of a one-put commit's time here). Larch does all its I/O at explicit offsets, so moving
    /// the descriptor's offset changes nothing.
    private func openSize() throws(LarchError) -> Int {
        do { return Int(try descriptor.seek(offset: 0, from: .end)) } catch { throw Self.ioError("lseek", path, error) }
    }

    /// Reads exactly `buffer.count` bytes at `offset`; bytes past the end of the file read as zero.
    private func openRead(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(LarchError) {
        var done = 0
        while done < buffer.count {
            let n: Int
            do {
                n = try descriptor.read(fromAbsoluteOffset: Int64(offset + done),
                                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]))
            } catch { throw Self.ioError("pread", path, error) }
            if n == 0 {
                UnsafeMutableRawBufferPointer(rebasing: buffer[done...]).initializeMemory(as: UInt8.self, repeating: 0)
                return
            }
            done += n
        }
    }

    /// Writes all of `buffer` at `offset`.
    private func openWrite(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        do { _ = try descriptor.writeAll(toAbsoluteOffset: Int64(offset), buffer) } catch { throw Self.ioError("pwrite", path, error) }
    }

    /// Writes the buffers back to back starting at `offset`, in as few system calls as the kernel allows.
    private func openWrite(vectors: UnsafeMutableBufferPointer<iovec>, at offset: Int) throws(LarchError) {
        var iov = vectors
        var pos = offset
        while true {
            while let first = iov.first, first.iov_len == 0 { iov = UnsafeMutableBufferPointer(rebasing: iov[1...]) }
            if iov.isEmpty { return }
            let batch = min(iov.count, 1024)
            let n = pwritev(descriptor.rawValue, iov.baseAddress, Int32(batch), off_t(pos))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.ioError("pwritev", path, Errno(rawValue: errno))
            }
            if n == 0 {   // no progress: retrying would loop for ever
                throw LarchError.io(operation: "pwritev", path: path, errno: EIO, message: "wrote no bytes (is the disk full?)")
            }
            // Advance past what was written, which may end inside a vector.
            var left = n
            pos += n
            while left > 0, !iov.isEmpty {
                if left >= iov[0].iov_len {
                    left -= iov[0].iov_len
                    iov = UnsafeMutableBufferPointer(rebasing: iov[1...])
                } else {
                    iov[0].iov_base = iov[0].iov_base.map { $0 + left }
                    iov[0].iov_len -= left
                    left = 0
                }
            }
        }
    }

    /// Writes `buffer` at `offset` through the O_DSYNC descriptor; write then sync where there is none.
    private func openWriteDurably(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        guard syncDescriptor >= 0 else {
            try openWrite(buffer, at: offset)
            try openSync()
            return
        }
        var done = 0
        while done < buffer.count {
            let n = pwrite(syncDescriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw Self.ioError("pwrite (O_DSYNC)", path, Errno(rawValue: errno))
            }
            if n == 0 {   // no progress: retrying would loop for ever
                throw LarchError.io(operation: "pwrite (O_DSYNC)", path: path, errno: EIO, message: "wrote no bytes (is the disk full?)")
            }
            done += n
        }
    }

    /// Makes everything written so far durable (fdatasync; F_FULLFSYNC on Darwin).
    private func openSync() throws(LarchError) {
        #if canImport(Darwin)
        if fcntl(descriptor.rawValue, F_FULLFSYNC) == 0 { return }
        if fsync(descriptor.rawValue) != 0 { throw Self.ioError("fsync", path, Errno(rawValue: errno)) }
        #else
        while fdatasync(descriptor.rawValue) != 0 {
            if errno == EINTR { continue }
            throw Self.ioError("fdatasync", path, Errno(rawValue: errno))
        }
        #endif
    }

    /// Maps the file this descriptor has open (see `reopen`), not whatever is at `path` now.
    private func openMap(sizeBytes: Int) throws(LarchError) -> Mapping {
        // Through a descriptor of its own: a mapping keeps its open file description alive, and with
        // it any flock taken on it, so mapping the locked descriptor would keep the file locked after
        // `Environment.close()` for as long as a transaction holds this mapping.
        let fd = try Self.reopen(descriptor.rawValue, path: path, flags: O_RDONLY)
        defer { _ = Self.closeDescriptor(fd) }
        return try Mapping.map(descriptor: fd, path: path, sizeBytes: sizeBytes)
    }

    /// Writes zeros over `[start, end)`, 4 KiB per write. Not larger: the page cache keeps what
    /// one write brings in as one folio (large folios, ext4 since Linux 6.16), and a later 4 KiB
    /// page write into a large folio makes the whole folio dirty and written back with the commit
    /// (measured with 1 MiB writes: 26–29 KB written per one-put commit instead of 17).
    private func openWriteZeros(from start: Int, to end: Int) throws(LarchError) {
        guard end > start else { return }
        let chunk = min(end - start, 4096)
        try withUnsafeTemporaryAllocation(byteCount: chunk, alignment: 16) { zeros throws(LarchError) in
            zeros.initializeMemory(as: UInt8.self, repeating: 0)
            var offset = start
            while offset < end {
                let n = min(chunk, end - offset)
                try openWrite(UnsafeRawBufferPointer(rebasing: zeros[0..<n]), at: offset)
                offset += n
            }
        }
    }

    /// Sets the file's size.
    private func openResize(to size: Int) throws(LarchError) {
        do { try descriptor.resize(to: Int64(size)) } catch { throw Self.ioError("ftruncate", path, error) }
    }
}
