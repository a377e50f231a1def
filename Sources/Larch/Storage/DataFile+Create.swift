import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Creating a database file whole or not at all.
extension DataFile {
    /// Creates the file at `path` holding `contents` (the two meta pages of an empty database) when
    /// nothing is there, so that it appears whole or not at all — a full disk or a crash part-way
    /// never leaves a file that no one can open:
    ///
    /// 1. `contents` go to a new file of a temporary name in the same directory, which is synced;
    /// 2. it is linked in at `path`, which fails harmlessly when another process created `path`
    ///    meanwhile (a rename would replace that file, and whatever was written to it);
    /// 3. the temporary name is removed and the directory synced, so that the new name is durable.
    ///
    /// Any failure removes the temporary file and leaves nothing at `path`. Does nothing when
    /// anything exists at `path` (an empty file is initialized in place, under the writer lock), or
    /// when the file system has no hard links (the caller then creates the file in place, as before).
    static func createWhole(path: String, contents: [UInt8], sync: Bool) throws(LarchError) {
        var st = stat()
        guard lstat(path, &st) != 0, errno == ENOENT else { return }
        let target = FilePath(path)
        let directory = target.removingLastComponent().isEmpty ? FilePath(".") : target.removingLastComponent()
        let name = target.lastComponent?.string ?? "larch"
        let temporaryPrefix = ".\(name).creating-"
        removeLeftTemporaries(in: directory.string, prefix: temporaryPrefix)
        let temporary = directory.appending("\(temporaryPrefix)\(getpid())-\(String(UInt32.random(in: .min ... .max), radix: 16))").string

        func failure(_ step: String, _ e: Int32) -> LarchError {
            .io(operation: "create", path: path, errno: e,
                message: "\(step): \(String(cString: strerror(e))); nothing was created")
        }
        let fd: FileDescriptor
        do {
            fd = try FileDescriptor.open(FilePath(temporary), .readWrite, options: [.create, .exclusiveCreate, .closeOnExec],
                                         permissions: [.ownerReadWrite, .groupRead, .otherRead])
        } catch {
            throw failure("cannot create a file in \(directory)", (error as? Errno)?.rawValue ?? EIO)
        }
        defer {
            try? fd.close()
            _ = unlink(temporary)
        }
        do {
            _ = try contents.withUnsafeBytes { try fd.writeAll(toAbsoluteOffset: 0, $0) }
        } catch {
            throw failure("cannot write the new file", (error as? Errno)?.rawValue ?? EIO)
        }
        if sync && fsync(fd.rawValue) != 0 { throw failure("cannot sync the new file", errno) }
        guard link(temporary, path) == 0 else {
            let e = errno
            switch e {
            case EEXIST: return                                    // another process created it: open that one
            case EPERM, ENOTSUP, EOPNOTSUPP, ENOSYS, EMLINK: return // no hard links here: created in place
            default: throw failure("cannot link the new file in", e)
            }
        }
        if sync { try syncDirectory(directory.string, path: path) }
    }

    /// Removes the temporary files `createWhole` left in `directory` when its process was killed
    /// part-way (`PREFIX` `PID-XXXX`, where process PID no longer runs). A live process's file
    /// (or one whose pid was given to another process) is left alone; failures are ignored.
    private static func removeLeftTemporaries(in directory: String, prefix: String) {
        guard let dir = opendir(directory) else { return }
        defer { closedir(dir) }
        var left: [String] = []
        while let entry = readdir(dir) {
            let bytes = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
            let name = String(decoding: bytes, as: UTF8.self)
            guard Array(name.utf8) == bytes, name.hasPrefix(prefix), let dash = name.dropFirst(prefix.count).firstIndex(of: "-"),
                  let pid = UInt64(name[name.index(name.startIndex, offsetBy: prefix.count)..<dash]),
                  !ProcessIdentity.isAlive(pid: pid, startTime: 0) else { continue }
            left.append(name)
        }
        for name in left { _ = unlink(FilePath(directory).appending(name).string) }
    }

    /// Makes the directory's entries durable (a file system that cannot sync a directory is taken
    /// at its word).
    private static func syncDirectory(_ directory: String, path: String) throws(LarchError) {
        let fd = openDirectory(directory)
        guard fd >= 0 else { return }
        defer { _ = closeDirectory(fd) }
        if fsync(fd) != 0 && errno != EINVAL && errno != EBADF {
            throw LarchError.io(operation: "fsync (directory)", path: directory, errno: errno,
                                message: "\(String(cString: strerror(errno))); \(path) was created, but its directory entry may not be durable yet")
        }
    }

    private static func openDirectory(_ path: String) -> Int32 {
        openDescriptor(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    }

    private static func closeDirectory(_ fd: Int32) -> Int32 { closeDescriptor(fd) }
}
