import LarchDumpFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress bar on standard error, redrawn in place when standard error is a terminal;
/// otherwise silent (logs get the summary line the caller prints when done).
struct ProgressBar {
    let label: String
    let total: Int
    private let interactive = isatty(STDERR_FILENO) != 0
    private var shownPercent = -1

    init(label: String, total: Int) {
        self.label = label
        self.total = max(total, 1)
    }

    mutating func update(_ done: Int) {
        guard interactive else { return }
        let percent = min(100, done * 100 / total)
        guard percent != shownPercent else { return }
        shownPercent = percent
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        printError(raw: "\r   \(label) [\(bar)] \(percent)% \(Formatting.grouped(done))/\(Formatting.grouped(total))")
    }

    /// Clears the bar's line.
    func finish() {
        guard interactive else { return }
        printError(raw: "\r\u{1B}[2K")
    }
}

/// Writes text to standard error with no newline.
func printError(raw text: String) {
    let bytes = Array(text.utf8)
    bytes.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress!, $0.count) }
}

/// Writes a line to standard output at once (unbuffered, so it interleaves with standard error).
func printLine(_ text: String) {
    let bytes = Array((text + "\n").utf8)
    bytes.withUnsafeBytes { _ = write(STDOUT_FILENO, $0.baseAddress!, $0.count) }
}
