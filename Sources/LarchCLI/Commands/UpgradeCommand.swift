import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch upgrade`: marks a version-3 file as format version 4.
struct UpgradeCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Mark a format-version-3 file as version 4, so that this build opens it.",
        discussion: """
            Every version-3 file is a valid version-4 file (version 4 added sorted-duplicates \\
            databases, in bits version 3 kept at zero), so only the two meta pages change: each is \\
            rewritten with the new version and its checksum, and synced, one at a time, the newest \\
            commit's first. A crash part-way leaves a file this build opens at its newest commit; run \\
            the command again to finish. A version-4 file is left as it is. Run it while no process \\
            has the file open: a build that reads only version 3 cannot read the file afterwards.

            Examples:
              larch upgrade app.larch
            """)

    @OptionGroup var file: FileArgument

    func execute() throws {
        let r = try Environment.upgrade(path: file.file)
        let out = BufferedOutput()
        if r.metasRewritten == 0 {
            try out.write("\(file.file) is already format version \(r.previousVersion); nothing to do\n")
        } else {
            try out.write("Upgraded \(file.file) from format version \(r.previousVersion) to 4 (\(r.metasRewritten) meta page(s) rewritten)\n")
        }
        try out.flush()
    }
}
