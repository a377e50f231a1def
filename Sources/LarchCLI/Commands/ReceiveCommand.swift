#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch receive`: applies a change stream from `larch send`.
struct ReceiveCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "receive",
        abstract: "Apply a change stream from `larch send` as one transaction, and record its snapshot.",
        discussion: """
            Reads the stream from standard input or --input. All of it applies, or — when it is \
            damaged, truncated, or its base is not this file's state — nothing. A full stream \
            (sent without --from) applies to a new or empty file only; an incremental one to a \
            file that holds its base snapshot and has not been written to since. See docs/REPLICATION.md.

            Examples:
              larch receive replica.larch < monday.stream
              larch send app.larch --snapshot tuesday --from monday | ssh replica larch receive app.larch
            """)

    @OptionGroup var file: FileArgument
    @Option(name: .long, help: "Read the stream from this file instead of standard input.")
    var input: String?
    @OptionGroup var wait: WaitOption

    func execute() throws {
        let fd: Int32
        if let input {
            fd = open(input, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw CLIError("cannot open \(ByteEncoding.quoted(input)): \(String(cString: strerror(errno)))") }
        } else {
            guard isatty(STDIN_FILENO) == 0 else {
                throw CLIError("standard input is a terminal; give the stream on standard input (< FILE, larch send ... |) or with --input")
            }
            fd = STDIN_FILENO
        }
        defer { if input != nil { close(fd) } }
        let existed = DatabaseFile.exists(file.file)
        let summary: ChangeStreamSummary
        do {
            summary = try receive(from: fd)
        } catch {
            guard !existed, DatabaseFile.exists(file.file) else { throw error }
            // A file this command created holds nothing: it goes again, unless another process opened it.
            let removed = DatabaseFile.removeCreated(file.file)
            throw CLIError("\(Messages.describe(error)) (\(file.file), which this command created, \(removed ? "was removed" : "holds nothing"))")
        }
        let out = BufferedOutput()
        try out.write("Received snapshot \(ByteEncoding.quoted(summary.targetSnapshot)) (\(summary.isIncremental ? "incremental" : "full"), \(Formatting.grouped(summary.records)) record(s), \(Formatting.bytes(summary.bytes))).\n")
        try out.flush()
    }

    /// Opens (or creates) the file and applies the stream read from `fd`; the environment is closed
    /// and released when this returns, so that a file this command created can be removed.
    private func receive(from fd: Int32) throws -> ChangeStreamSummary {
        let env = try file.openForWriting(create: true, wait: wait)
        defer { env.close() }
        return try env.receive { buffer in
            while true {
                let n = read(fd, buffer.baseAddress!, buffer.count)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw CLIError("cannot read the stream: \(String(cString: strerror(errno)))")
                }
                return n
            }
        }
    }
}
