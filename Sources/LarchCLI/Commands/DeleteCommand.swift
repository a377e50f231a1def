import ArgumentParser
import Larch

/// `larch del`: remove one key, in its own durable transaction.
struct DeleteCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "del",
        abstract: "Delete a key. Exit status 1 when it was not there.",
        discussion: """
            Examples:
              larch del app.larch user:1
              larch del app.larch --db tags user:1
              larch del app.larch --hex 00ff10
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var waiting: WaitOption
    @Argument(help: "The key.")
    var key: String
    @OptionGroup var database: DatabaseOption
    @OptionGroup var encoding: EncodingOption

    func execute() throws {
        let keyBytes = try encoding.decode(key, what: "key")
        let env = try file.openForWriting(create: false, wait: waiting)
        let deleted = try env.write { txn in
            let db = try database.database(in: &txn, create: false)
            return try txn.delete(keyBytes, in: db)
        }
        if !deleted {
            printError("larch del: key not found: \(encoding.show(keyBytes))")
            throw ExitCode(ExitStatus.negative)
        }
    }
}
