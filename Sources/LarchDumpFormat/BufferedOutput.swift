#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered writes to a file descriptor (standard output by default), for output that may run to
/// gigabytes (dumps, scans) — or to memory (`collecting()`, for tests and the fuzz target).
package final class BufferedOutput {
    private let fd: Int32
    private let closing: Bool
    private var buffer: [UInt8] = []
    private let capacity = 1 << 16
    /// Everything flushed, when writing to memory (`fd` is -1).
    package private(set) var collected: [UInt8] = []

    /// Output that collects its bytes in memory (`collected`).
    package static func collecting() -> BufferedOutput { BufferedOutput(fd: -1) }

    /// Writes to `fd`, closing it at the end when `closing` is set.
    package init(fd: Int32 = STDOUT_FILENO, closing: Bool = false) {
        self.fd = fd
        self.closing = closing
        buffer.reserveCapacity(capacity)
    }

    deinit {
        try? flush()
        if closing && fd >= 0 { close(fd) }
    }

    package func write(_ bytes: some Collection<UInt8>) throws(CLIError) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= capacity { try flush() }
    }

    package func write(_ text: String) throws(CLIError) { try write(text.utf8) }

    /// Appends with `body` writing into the buffer directly.
    package func append(_ body: (inout [UInt8]) -> Void) throws(CLIError) {
        body(&buffer)
        if buffer.count >= capacity { try flush() }
    }

    package func flush() throws(CLIError) {
        guard fd >= 0 else {
            collected += buffer
            buffer.removeAll(keepingCapacity: true)
            return
        }
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

@inline(__always) private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
