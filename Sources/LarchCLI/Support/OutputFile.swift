import LarchDumpFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A file given with `--output`, written whole or not at all: the bytes go to a temporary file in
/// the same directory (`.NAME.writing-XXXXXX`), which `finish()` syncs and renames over `path`. A
/// command that fails part-way (a full disk, a damaged page) calls `discard()` or lets it go: the
/// temporary file is removed and whatever `path` held before is untouched. A path that names
/// something other than a regular file (`/dev/null`, a FIFO) is written in place.
final class OutputFile {
    let path: String
    /// The descriptor to write to.
    let fd: Int32
    /// The temporary file's path, nil when writing in place; nil too once finished or discarded.
    private var temporary: String?
    private var open = true

    init(_ path: String) throws {
        self.path = path
        var st = stat()
        if stat(path, &st) == 0 && (st.st_mode & S_IFMT) != S_IFREG {
            fd = openInPlace(path)
            guard fd >= 0 else { throw CLIError("cannot open \(ByteEncoding.quoted(path)): \(String(cString: strerror(errno)))") }
            temporary = nil
            return
        }
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { String(path[...$0]) } ?? ""
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        var template = Array((directory + "." + name + ".writing-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard made >= 0 else { throw CLIError("cannot create \(ByteEncoding.quoted(path)): \(String(cString: strerror(errno)))") }
        fd = made
        _ = fchmod(fd, 0o644)
        temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    deinit { discard() }

    /// Syncs the bytes written and puts them under `path` (replacing what it held).
    func finish() throws {
        guard open else { return }
        if let temporary {
            guard fsync(fd) == 0 else { throw CLIError("cannot sync \(ByteEncoding.quoted(path)): \(String(cString: strerror(errno)))") }
            guard rename(temporary, path) == 0 else {
                throw CLIError("cannot write \(ByteEncoding.quoted(path)): \(String(cString: strerror(errno)))")
            }
            self.temporary = nil
        }
        close(fd)
        open = false
    }

    /// Closes and removes the temporary file; `path` keeps what it held.
    func discard() {
        guard open else { return }
        close(fd)
        open = false
        if let temporary { unlink(temporary) }
        temporary = nil
    }
}

/// Opens an existing non-regular file (a device, a FIFO) for writing, as it is.
private func openInPlace(_ path: String) -> Int32 {
    #if canImport(Darwin)
    return Darwin.open(path, O_WRONLY | O_CLOEXEC)
    #elseif canImport(Musl)
    return Musl.open(path, O_WRONLY | O_CLOEXEC)
    #else
    return Glibc.open(path, O_WRONLY | O_CLOEXEC)
    #endif
}
