import Larch

/// What a crash image turned out to hold.
package enum CrashOutcome: String, Sendable, CaseIterable {
    /// The last acknowledged commit (or, where the mode allows, an earlier one), intact.
    case oldState = "old state"
    /// The commit in progress, whose meta landed whole: intact.
    case newState = "new state"
    /// The file does not open, fails the checker, or holds a mix of commits.
    case corrupt
    /// An acknowledged commit that the durability mode promised is missing.
    case lost
}

/// The crash lab's settings.
package struct CrashLabConfiguration: Sendable {
    package var seed: UInt64 = 1
    package var transactions: Int = 40
    package var durability: Durability = .full
    /// Extra random-subset and reordered images per crash point.
    package var randomImagesPerPoint: Int = 1
    /// Test only: break the protocol on purpose (the lab must catch it).
    package var unsafe: Environment.UnsafeTestBehaviour = []
    /// Close the environment and open it again on the same disk after every this many
    /// transactions (0: never), as a process that exits and restarts between commits would; with
    /// `noMetaSync` the last meta may then still be only in the disk's volatile cache.
    package var reopenEvery = 0
    /// Hold a read transaction across every this many transactions (0: none), a new one begun as
    /// the last ends: the pages it pins fill the meta's free list, which then moves into the free tree.
    package var readerSpan = 0
    /// Create and drop named snapshots in the workload (every crash image then checks each
    /// snapshot's contents too).
    package var snapshots = false
    /// Change a database with sorted duplicates in the workload too (`WorkloadGenerator`).
    package var duplicates = false
    /// Run `Environment.shrink` after every this many transactions (0: never); the workload then
    /// deletes more, so that there is space to give back.
    package var shrinkEvery = 0
    /// `Options.maxDirtyBytes` (nil: the default). A few pages: the workload's transactions spill
    /// dirty pages to the file before their commits, and crashes land among those writes too.
    package var maxDirtyBytes: Int? = nil
    package init() {}
}

/// Results: crash points, images per policy, outcomes, and the first failures in words.
package struct CrashLabReport: Sendable, CustomStringConvertible {
    package var configuration: CrashLabConfiguration
    package var operations = 0
    package var crashPoints = 0
    package var commits = 0
    package var imagesByPolicy: [String: Int] = [:]
    package var outcomes: [CrashOutcome: Int] = [:]
    package var failures: [String] = []
    /// Commits after which the meta's free list was empty although it was not before, while the
    /// free tree was not: the list moved into the tree (with `readerSpan`, nothing listed is reusable).
    package var freeListSpills = 0
    /// Shrinks run, and the pages they cut from the file.
    package var shrinks = 0
    package var pagesGivenBack: UInt64 = 0
    /// Pages committed transactions wrote before their commits (`CommitStats.pagesSpilled`).
    package var pagesSpilled = 0

    package init(configuration: CrashLabConfiguration) { self.configuration = configuration }

    package var images: Int { imagesByPolicy.values.reduce(0, +) }
    package var corrupt: Int { outcomes[.corrupt] ?? 0 }
    package var lost: Int { outcomes[.lost] ?? 0 }

    /// The report in words. A run that breaks the protocol on purpose (`configuration.unsafe`) must
    /// find corrupt or lost images: each of its lines is labelled `[expected]`, so that the log of a
    /// passing test never reads as an alarm.
    package var description: String {
        guard !configuration.unsafe.isEmpty else { return text }
        let note = "[expected] this run breaks the crash-safety protocol on purpose; the corrupt and lost images below are what its test must see\n"
        return note + text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.isEmpty ? "" : "[expected] " + $0 }.joined(separator: "\n")
    }

    private var text: String {
        var s = "crash lab: seed \(configuration.seed), \(configuration.transactions) transactions (\(commits) commits), durability \(configuration.durability)"
        if configuration.reopenEvery > 0 { s += ", reopened every \(configuration.reopenEvery) transaction(s)" }
        if configuration.snapshots { s += ", with named snapshots" }
        if configuration.duplicates { s += ", with sorted duplicates" }
        if configuration.shrinkEvery > 0 { s += ", shrunk every \(configuration.shrinkEvery) transactions (\(shrinks) shrinks, \(pagesGivenBack) pages given back)" }
        if let m = configuration.maxDirtyBytes { s += ", dirty budget \(m) bytes (\(pagesSpilled) pages spilled before commits)" }
        if configuration.readerSpan > 0 { s += ", a reader held across every \(configuration.readerSpan) transaction(s), \(freeListSpills) free-list spill(s)" }
        if configuration.unsafe.contains(.skipCommitVerification) { s += ", UNSAFE: no check of the newest commit at open" }
        if configuration.unsafe.contains(.reuseFreedPagesAtOnce) { s += ", UNSAFE: freed pages reused at once" }
        s += "\n  \(operations) I/O operations, \(crashPoints) crash points, \(images) crash images\n"
        s += "  images per policy:\n"
        for (p, n) in imagesByPolicy.sorted(by: { $0.key < $1.key }) { s += "    \(p.padding(to: 30)) \(n)\n" }
        s += "  outcomes:\n"
        for o in CrashOutcome.allCases { s += "    \(o.rawValue.padding(to: 30)) \(outcomes[o] ?? 0)\n" }
        for f in failures { s += "  ! \(f)\n" }
        return s
    }
}

