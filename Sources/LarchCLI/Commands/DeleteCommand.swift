import ArgumentParser
import Larch

/// `larch del`: remove one key, in its own durable transaction.
struct DeleteCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "del",
        abstract: "Delete a key. Exit status 1 when it was not there.",
        discussion: """
            In a database with sorted duplicates, removes the key with all its values, or with \
            --value only that (key, value) pair. In another database, --value removes the key only \
            if that is its value.

            Examples:
              larch del app.larch user:1
              larch del app.larch --db tags user:1
              larch del app.larch --db byCity Paris --value user:7
              larch del app.larch --hex 00ff10
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var waiting: WaitOption
    @Argument(help: "The key.")
    var key: String
    @OptionGroup var database: DatabaseOption
    @OptionGroup var encoding: EncodingOption
    @Option(name: .long, help: ArgumentHelp("Delete only the pair (key, value): with sorted duplicates, that value of the key; otherwise the key, if this is its value.", valueName: "value"))
    var value: String?

    func execute() throws {
        let keyBytes = try encoding.decode(key, what: "key")
        let valueBytes = try value.map { try encoding.decode($0, what: "value") }
        let env = try file.openForWriting(create: false, wait: waiting)
        let deleted = try env.write { txn in
            let db = try database.database(in: &txn, create: false)
            if let valueBytes {
                if try txn.stats(db).hasSortedDuplicates { return try txn.deleteDuplicate(valueBytes, forKey: keyBytes, in: db) }
                guard try txn.get(keyBytes, in: db) == valueBytes else { return false }   // the pair is not there
            }
            return try txn.delete(keyBytes, in: db)
        }
        if !deleted {
            printError("larch del: \(valueBytes == nil ? "key" : "pair") not found: \(encoding.quoted(keyBytes))\(valueBytes.map { " " + encoding.quoted($0) } ?? "")")
            throw ExitCode(ExitStatus.negative)
        }
    }
}
