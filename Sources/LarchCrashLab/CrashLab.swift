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
        // The empty database, created and synced before the crashes start.
        let setup = SimulatedDisk(capacity: 64 << 20, recording: false)
        do { let env = try Environment(storage: setup, options: options); env.close() }
        let base = setup.contents

        let workload = Workload(seed: config.seed, transactionCount: config.transactions)
        let disk = SimulatedDisk(capacity: 64 << 20, image: base)
        var env = try Environment(storage: disk, options: options, unsafe: config.unsafe)
        // acks[i] = (txn id, index of the last operation of that commit) for acknowledged commits.
        var acks: [(txn: UInt64, lastOperation: Int)] = []
        for (i, t) in workload.transactions.enumerated() {
            if config.reopenEvery > 0 && i > 0 && i % config.reopenEvery == 0 {
                env.close()
                env = try Environment(storage: disk, options: options, unsafe: config.unsafe)
            }
            var txn = try env.beginWrite()
            try Workload.apply(t, to: &txn)
            if t.commits {
                let stats = try txn.commit()
                acks.append((stats.transactionID, disk.operationCount - 1))
            } else {
                txn.abort()
            }
        }
        env.close()
        let log = disk.log
        var report = CrashLabReport(configuration: config)
        report.operations = log.count
        report.commits = acks.count
        var builder = CrashImageBuilder(log: log, base: base, pageSize: pageSize)
        func model(_ txn: UInt64) -> Model? {
            let i = txn <= 1 ? 0 : Int(txn - 1)
            return i < workload.models.count ? workload.models[i] : nil
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
        return report
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
