import ArgumentParser

/// `larch`: inspect, edit, move and verify Larch database files.
@main
struct LarchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "larch",
        abstract: "Inspect, edit, dump, load, verify and copy Larch database files.",
        discussion: """
            Commands that only read open the file read-only (other read-only processes may share it); \
            commands that write need the file to be open nowhere else. Keys and values are text \
            unless --hex is given. Exit status: 0 success, 1 a negative answer (key not found, check \
            found problems), 2 an error (message on standard error), 3 the file is not a usable \
            Larch file (empty, not a Larch file, truncated, ...), 64 a usage error.

            Examples:
              larch demo                                   a million keys, in numbers
              larch put app.larch user:1 'Ada Lovelace'    creates the file
              larch get app.larch user:1
              larch scan app.larch --prefix user: --limit 10
              larch stat app.larch --all
              larch check app.larch
              mdb_dump -a lmdb-dir | larch load app.larch  from LMDB
              larch dump app.larch --all | mdb_load lmdb   and back
              larch copy app.larch backup.larch --compact
            """,
        version: "0.1.0",
        subcommands: [
            StatCommand.self, GetCommand.self, PutCommand.self, DeleteCommand.self, ScanCommand.self,
            DumpCommand.self, LoadCommand.self, CheckCommand.self, CopyCommand.self, ReadersCommand.self,
            ShrinkCommand.self, SnapshotCommand.self, SendCommand.self, ReceiveCommand.self, UpgradeCommand.self, DemoCommand.self,
        ]
    )
}
