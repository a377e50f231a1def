import Foundation
import Synchronization
import Testing
@testable import Larch

/// `Environment.commits()`: every commit once, in order, with its databases; subscriptions that
/// end are removed; a subscriber that does not read never holds up a writer; other processes' commits.
@Suite struct ObservationTests {
    /// Commits each writer made: transaction id → the database it wrote ("" for main).
    final class Ledger: Sendable {
        let commits = Mutex<[UInt64: String]>([:])
        let largestGroup = Mutex(1)
        func record(_ txn: UInt64, _ db: String, group: Int = 1) {
            commits.withLock { $0[txn] = db }
            largestGroup.withLock { $0 = max($0, group) }
        }
    }

    final class Last: Sendable { let value = Atomic<UInt64>(0) }

    /// Collects a subscription's events until one reaches `last` (set once the writers are done).
    static func collect(_ seq: CommitSequence, until last: Last) async -> [CommitEvent] {
        var events: [CommitEvent] = []
        for await e in seq {
            events.append(e)
            let target = last.value.load(ordering: .acquiring)
            if target != 0 && e.transactionID >= target { break }
        }
        return events
    }

    static func collector(_ seq: CommitSequence, until last: Last) -> Task<[CommitEvent], Never> {
        Task { await collect(seq, until: last) }
    }

