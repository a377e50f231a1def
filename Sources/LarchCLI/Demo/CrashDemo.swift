import Larch
import LarchCrashLab
import LarchDumpFormat

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

        // The commit's operations: page writes, the meta write, one sync.
        func isSync(_ i: Int) -> Bool { if case .sync = log[i] { return true } else { return false } }
        func metaOffset(_ i: Int) -> Int? {
            if case .write(let offset, _) = log[i], offset < 2 * pageSize { return offset } else { return nil }
        }
        guard let metaWrite = (start..<log.count).first(where: { metaOffset($0) != nil }), metaWrite > start,
              let slot = metaOffset(metaWrite), ((metaWrite + 1)..<log.count).contains(where: isSync) else {
            throw CLIError("the simulated commit did not follow the expected pages, meta, sync order")
        }
        var builder = CrashImageBuilder(log: log, base: [], pageSize: pageSize)
        let dataUnsynced = builder.image(crashAfter: metaWrite - 1, policy: .randomSubset(seed: 7))
        let metaWithoutData = builder.image(crashAfter: metaWrite, policy: .metaWithoutSomeData(seed: 7))
        let metaLanded = builder.image(crashAfter: metaWrite, policy: .allKept)
        // A torn meta page: the first 100 bytes of the new meta reached the disk, the rest did not.
        var torn = builder.image(crashAfter: metaWrite, policy: .allLost)
        torn.replaceSubrange(slot..<(slot + 100), with: metaLanded[slot..<(slot + 100)])

        let expectedOld = UInt64(keys), expectedNew = UInt64(keys + 100)
        var lines = ["Transaction \(before) holds \(keys) keys; transaction \(commit.transactionID) overwrites 100 and adds 100 " +
                     "(\(commit.pagesWritten) pages and the meta page, then one sync). Crash:"]
        func describe(_ what: String, _ image: [UInt8]) throws {
            let o = try open(image)
            let intact = o.clean && (o.transactionID == before && o.entries == expectedOld || o.transactionID == commit.transactionID && o.entries == expectedNew)
            lines.append(what.padding(44) + "→ opens at transaction \(o.transactionID), \(o.entries) keys, " +
                         (intact ? "check clean" : "NOT INTACT"))
            if o.metaPages.contains(where: { $0.transactionID == nil || $0.problem != nil }) {
                for m in o.metaPages where m.transactionID == nil || m.problem != nil { lines.append(String(repeating: " ", count: 46) + m.description) }
            }
            guard intact else { throw CLIError("a crash image did not open intact") }
        }
        try describe("after the page writes, before the meta", dataUnsynced)
        try describe("meta landed, some of its pages did not", metaWithoutData)
        try describe("after the meta write, which landed", metaLanded)
        try describe("with the meta page torn mid-write", torn)
        lines.append("No recovery step ran: opening used the valid meta with the higher id whose commit is whole,")
        lines.append("checking only the pages born after its durable base (one sync per commit; CRASH-SAFETY.md).")
        lines.append("`swift run larch-crashlab` tries every crash point of a longer workload this way.")
        return lines
    }
}
