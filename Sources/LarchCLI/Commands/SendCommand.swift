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

/// `larch send`: the change stream from one snapshot to another, for `larch receive`.
struct SendCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "send",
        abstract: "Write the changes from snapshot --from to snapshot --snapshot as a change stream.",
        discussion: """
            Without --from, the stream holds everything in the snapshot (for an empty replica). \
            The stream goes to standard output (never to a terminal) or to --output; \
            `larch receive` applies it to another file, here or on another machine. The cost \
            follows what changed since --from, not the size of the database. See docs/REPLICATION.md.

            Examples:
              larch send app.larch --snapshot monday > monday.stream
              larch send app.larch --snapshot tuesday --from monday | ssh replica larch receive app.larch
            """)

    @OptionGroup var file: FileArgument
    @Option(name: .long, help: "The snapshot the stream brings a replica to.")
    var snapshot: String
    @Option(name: .long, help: "The snapshot the replica holds: send only what changed since it.")
    var from: String?
    @Option(name: .long, help: "Write the stream to this file instead of standard output.")
    var output: String?

    func execute() throws {
        let env = try file.openForReading()
        let fd: Int32
        // --output is written whole or not at all: a failure part-way leaves what the file held.
        let outputFile = try output.map(OutputFile.init)
        if let outputFile {
            fd = outputFile.fd
        } else {
            guard isatty(STDOUT_FILENO) == 0 else {
                throw CLIError("refusing to write a binary change stream to a terminal; redirect it (> FILE, | larch receive ...) or give --output")
            }
            fd = STDOUT_FILENO
        }
        let summary = try env.send(snapshot: snapshot, from: from) { bytes in try Self.writeAll(fd, bytes) }
        try outputFile?.finish()
        printError("larch send: \(summary.isIncremental ? "changes from \(ByteEncoding.quoted(from ?? "")) to" : "everything in") snapshot \(ByteEncoding.quoted(snapshot)): \(Formatting.grouped(summary.records)) record(s), \(Formatting.bytes(summary.bytes))")
    }

    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError("cannot write the stream: \(String(cString: strerror(errno)))")
            }
            done += n
        }
    }
}
