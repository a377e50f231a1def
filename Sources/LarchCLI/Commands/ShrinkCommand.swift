import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch shrink`: gives free space back to the file system.
struct ShrinkCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "shrink",
        abstract: "Move live pages from the end of the file into free ones and cut the free end off.",
        discussion: """
            Online: other processes may read and write the file meanwhile; each step is an \
            ordinary commit, so a crash leaves the file whole. Pages a reader or a named snapshot \
            still needs stay; run it again once they are gone. --budget limits the pages moved.

            Examples:
              larch shrink app.larch
              larch shrink app.larch --budget 10000
            """)

    @OptionGroup var file: FileArgument
    @Option(name: .long, help: "Move at most this many pages (0: only cut what is free at the end).")
    var budget: Int?
    @Flag(name: .long, help: "Print JSON.")
    var json = false
    @OptionGroup var wait: WaitOption

    /// The JSON shape of the result.
    struct Report: Encodable {
        var file: String
        var pagesBefore: UInt64
        var pagesAfter: UInt64
        var pagesRelocated: Int
        var fileBytesBefore: Int
        var fileBytesAfter: Int
    }

    func validate() throws {
        if let budget, budget < 0 { throw ValidationError("--budget must be 0 or more") }
    }

    func execute() throws {
        let env = try file.openForWriting(create: false, wait: wait)
        let s = try env.shrink(relocating: budget ?? .max)
        if json {
            try printJSON(Report(file: file.file, pagesBefore: s.pagesBefore, pagesAfter: s.pagesAfter, pagesRelocated: s.pagesRelocated,
                                 fileBytesBefore: s.fileBytesBefore, fileBytesAfter: s.fileBytesAfter))
            return
        }
        let out = BufferedOutput()
        try out.write("Shrank \(file.file): \(Formatting.bytes(s.fileBytesBefore)) → \(Formatting.bytes(s.fileBytesAfter)) (\(Formatting.grouped(s.pagesBefore)) → \(Formatting.grouped(s.pagesAfter)) pages, \(Formatting.grouped(s.pagesRelocated)) moved)\n")
        try out.flush()
    }
}