extension String {
    func padding(to n: Int) -> String { count >= n ? self : self + String(repeating: " ", count: n - count) }
}

/// Runs a workload on a simulated disk, then rebuilds the disk as a crash after every I/O operation
/// would leave it, under every policy, and checks each image: it opens with no recovery step, passes
/// the structural checker, and holds exactly one commit's contents — the last acknowledged one or
/// the one in progress (or, with `noMetaSync`, the one before the last).
package enum CrashLab {
    package static func run(_ config: CrashLabConfiguration) throws -> CrashLabReport {
        let pageSize = 4096
        var options = Options(pageSize: pageSize, maxSize: 64 << 20, durability: config.durability)
        options.strictChecks = .full   // every commit checks the state it is about to publish
        if let m = config.maxDirtyBytes { options.maxDirtyBytes = m }
        // The empty database, created and synced before the crashes start.
        let setup = SimulatedDisk(capacity: 64 << 20, recording: false)
        do { let env = try Environment(storage: setup, options: options); env.close() }
        let base = setup.contents

        let workload = Workload(seed: config.seed, transactionCount: config.transactions, snapshots: config.snapshots,
                                duplicates: config.duplicates)
        let disk = SimulatedDisk(capacity: 64 << 20, image: base)
        var env = try Environment(storage: disk, options: options, unsafe: config.unsafe)
        // acks[i] = (txn id, index of the last operation of that commit) for acknowledged commits.
        var acks: [(txn: UInt64, lastOperation: Int)] = []
        var spills = 0
        var reader: ReadTransaction? = nil
        var models = [Model()]
        var workloadCommits = 0
        var report = CrashLabReport(configuration: config)
        for (i, t) in workload.transactions.enumerated() {
            if config.shrinkEvery > 0 && i > 0 && i % config.shrinkEvery == 0 {
                let s = try env.shrink(relocating: .max) { stats in
                    models.append(models.last!)
                    acks.append((stats.transactionID, disk.operationCount - 1))
                }
                report.shrinks += 1
                report.pagesGivenBack += s.pagesBefore > s.pagesAfter ? s.pagesBefore - s.pagesAfter : 0
                if s.pagesAfter > s.pagesBefore { report.failures.append("shrink grew the file: \(s)") }
            }
            if config.reopenEvery > 0 && i > 0 && i % config.reopenEvery == 0 {
                env.close()
                env = try Environment(storage: disk, options: options, unsafe: config.unsafe)
            }
            if config.readerSpan > 0 && i % config.readerSpan == 0 {
                reader.take()?.abort()
                reader = try env.beginRead()
            }
            let listBefore = try env.stats().metaFreeListEntries
            var txn = try env.beginWrite()
            try Workload.apply(t, to: &txn)
            if t.commits {
                let stats = try txn.commit()
                acks.append((stats.transactionID, disk.operationCount - 1))
                report.pagesSpilled += stats.pagesSpilled
                workloadCommits += 1
                models.append(workload.models[workloadCommits])
                let after = try env.stats()
                if listBefore > 0 && after.metaFreeListEntries == 0 && after.freeTreePages > 0 { spills += 1 }
            } else {
                txn.abort()
            }
        }
        reader.take()?.abort()
        env.close()
        report.freeListSpills = spills
        checkImages(disk.log, base: base, acks: acks, models: models, options: options, into: &report)
        return report
    }

    /// The crash lab for a replica: a primary (not crash-tested) commits the workload's
    /// transactions and takes a snapshot after each; the replica, on the simulated disk, receives
    /// each change stream (incremental after the first) and drops the snapshot before it. Every
    /// crash image of the replica must hold one received state whole, with its snapshot.
    package static func runReplica(_ config: CrashLabConfiguration) throws -> CrashLabReport {
        let pageSize = 4096
        var options = Options(pageSize: pageSize, maxSize: 64 << 20, durability: config.durability)
        options.strictChecks = .full
        let setup = SimulatedDisk(capacity: 64 << 20, recording: false)
        do { let env = try Environment(storage: setup, options: options); env.close() }
        let base = setup.contents

        let primary = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: base, recording: false), options: options)
        let workload = Workload(seed: config.seed, transactionCount: config.transactions)
        let disk = SimulatedDisk(capacity: 64 << 20, image: base)
        let replica = try Environment(storage: disk, options: options)
        var acks: [(txn: UInt64, lastOperation: Int)] = []
        var models = [Model()]
        var previous: String?
        var index = 0
        for t in workload.transactions where t.commits {
            var txn = try primary.beginWrite()
            try Workload.apply(t, to: &txn)
            try txn.commit()
            let name = "r\(index)"
            index += 1
            try primary.createSnapshot(name)
            let stream = StreamBuffer()
            try primary.send(snapshot: name, from: previous) { stream.bytes.append(contentsOf: $0) }
            try replica.receive { stream.read(into: $0) }
            var model = Model(databases: try primary.read(snapshot: name) { try Model.databases(in: $0) })
            model.snapshots = models.last!.snapshots
            model.snapshots[name] = model.databases
            models.append(model)
            acks.append((try replica.read { $0.snapshotID }, disk.operationCount - 1))
            if let previous {
                try primary.dropSnapshot(previous)
                try replica.dropSnapshot(previous)
                model.snapshots[previous] = nil
                models.append(model)
                acks.append((try replica.read { $0.snapshotID }, disk.operationCount - 1))
            }
            previous = name
        }
        primary.close()
        replica.close()
        var report = CrashLabReport(configuration: config)
        checkImages(disk.log, base: base, acks: acks, models: models, options: options, into: &report)
        return report
    }

    /// Rebuilds the disk as a crash after each operation of `log` would leave it, under every
    /// policy, and checks each image against `models` (`models[i]`: the contents after the i-th commit).
    private static func checkImages(_ log: [SimulatedDisk.Operation], base: [UInt8], acks: [(txn: UInt64, lastOperation: Int)], models: [Model],
                                    options: Options, into report: inout CrashLabReport) {
        let config = report.configuration
        report.operations = log.count
        report.commits = acks.count
        var builder = CrashImageBuilder(log: log, base: base, pageSize: options.pageSize)
        func model(_ txn: UInt64) -> Model? {
            let i = txn <= 1 ? 0 : Int(txn - 1)
            return i < models.count ? models[i] : nil
        }

        for k in 0..<log.count {
            report.crashPoints += 1
            let lastAcked = acks.last(where: { $0.lastOperation <= k })?.txn ?? 1
            // One sync per commit makes noMetaSync as durable as full: both promise the last acknowledged commit.
            let minimum: UInt64 = lastAcked
            var policies: [CrashPolicy]
            if config.durability == .noSync {
                policies = [.allKept]   // no promise across power loss: a process crash keeps the page cache
            } else if builder.pending(after: k).pending.isEmpty {
                policies = [.allLost]   // nothing unsynced: one image covers every policy
            } else {
                policies = [.allLost, .allKept, .lastTorn(seed: config.seed), .metaWithoutSomeData(seed: config.seed)]
                for r in 0..<config.randomImagesPerPoint {
                    policies.append(.randomSubset(seed: config.seed &+ UInt64(r) &* 101))
                    policies.append(.reordered(seed: config.seed &+ UInt64(r) &* 103))
                }
                for m in 0..<builder.pendingMetaWrites(after: k) { policies.append(.metaTorn(index: m, seed: config.seed)) }
            }
            for policy in policies {
                report.imagesByPolicy[policy.family, default: 0] += 1
                let image = builder.image(crashAfter: k, policy: policy)
                let outcome = verify(image: image, options: options, unsafe: config.unsafe, minimum: minimum, lastAcked: lastAcked, model: model)
                report.outcomes[outcome.0, default: 0] += 1
                if let why = outcome.1, report.failures.count < 10 {
                    report.failures.append("crash after operation \(k) (\(policy)): \(why)")
                }
            }
        }
    }

    private static func verify(image: [UInt8], options: Options, unsafe: Environment.UnsafeTestBehaviour, minimum: UInt64, lastAcked: UInt64,
                               model: (UInt64) -> Model?) -> (CrashOutcome, String?) {
        let disk = SimulatedDisk(capacity: 64 << 20, image: image, recording: false)
        do {
            let env = try Environment(storage: disk, options: options, unsafe: unsafe)
            defer { env.close() }
            let report = try env.check()
            guard report.isClean else { return (.corrupt, "checker: \(report.problems.prefix(3).map(\.description).joined(separator: "; "))") }
            let txn = report.transactionID
            guard let expected = model(txn) else { return (.corrupt, "opened at unknown transaction \(txn)") }
            let found = try Model.read(env)
            guard found == expected else { return (.corrupt, "transaction \(txn) does not hold that commit's contents (a mix)") }
            if txn < minimum { return (.lost, "opened at transaction \(txn), but \(lastAcked) was acknowledged") }
            if txn > lastAcked + 1 { return (.corrupt, "opened at transaction \(txn), beyond the one in progress") }
            return (txn == lastAcked + 1 ? .newState : .oldState, nil)
        } catch {
            return (.corrupt, "open or read failed: \(error)")
        }
    }
}

/// A change stream held in memory, written by `send` and read back by `receive`.
final class StreamBuffer {
    var bytes: [UInt8] = []
    private var position = 0

    func read(into buffer: UnsafeMutableRawBufferPointer) -> Int {
        let n = min(buffer.count, bytes.count - position)
        bytes.withUnsafeBytes { b in buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: b[position..<(position + n)])) }
        position += n
        return n
    }
}
