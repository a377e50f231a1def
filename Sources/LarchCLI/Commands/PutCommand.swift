import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch put`: store one value, in its own durable transaction.
struct PutCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store a value under a key (creating the file and the named database if needed).",
        discussion: """
            The value is the third argument, or standard input when it is "-" (read to its end, as is). \
            Each put is one durable commit.

            Examples:
              larch put app.larch user:1 'Ada Lovelace'
              larch put app.larch --db tags user:1 math
              larch put app.larch photo:7 - < photo.jpg
              larch put app.larch --hex 00ff10 cafe
              larch put app.larch user:1 'Ada' --no-overwrite     fails if user:1 exists
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var waiting: WaitOption
    @Argument(help: "The key.")
    var key: String
    @Argument(help: "The value, or - to read it from standard input.")
    var value: String
    @OptionGroup var database: DatabaseOption
    @OptionGroup var encoding: EncodingOption
    @Flag(name: .long, help: "Fail (exit 1) if the key is already present.")
    var noOverwrite = false
    @OptionGroup var pageSize: PageSizeOption

    func execute() throws {
        let keyBytes = try encoding.decode(key, what: "key")
        let valueBytes: [UInt8]
        if value == "-" {
            let input = try LineReader.open(nil).readToEnd()
            valueBytes = encoding.hex ? try encoding.decode(String(decoding: input, as: UTF8.self).trimmingWhitespace(), what: "value") : input
        } else {
            valueBytes = try encoding.decode(value, what: "value")
        }
        let env = try file.openForWriting(create: true, pageSize: pageSize.pageSize, wait: waiting)
        Messages.warnIfIgnored(pageSize: pageSize.pageSize, env, command: "put")
        do {
            try env.write { txn in
                let db = try database.database(in: &txn, create: true)
                try txn.put(valueBytes, forKey: keyBytes, in: db, overwrite: !noOverwrite)
            }
        } catch LarchError.keyExists {
            printError("larch put: key exists: \(encoding.quoted(keyBytes)) (not overwritten)")
            throw ExitCode(ExitStatus.negative)
        }
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let ws: Set<Character> = [" ", "\t", "\n", "\r"]
        var s = Substring(self)
        while let f = s.first, ws.contains(f) { s = s.dropFirst() }
        while let l = s.last, ws.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
