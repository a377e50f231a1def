import Larch
import LarchCrashLab

/// The demo's crash scene: one commit on a simulated disk, interrupted at its key moments, each
/// resulting disk image opened the normal way (no recovery step exists) and checked.
enum CrashDemo {
    static let pageSize = 4096
    static let keys = 1_000

    /// What one crash image opened as.
    struct Outcome {
        var transactionID: UInt64
        var entries: UInt64
        var clean: Bool
        var metaPages: [MetaPageStatus]
    }

    static func open(_ image: [UInt8]) throws -> Outcome {
        let env = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: image, recording: false),
                                  options: Options(pageSize: pageSize, maxSize: 64 << 20, verifyChecksums: true))
        defer { env.close() }
        let stats = try env.stats()
        return Outcome(transactionID: stats.transactionID, entries: stats.main.entries, clean: try env.check().isClean,
                       metaPages: try env.metaPages())
    }

    /// Lines describing each crash.
    static func run() throws -> [String] {
        let options = Options(pageSize: pageSize, maxSize: 64 << 20)
        let disk = SimulatedDisk(capacity: 64 << 20)
        let env = try Environment(storage: disk, options: options)
        try env.write { txn in
            for i in 0..<keys { try txn.put(DemoCommand.value(i, round: 0), forKey: DemoCommand.key(i)) }
        }
        let before = env.lastCommit!.transactionID
        let start = disk.operationCount
        try env.write { txn in
            for i in stride(from: 0, to: keys, by: 10) { try txn.put(DemoCommand.value(i, round: 1), forKey: DemoCommand.key(i)) }
            for i in keys..<(keys + 100) { try txn.put(DemoCommand.value(i, round: 1), forKey: DemoCommand.key(i)) }
        }
        let commit = env.lastCommit!
        env.close()
        let log = disk.log

        // The commit's operations: data writes, sync, meta write, sync.
        func isSync(_ i: Int) -> Bool { if case .sync = log[i] { return true } else { return false } }
        func isMetaWrite(_ i: Int) -> Bool {
            if case .write(let offset, _) = log[i] { return offset < 2 * pageSize } else { return false }
        }
        guard let dataSync = (start..<log.count).first(where: isSync),
              let metaWrite = ((dataSync + 1)..<log.count).first(where: isMetaWrite),
              dataSync > start else {
            throw CLIError("the simulated commit did not follow the expected write, sync, meta, sync order")
        }
        var builder = CrashImageBuilder(log: log, base: [], pageSize: pageSize)
        let dataUnsynced = builder.image(crashAfter: dataSync - 1, policy: .randomSubset(seed: 7))
        let metaLost = builder.image(crashAfter: metaWrite, policy: .allLost)
        let metaLanded = builder.image(crashAfter: metaWrite, policy: .allKept)
        // A torn meta page: the first 100 bytes of the new meta reached the disk, the rest did not.
        var torn = metaLost
        let slot = Int(commit.transactionID % 2) * pageSize
        torn.replaceSubrange(slot..<(slot + 100), with: metaLanded[slot..<(slot + 100)])

        let expectedOld = UInt64(keys), expectedNew = UInt64(keys + 100)
        var lines = ["Transaction \(before) holds \(keys) keys; transaction \(commit.transactionID) overwrites 100 and adds 100 " +
                     "(\(commit.pagesWritten) pages, then the meta page). Crash:"]
        func describe(_ what: String, _ image: [UInt8]) throws {
            let o = try open(image)
            let intact = o.clean && (o.transactionID == before && o.entries == expectedOld || o.transactionID == commit.transactionID && o.entries == expectedNew)
            lines.append(what.padding(44) + "→ opens at transaction \(o.transactionID), \(o.entries) keys, " +
                         (intact ? "check clean" : "NOT INTACT"))
            if o.metaPages.contains(where: { $0.transactionID == nil }) {
                for m in o.metaPages where m.transactionID == nil { lines.append(String(repeating: " ", count: 46) + m.description) }
            }
            guard intact else { throw CLIError("a crash image did not open intact") }
        }
        try describe("after the data writes, before their sync", dataUnsynced)
        try describe("after the meta write, which was lost", metaLost)
        try describe("after the meta write, which landed", metaLanded)
        try describe("with the meta page torn mid-write", torn)
        lines.append("No recovery step ran: opening read both meta pages and used the valid one with the higher id.")
        lines.append("`swift run larch-crashlab` tries every crash point of a longer workload this way.")
        return lines
    }
}
