#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes to a file descriptor (standard output by default), for output that may run to
/// gigabytes (dumps, scans).
final class BufferedOutput {
    private let fd: Int32
    private let closing: Bool
    private var buffer: [UInt8] = []
    private let capacity = 1 << 16

    /// Writes to `fd`, closing it at the end when `closing` is set.
    init(fd: Int32 = STDOUT_FILENO, closing: Bool = false) {
        self.fd = fd
        self.closing = closing
        buffer.reserveCapacity(capacity)
    }

    deinit {
        try? flush()
        if closing { close(fd) }
    }

    func write(_ bytes: some Collection<UInt8>) throws(CLIError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { try flush() }
    }

    func write(_ text: String) throws(CLIError) { try write(text.utf8) }

    /// Appends with `body` writing into the buffer directly.
    func append(_ body: (inout [UInt8]) -> Void) throws(CLIError) {
        body(&buffer)
        if buffer.count >= capacity { try flush() }
    }

    func flush() throws(CLIError) {
        var done = 0
        while done < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc_write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 {
                if errno == EINTR { continue }
                let e = errno
                buffer.removeAll(keepingCapacity: true)
                throw CLIError("cannot write the output: \(String(cString: strerror(e)))")
            }
            done += n
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Reads lines (ending in `\n`, which is dropped) from a file descriptor, however long they are.
final class LineReader {
    private let fd: Int32
    private let name: String
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` up to here hold no newline.
    private var searched = 0
    private var atEnd = false
    /// The number of the line last returned, from 1.
    private(set) var lineNumber = 0

    init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Opens `path` for reading, or standard input for nil or "-".
    static func open(_ path: String?) throws(CLIError) -> LineReader {
        guard let path, path != "-" else { return LineReader(fd: STDIN_FILENO, name: "standard input") }
        let fd = Glibc_open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        return LineReader(fd: fd, name: path)
    }

    deinit { if fd != STDIN_FILENO { close(fd) } }

    /// The next line, or nil at the end of the input. A last line without a newline is returned too.
    func next() throws(CLIError) -> ArraySlice<UInt8>? {
        while true {
            if let nl = buffer[max(start, searched)...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = buffer[start..<nl]
                start = nl + 1
                searched = start
                lineNumber += 1
                return line
            }
            if atEnd {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                searched = start
                lineNumber += 1
                return line
            }
            searched = buffer.count - start
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            try fill()
        }
    }

    /// Everything not yet returned, as it is (newlines included).
    func readToEnd() throws(CLIError) -> [UInt8] {
        while !atEnd { try fill() }
        let rest = Array(buffer[start...])
        start = buffer.count
        searched = start
        return rest
    }

    private func fill() throws(CLIError) {
        let chunk = 1 << 16
        let old = buffer.count
        while true {
            try Interruption.waitForInput(fd)   // a signal stops a wait for input (load)
            buffer.append(contentsOf: repeatElement(0, count: chunk))
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + old, chunk) }
            if n < 0 {
                buffer.removeSubrange(old...)
                if errno == EINTR { continue }
                throw CLIError("cannot read \(name): \(String(cString: strerror(errno)))")
            }
            buffer.removeSubrange((old + n)...)
            if n == 0 { atEnd = true }
            return
        }
    }
}

// Unambiguous names for the C calls (the Swift methods above shadow them).
@inline(__always) private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
@inline(__always) private func Glibc_open(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