    @Test func concurrentWritersEveryCommitOnceInOrderToTwoSubscribers() async throws {
        let dir = try TemporaryDirectory("observe")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .full))
        let names = ["a", "b"]
        try await env.write { txn in for n in names { _ = try txn.openDatabase(n, create: true) } }
        let dbs = try await env.read { txn in try names.map { try txn.openDatabase($0) } }
        let start = try await env.read { txn in txn.snapshotID }

        let last = Last()
        // Only the collecting tasks hold the sequences: they are released when the tasks end.
        let c1 = Self.collector(env.commits(bufferingNewest: 100_000), until: last)
        let c2 = Self.collector(env.commits(bufferingNewest: 100_000), until: last)

        let ledger = Ledger()
        let perWriter = 40
        // Threads: blocking writes; tasks: async writes. Each writer puts into main or a named database.
        let group = DispatchGroup()
        for w in 0..<3 {
            group.enter()
            Thread {
                defer { group.leave() }
                let db = w == 0 ? Database.main : dbs[w - 1]
                for i in 0..<perWriter {
                    var txn = try! env.beginWrite()
                    try! txn.put("v", forKey: "t\(w)-\(i)", in: db)
                    let stats = try! txn.commit()
                    ledger.record(stats.transactionID, db.name ?? "", group: stats.groupSize)
                }
            }.start()
        }
        try await withThrowingTaskGroup(of: Void.self) { g in
            for w in 0..<3 {
                g.addTask {
                    let db = w == 2 ? Database.main : dbs[w]
                    for i in 0..<perWriter {
                        let id = try await env.write { txn in
                            try txn.put("v", forKey: "k\(w)-\(i)", in: db)
                            return txn.snapshotID + 1
                        }
                        ledger.record(id, db.name ?? "")
                    }
                }
            }
            try await g.waitForAll()
        }
        await withCheckedContinuation { (k: CheckedContinuation<Void, Never>) in
            group.notify(queue: .global()) { k.resume() }
        }
        let commits = ledger.commits.withLock { $0 }
        #expect(commits.count == 6 * perWriter)
        // Groups of several commits formed (one meta, one sync): each commit must still have its event.
        #expect(ledger.largestGroup.withLock { $0 } > 1)
        let newest = try await env.read { txn in txn.snapshotID }
        #expect(newest == start + UInt64(6 * perWriter))
        last.value.store(newest, ordering: .releasing)
        // Wake a collector whose last event came before `last` was set.
        try await env.write { txn in try txn.put("end", forKey: "end") }

        let e1 = await c1.value, e2 = await c2.value
        for events in [e1, e2] {
            let covered = events.prefix { $0.transactionID <= newest }
            #expect(covered.count == 6 * perWriter)
            var expected = start + 1
            for e in covered {
                #expect(e.transactions == expected...expected, "\(e)")
                #expect(e.isFromThisEnvironment)
                let db = commits[e.transactionID]
                #expect(e.changes == (db == "" ? DatabaseChanges(main: true) : DatabaseChanges(named: [db ?? "?"])), "\(e)")
                expected += 1
            }
        }
        #expect(env.commitSubscriberCount == 0)   // both collectors broke out: their sequences were released
    }

    @Test func cancelledSubscriberIsRemoved() async throws {
        let dir = try TemporaryDirectory("observe")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let seq = env.commits()
        let task = Task { () -> Int in
            var n = 0
            for await _ in seq { n += 1 }
            return n
        }
        try await env.write { txn in try txn.put("1", forKey: "a") }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        #expect(await task.value <= 1)
        #expect(env.commitSubscriberCount == 0)
        // Writes go on; a sequence made and dropped unused is removed too.
        do { _ = env.commits() }
        #expect(env.commitSubscriberCount == 0)
        try await env.write { txn in try txn.put("2", forKey: "b") }
        // Cancelled before its first `next`.
        let early = Task { () -> Int in
            withUnsafeCurrentTask { $0?.cancel() }
            var n = 0
            for await _ in env.commits() { n += 1 }
            return n
        }
        #expect(await early.value == 0)
        #expect(env.commitSubscriberCount == 0)
    }

    @Test func subscriberThatNeverReadsDoesNotHoldUpWriters() async throws {
        let dir = try TemporaryDirectory("observe")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try await env.write { txn in _ = try txn.openDatabase("x", create: true) }
        let start = try await env.read { txn in txn.snapshotID }
        let idle = env.commits(bufferingNewest: 8)
        let clock = ContinuousClock()
        let began = clock.now
        for i in 0..<2_000 {
            try await env.write { txn in
                if i == 1_500 { try txn.put("x", forKey: "k", in: try txn.openDatabase("x")) } else { try txn.put("v", forKey: "k\(i)") }
            }
        }
        #expect(clock.now - began < .seconds(60))
        #expect(idle.bufferedCount == 8)
        var events: [CommitEvent] = []
        var it = idle.makeAsyncIterator()
        for _ in 0..<8 { if let e = await it.next() { events.append(e) } }
        #expect(events.count == 8)
        var expected = start + 1
        for e in events {
            #expect(e.transactions.lowerBound == expected)
            expected = e.transactionID + 1
        }
        #expect(expected == start + 2_001)
        let tail = events.last!
        #expect(tail.isCoalesced && tail.isFromThisEnvironment)
        #expect(tail.changes == DatabaseChanges(main: true, named: ["x"]))
        #expect(tail.mayHaveChanged(.main))
    }

    @Test func createDropAndEmptyCommitsAndClose() async throws {
        let dir = try TemporaryDirectory("observe")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let seq = env.commits()
        try await env.write { txn in _ = try txn.openDatabase("n", create: true) }
        try await env.write { txn in try txn.dropDatabase(try txn.openDatabase("n")) }
        try await env.write { _ in }
        env.close()
        var events: [CommitEvent] = []
        for await e in seq { events.append(e) }   // ends after the buffered events: the environment closed
        #expect(events.map(\.changes) == [DatabaseChanges(named: ["n"]), DatabaseChanges(named: ["n"]), DatabaseChanges()])
        #expect(events[2].changes?.isEmpty == true)
        #expect(env.commitSubscriberCount == 0)
        var after = env.commits().makeAsyncIterator()
        #expect(await after.next() == nil)
    }

    /// A child process (the `larch` CLI) commits; this process sees it by polling the lock file,
    /// and by its own next commit (built on the child's).
    @Test func commitsOfAChildProcessAreObserved() async throws {
        let larch = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("larch")
        try #require(FileManager.default.isExecutableFile(atPath: larch.path), "built larch at \(larch.path)")
        let dir = try TemporaryDirectory("observe")
        defer { dir.remove() }
        let path = dir.file()
        let env = try Environment(path: path)
        try await env.write { txn in
            try txn.put("0", forKey: "parent")
            _ = try txn.openDatabase("n", create: true)
        }
        let start = try await env.read { txn in txn.snapshotID }
        let unpolled = env.commits()

        func child(_ key: String, db: String? = nil) throws {
            let p = Process()
            p.executableURL = larch
            p.arguments = ["put", path, key, "from-child"] + (db.map { ["--db", $0] } ?? [])
            try p.run()
            p.waitUntilExit()
            #expect(p.terminationStatus == 0)
        }
        do {
            let polled = env.commits(pollingEvery: .milliseconds(10))
            var it = polled.makeAsyncIterator()
            // Each child commit is awaited before the next: one event each, with the database it
            // changed (found by comparing the polled snapshots' descriptors).
            for (n, db) in [(1, nil), (2, "n")] as [(UInt64, String?)] {
                try child("c\(n)", db: db)
                let e = await it.next()
                #expect(e?.transactions == (start + n)...(start + n), "\(String(describing: e))")
                #expect(e?.isFromThisEnvironment == false)
                #expect(e?.changes == (db == nil ? DatabaseChanges(main: true) : DatabaseChanges(named: ["n"])), "\(String(describing: e))")
            }
            try await env.write { txn in try txn.put("1", forKey: "parent") }
            let own = await it.next()
            #expect(own?.transactions == (start + 3)...(start + 3) && own?.isFromThisEnvironment == true && own?.changes == DatabaseChanges(main: true))
        }
        // The polling subscription is gone (its poller with it); polls reported to every subscriber.
        #expect(env.commitSubscriberCount == 1)
        try await Task.sleep(for: .milliseconds(50))
        // Without a poller, a child's commit is learnt of when this process's next commit builds on it.
        try child("c3")
        try await env.write { txn in try txn.put("2", forKey: "parent") }
        var events: [CommitEvent] = []
        var u = unpolled.makeAsyncIterator()
        while events.count < 5, let e = await u.next() { events.append(e) }
        #expect(events.map(\.transactions) == [start + 1, start + 2, start + 3, start + 4, start + 5].map { $0...$0 })
        #expect(events.map(\.isFromThisEnvironment) == [false, false, true, false, true])
        #expect(events.map(\.changes) == [DatabaseChanges(main: true), DatabaseChanges(named: ["n"]), DatabaseChanges(main: true), nil, DatabaseChanges(main: true)])
        let c3 = try await env.read { txn in try txn.getString("c3") }
        #expect(c3 == "from-child")
    }

    /// A cache kept by an actor, refreshed from the sequence (the documented use; compiles under
    /// complete concurrency checking with the iteration inside the actor).
    actor UserCache {
        var reloads = 0
        func follow(_ env: Environment, _ users: Database, _ commits: CommitSequence, until txn: UInt64) async {
            for await commit in commits where commit.mayHaveChanged(users) {
                reloads += 1
                if commit.transactionID >= txn { break }
            }
        }
    }

    @Test func documentedSnippetsCompileAndRun() async throws {
        let dir = try TemporaryDirectory("observe")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let users = try await env.write { txn in try txn.openDatabase("users", create: true) }
        let commits = env.commits(pollingEvery: .milliseconds(100))
        try await env.write { txn in try txn.put("x", forKey: "other") }   // main only: skipped
        try await env.write { txn in try txn.put("ann", forKey: "user:1", in: users) }
        let last = try await env.read { txn in txn.snapshotID }
        let cache = UserCache()
        await cache.follow(env, users, commits, until: last)
        #expect(await cache.reloads == 1)
        var names: [String] = []
        for try await (key, value) in env.entries(in: users, .prefix("user:".utf8)) {
            names.append(String(decoding: key, as: UTF8.self) + "=" + String(decoding: value, as: UTF8.self))
        }
        #expect(names == ["user:1=ann"])
    }
}
