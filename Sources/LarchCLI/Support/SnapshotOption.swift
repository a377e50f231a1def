import ArgumentParser
import Larch

/// `--snapshot NAME`: read a named snapshot instead of the newest commit.
struct SnapshotOption: ParsableArguments {
    @Option(name: .long, help: "Read snapshot NAME (see `larch snapshot list`) instead of the newest commit.")
    var snapshot: String?

    /// Runs `body` in a read transaction of the snapshot, or of the newest commit.
    func read<R>(_ env: Environment, _ body: (borrowing ReadTransaction) throws -> R) throws -> R {
        if let snapshot { return try env.read(snapshot: snapshot, body) }
        return try env.read(body)
    }
}
