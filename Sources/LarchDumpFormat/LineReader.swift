#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads lines (ending in `\n`, which is dropped) from a file descriptor (or memory), however long they are.
package final class LineReader {
    private let fd: Int32
    private let name: String
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes from `start` up to here hold no newline.
    private var searched = 0
    private var atEnd = false
    /// The number of the line last returned, from 1.
    package private(set) var lineNumber = 0

    package init(fd: Int32, name: String) {
        self.fd = fd
        self.name = name
    }

    /// Reads the lines of `bytes` (for tests and the fuzz target).
    package init(bytes: [UInt8]) {
        fd = -1
        name = "input"
        buffer = bytes
        atEnd = true
    }

    /// Opens `path` for reading, or standard input for nil or "-".
    package static func open(_ path: String?) throws(CLIError) -> LineReader {
        guard let path, path != "-" else { return LineReader(fd: STDIN_FILENO, name: "standard input") }
        let fd = Glibc_open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("cannot open \(path): \(String(cString: strerror(errno)))") }
        return LineReader(fd: fd, name: path)
    }

    deinit { if fd >= 0 && fd != STDIN_FILENO { close(fd) } }

    /// The next line, or nil at the end of the input. A last line without a newline is returned too.
    package func next() throws(CLIError) -> ArraySlice<UInt8>? {
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
    package func readToEnd() throws(CLIError) -> [UInt8] {
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

@inline(__always) private func Glibc_open(_ path: String, _ flags: Int32) -> Int32 { open(path, flags) }
