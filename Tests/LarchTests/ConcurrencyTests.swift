import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Larch

// Snapshot isolation across threads. `Environment` is Sendable; transactions are not, so each
// transaction is created, used and ended on one thread. Threads never call `#expect`: they record
// failures in a `ConcurrencyLog`, which the test thread checks after joining them.

/// Failures and events recorded by worker threads, in the order they happened.
private final class ConcurrencyLog: Sendable {
    private let failures = Mutex<[String]>([])
    private let events = Mutex<[String]>([])

    func fail(_ message: String) { failures.withLock { $0.append(message) } }
    func event(_ name: String) { events.withLock { $0.append(name) } }
    var allFailures: [String] { failures.withLock { $0 } }
    var allEvents: [String] { events.withLock { $0 } }
    func index(of event: String) -> Int? { events.withLock { $0.firstIndex(of: event) } }
}

/// A counter threads can watch.
private final class ConcurrencyCounter: Sendable {
    private let value = Atomic<Int>(0)
    func increment() { value.add(1, ordering: .sequentiallyConsistent) }
    func set(_ v: Int) { value.store(v, ordering: .sequentiallyConsistent) }
    var current: Int { value.load(ordering: .sequentiallyConsistent) }
    /// Spins (sleeping) until the value reaches `target`; false after `timeout` seconds.
    func wait(atLeast target: Int, timeout: Double = 60) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while current < target {
            if Date() > deadline { return false }
            usleep(200)
        }
        return true
    }
}

/// The model contents after each committed transaction id, published by the writer before it commits.
private final class SnapshotHistory: Sendable {
    private let states = Mutex<[UInt64: [[UInt8]: [UInt8]]]>([:])
    func publish(_ txn: UInt64, _ state: [[UInt8]: [UInt8]]) { states.withLock { $0[txn] = state } }
    func state(_ txn: UInt64) -> [[UInt8]: [UInt8]]? { states.withLock { $0[txn] } }
}

/// One key-value pair, comparable.
private struct ConcurrencyEntry: Equatable {
    var key: [UInt8]
    var value: [UInt8]
}

/// Starts one thread per body and waits for all of them; false if they did not finish in time.
private func concurrencyRunThreads(_ bodies: [@Sendable () -> Void], timeout: Double = 120) -> Bool {
    let group = DispatchGroup()
    for body in bodies {
        group.enter()
        let thread = Thread {
            body()
            group.leave()
        }
        thread.start()
    }
    return group.wait(timeout: .now() + timeout) == .success
}

/// All entries of the main database, in key order.
private func concurrencyScan(_ txn: borrowing Transaction<some TransactionMode>) throws -> [ConcurrencyEntry] {
    var out: [ConcurrencyEntry] = []
    try txn.forEach { k, v in
        out.append(ConcurrencyEntry(key: k.withUnsafeBytes { Array($0) }, value: v.withUnsafeBytes { Array($0) }))
        return true
    }
    return out
}

private func concurrencySorted(_ model: [[UInt8]: [UInt8]]) -> [ConcurrencyEntry] {
    model.map { ConcurrencyEntry(key: $0.key, value: $0.value) }.sorted { keyPrecedes($0.key, $1.key) }
}

/// Mostly small values, some overflow values.
private func concurrencyRandomValue(_ g: inout SeededGenerator) -> [UInt8] {
    let size = g.chance(0.03) ? Int.random(in: 3000...9000, using: &g) : Int.random(in: 1...300, using: &g)
    return g.bytes(size)
}

private func concurrencyKey(_ i: Int) -> [UInt8] { Array("key-\(String(format: "%06d", i))".utf8) }

@Suite struct ConcurrencyTests {
    /// Several readers, each opened at a different point of a stream of commits, re-read their
    /// snapshot over and over while the writer keeps changing, adding and deleting keys: each sees
    /// exactly the state of the commit it started on, every time.
    @Test func readersKeepTheirSnapshotWhileWriterCommits() throws {
        let dir = try TemporaryDirectory("conc-snapshots")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: TestEnvironment.seed(default: 0xC0C0_0001))
        var model: [[UInt8]: [UInt8]] = [:]
        let initial = try env.write { txn in
            for i in 0..<800 {
                let v = concurrencyRandomValue(&g)
                try txn.put(v, forKey: concurrencyKey(i))
                model[concurrencyKey(i)] = v
            }
            return txn.snapshotID + 1
        }
        let history = SnapshotHistory()
        history.publish(initial, model)

        let commits = 150 * TestEnvironment.scale
        let readerCount = 4
        let committed = ConcurrencyCounter()
        let writerDone = ConcurrencyCounter()
        let log = ConcurrencyLog()
        let writerSeed = g.next()
        let initialModel = model

        let writer: @Sendable () -> Void = {
            var g = SeededGenerator(seed: writerSeed)
            var model = initialModel
            var nextKey = 800
            do {
                for _ in 0..<commits {
                    var txn = try env.beginWrite()
                    let id = txn.snapshotID + 1
                    let keys = Array(model.keys)
                    for _ in 0..<10 {   // change
                        let k = keys[Int.random(in: 0..<keys.count, using: &g)]
                        let v = concurrencyRandomValue(&g)
                        try txn.put(v, forKey: k)
                        model[k] = v
                    }
                    for _ in 0..<5 {    // add
                        let k = concurrencyKey(nextKey)
                        nextKey += 1
                        let v = concurrencyRandomValue(&g)
                        try txn.put(v, forKey: k)
                        model[k] = v
                    }
                    for _ in 0..<5 {    // delete
                        let k = keys[Int.random(in: 0..<keys.count, using: &g)]
                        if model.removeValue(forKey: k) != nil {
                            if try !txn.delete(k) { log.fail("writer: delete of a present key returned false") }
                        }
                    }
                    history.publish(id, model)
                    try txn.commit()
                    committed.increment()
                    usleep(500)
                }
            } catch {
                log.fail("writer: \(error)")
            }
            writerDone.set(1)
        }

        let readers: [@Sendable () -> Void] = (0..<readerCount).map { r in
            {
                // Stagger the readers over the stream of commits.
                guard committed.wait(atLeast: r * commits / (readerCount + 1)) else {
                    log.fail("reader \(r): writer made no progress")
                    return
                }
                do {
                    let txn = try env.beginRead()
                    let snapshot = try concurrencyScan(txn)
                    guard let expected = history.state(txn.snapshotID) else {
                        log.fail("reader \(r): no published state for snapshot \(txn.snapshotID)")
                        return
                    }
                    if snapshot != concurrencySorted(expected) {
                        log.fail("reader \(r): snapshot \(txn.snapshotID) has \(snapshot.count) entries, the commit had \(expected.count)")
                    }
                    var rounds = 0
                    var finalRound = false
                    while true {
                        finalRound = writerDone.current == 1
                        rounds += 1
                        let again = try concurrencyScan(txn)
                        if again != snapshot {
                            log.fail("reader \(r): round \(rounds) of snapshot \(txn.snapshotID) differs from the first read")
                            return
                        }
                        // Point reads of a few keys, including deleted and later-added ones.
                        for i in stride(from: r, to: 1600, by: 97) {
                            let k = concurrencyKey(i)
                            if try txn.get(k) != expected[k] {
                                log.fail("reader \(r): get of key \(i) in snapshot \(txn.snapshotID) is wrong in round \(rounds)")
                                return
                            }
                        }
                        if finalRound { break }
                    }
                    let latest = try env.stats().transactionID
                    if latest <= txn.snapshotID { log.fail("reader \(r): no commit happened while it was open") }
                    if rounds < 2 { log.fail("reader \(r): only \(rounds) read round(s)") }
                    log.event("reader \(r): snapshot \(txn.snapshotID), \(snapshot.count) entries, \(rounds) rounds, latest \(latest)")
                } catch {
                    log.fail("reader \(r): \(error)")
                }
            }
        }

        let finished = concurrencyRunThreads([writer] + readers)
        #expect(finished, "threads did not finish in time")
        #expect(log.allFailures.isEmpty, "\(log.allFailures.prefix(10))")
        for e in log.allEvents { print(e) }
        #expect(committed.current == commits)
        #expect(try env.stats().transactionID == initial + UInt64(commits))
        try assertClean(env)
    }

    /// Many short read transactions, begun while commits are being published: each one sees
    /// exactly the state of one commit (never a mix of two), and snapshot ids never go backwards
    /// on a thread.
    @Test func shortReadersAlwaysSeeAWholeCommit() throws {
        let dir = try TemporaryDirectory("conc-short-readers")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: TestEnvironment.seed(default: 0xC0C0_0005))
        var model: [[UInt8]: [UInt8]] = [:]
        let first = try env.write { txn in
            for i in 0..<300 {
                let v = concurrencyRandomValue(&g)
                try txn.put(v, forKey: concurrencyKey(i))
                model[concurrencyKey(i)] = v
            }
            return txn.snapshotID + 1
        }
        let history = SnapshotHistory()
        history.publish(first, model)
        let initialModel = model
        let writerSeed = g.next()
        let done = ConcurrencyCounter()
        let log = ConcurrencyLog()
        let commits = 200 * TestEnvironment.scale
        let writer: @Sendable () -> Void = {
            var g = SeededGenerator(seed: writerSeed)
            var model = initialModel
            do {
                for _ in 0..<commits {
                    var txn = try env.beginWrite()
                    // Every commit changes a marker and a spread of keys, so a torn view shows.
                    for j in 0..<20 {
                        let k = concurrencyKey((j * 15 + Int.random(in: 0..<15, using: &g)) % 300)
                        if g.chance(0.2) {
                            try txn.delete(k)
                            model.removeValue(forKey: k)
                        } else {
                            let v = concurrencyRandomValue(&g)
                            try txn.put(v, forKey: k)
                            model[k] = v
                        }
                    }
                    history.publish(txn.snapshotID + 1, model)
                    try txn.commit()
                }
            } catch {
                log.fail("writer: \(error)")
            }
            done.set(1)
        }
        let readers: [@Sendable () -> Void] = (0..<3).map { r in
            {
                var last: UInt64 = 0
                var count = 0
                while done.current == 0 || count < 5 {
                    do {
                        let txn = try env.beginRead()
                        let id = txn.snapshotID
                        let seen = try concurrencyScan(txn)
                        txn.abort()
                        count += 1
                        if id < last { log.fail("reader \(r): snapshot went back from \(last) to \(id)") }
                        last = id
                        guard let expected = history.state(id) else { log.fail("reader \(r): unknown snapshot \(id)"); return }
                        if seen != concurrencySorted(expected) {
                            log.fail("reader \(r): snapshot \(id) is not the state that commit made")
                            return
                        }
                    } catch {
                        log.fail("reader \(r): \(error)")
                        return
                    }
                }
                log.event("reader \(r): \(count) snapshots")
            }
        }
        #expect(concurrencyRunThreads([writer] + readers))
        #expect(log.allFailures.isEmpty, "\(log.allFailures.prefix(10))")
        for e in log.allEvents { print(e) }
        try assertClean(env)
    }

    /// A reader that stays open pins the pages of its snapshot: the writer overwrites and deletes
    /// everything many times, the reader's bytes never change, and the checker counts pages as
    /// awaiting reuse. Once the reader ends, those pages are reused and the file stops growing.
    @Test func longLivedReaderPinsItsPagesUntilItEnds() throws {
        let dir = try TemporaryDirectory("conc-pinned")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var g = SeededGenerator(seed: TestEnvironment.seed(default: 0xC0C0_0002))
        func sizeOf(_ i: Int) -> Int { i % 15 == 0 ? 9000 : 200 }   // every 15th value overflows
        let keyCount = 450
        try env.write { txn in
            for i in 0..<keyCount { try txn.put(g.bytes(sizeOf(i)), forKey: concurrencyKey(i)) }
        }
        var overflowPages: UInt64 = 0
        try env.read { txn in overflowPages = try txn.stats().overflowPages }
        #expect(overflowPages > 0)

        let readerReady = DispatchSemaphore(value: 0)
        let writerDone = DispatchSemaphore(value: 0)
        let readerEnded = DispatchSemaphore(value: 0)
        let log = ConcurrencyLog()
        let reader: @Sendable () -> Void = {
            defer { readerEnded.signal() }
            do {
                let txn = try env.beginRead()
                let before = try concurrencyScan(txn)
                readerReady.signal()
                guard writerDone.wait(timeout: .now() + 120) == .success else {
                    log.fail("reader: writer never finished")
                    return
                }
                let after = try concurrencyScan(txn)
                if after != before { log.fail("reader: its snapshot changed while it was open") }
                for e in before {
                    if try txn.get(e.key) != e.value {
                        log.fail("reader: get of \(String(decoding: e.key, as: UTF8.self)) changed")
                        break
                    }
                }
                if before.count != keyCount { log.fail("reader: saw \(before.count) entries, expected \(keyCount)") }
                txn.abort()
            } catch {
                readerReady.signal()
                log.fail("reader: \(error)")
            }
        }
        let group = DispatchGroup()
        group.enter()
        Thread {
            reader()
            group.leave()
        }.start()
        #expect(readerReady.wait(timeout: .now() + 60) == .success)

        func churn(round: Int) throws {
            try env.write { txn in
                if round % 3 == 2 {
                    for i in 0..<keyCount { try txn.delete(concurrencyKey(i)) }
                } else {
                    for i in 0..<keyCount { try txn.put(g.bytes(sizeOf(i)), forKey: concurrencyKey(i)) }
                }
            }
        }
        let pagesBefore = try env.stats().pageCount
        for round in 0..<20 { try churn(round: round) }
        let pinned = try assertClean(env, "while the reader is open")
        let statsPinned = try env.stats()
        print("with a pinned reader: \(pinned)")
        #expect(pinned.pagesAwaitingReuse > 0, "the reader's pages must not be reusable")
        #expect(statsPinned.pagesAwaitingReuse == pinned.pagesAwaitingReuse)
        #expect(statsPinned.readers == 1)
        #expect(statsPinned.pageCount > pagesBefore, "the writer cannot reuse pinned pages, so the file grows")

        writerDone.signal()
        #expect(readerEnded.wait(timeout: .now() + 60) == .success)
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(log.allFailures.isEmpty, "\(log.allFailures)")

        // Same snapshot, no reader: every page awaiting reuse is now free.
        let released = try assertClean(env, "after the reader ended")
        #expect(released.transactionID == pinned.transactionID)
        #expect(released.pagesAwaitingReuse == 0)
        #expect(released.freePages == pinned.freePages + pinned.pagesAwaitingReuse)
        #expect(try env.stats().readers == 0)

        // Further commits take their pages from the free space: the file does not grow.
        let pagesAtRelease = released.pageCount
        try churn(round: 0)
        let afterOne = try assertClean(env)
        let written = try #require(env.lastCommit).pagesWritten
        // It wrote a full copy of the data, all of it into freed pages.
        #expect(written >= Int(released.reachablePages) / 2)
        #expect(afterOne.pageCount == pagesAtRelease, "wrote \(written) pages at the end of the file instead of into \(released.freePages) free pages")
        for round in 1..<20 { try churn(round: round) }
        let end = try assertClean(env)
        print("after the reader ended: \(released)\n20 more rounds: \(end)")
        #expect(end.pageCount <= pagesAtRelease, "file grew from \(pagesAtRelease) to \(end.pageCount) pages with \(released.freePages) free")
    }

    /// Two threads begin write transactions; the second waits until the first has committed, then
    /// sees its data. Both commits land.
    @Test func secondWriterWaitsForTheFirst() throws {
        let dir = try TemporaryDirectory("conc-writers")
        let env = try Environment(path: dir.file())
        let start = try env.stats().transactionID
        let log = ConcurrencyLog()
        let firstBegan = DispatchSemaphore(value: 0)
        let waited = Mutex<Double>(0)
        let holdSeconds = 0.3

        let first: @Sendable () -> Void = {
            do {
                var txn = try env.beginWrite()
                log.event("A began")
                firstBegan.signal()
                try txn.put("from A", forKey: "a")
                Thread.sleep(forTimeInterval: holdSeconds)
                log.event("A committing")
                try txn.commit()
            } catch {
                firstBegan.signal()
                log.fail("A: \(error)")
            }
        }
        let second: @Sendable () -> Void = {
            guard firstBegan.wait(timeout: .now() + 30) == .success else { log.fail("B: A never began"); return }
            do {
                log.event("B requesting")
                let t0 = Date()
                var txn = try env.beginWrite()
                let dt = Date().timeIntervalSince(t0)
                log.event("B began")
                waited.withLock { $0 = dt }
                if txn.snapshotID != start + 1 { log.fail("B: began on snapshot \(txn.snapshotID), expected A's commit \(start + 1)") }
                if try txn.getString("a") != "from A" { log.fail("B: does not see A's write") }
                try txn.put("from B", forKey: "b")
                try txn.commit()
            } catch {
                log.fail("B: \(error)")
            }
        }
        #expect(concurrencyRunThreads([first, second], timeout: 60))
        #expect(log.allFailures.isEmpty, "\(log.allFailures)")
        let events = log.allEvents
        let committing = try #require(log.index(of: "A committing"), "\(events)")
        let began = try #require(log.index(of: "B began"), "\(events)")
        let requested = try #require(log.index(of: "B requesting"), "\(events)")
        #expect(requested < committing, "B must ask while A is open: \(events)")
        #expect(began > committing, "B began before A committed: \(events)")
        let wait = waited.withLock { $0 }
        #expect(wait > holdSeconds / 3, "B waited only \(wait) s")
        try env.read { txn throws in
            #expect(try txn.getString("a") == "from A")
            #expect(try txn.getString("b") == "from B")
        }
        #expect(try env.stats().transactionID == start + 2)
        try assertClean(env)
    }

    /// A read transaction open on another thread does not block a commit.
    @Test func readersDoNotBlockTheWriter() throws {
        let dir = try TemporaryDirectory("conc-nonblocking")
        let env = try Environment(path: dir.file())
        try env.write { txn in try txn.put("old", forKey: "k") }
        let readerOpen = DispatchSemaphore(value: 0)
        let mayFinish = DispatchSemaphore(value: 0)
        let writerCommitted = DispatchSemaphore(value: 0)
        let log = ConcurrencyLog()
        let group = DispatchGroup()

        group.enter()
        Thread {
            defer { group.leave() }
            do {
                let txn = try env.beginRead()
                if try txn.getString("k") != "old" { log.fail("reader: wrong initial value") }
                readerOpen.signal()
                _ = mayFinish.wait(timeout: .now() + 60)
                if try txn.getString("k") != "old" { log.fail("reader: its snapshot changed") }
                if try txn.getString("new") != nil { log.fail("reader: sees a later commit") }
                txn.abort()
            } catch {
                readerOpen.signal()
                log.fail("reader: \(error)")
            }
        }.start()
        #expect(readerOpen.wait(timeout: .now() + 30) == .success)

        group.enter()
        Thread {
            defer { group.leave() }
            do {
                try env.write { txn in
                    try txn.put("new", forKey: "k")
                    try txn.put("yes", forKey: "new")
                }
                writerCommitted.signal()
            } catch {
                log.fail("writer: \(error)")
            }
        }.start()
        // The reader is still open (it waits for `mayFinish`): the commit must not wait for it.
        let committedInTime = writerCommitted.wait(timeout: .now() + 20) == .success
        #expect(committedInTime, "the writer blocked behind an open reader")
        #expect(try env.stats().readers == 1, "the reader must still be open during the commit")
        try env.read { txn throws in #expect(try txn.getString("k") == "new") }
        mayFinish.signal()
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(log.allFailures.isEmpty, "\(log.allFailures)")
        try assertClean(env)
    }

    /// With two reader slots, a third concurrent read transaction throws `readersFull`; when one
    /// ends, a new one succeeds.
    @Test func readersFullWhenSlotsAreTaken() throws {
        let dir = try TemporaryDirectory("conc-readers-full")
        let env = try Environment(path: dir.file(), options: Options(maxReaders: 2))
        try env.write { txn in try txn.put("v", forKey: "k") }
        let log = ConcurrencyLog()
        let opened = DispatchSemaphore(value: 0)
        let release = [DispatchSemaphore(value: 0), DispatchSemaphore(value: 0)]
        let ended = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for r in 0..<2 {
            let mine = release[r]
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    let txn = try env.beginRead()
                    opened.signal()
                    _ = mine.wait(timeout: .now() + 60)
                    if try txn.getString("k") != "v" { log.fail("reader \(r): wrong value") }
                    txn.abort()
                    ended.signal()
                } catch {
                    opened.signal()
                    ended.signal()
                    log.fail("reader \(r): \(error)")
                }
            }.start()
        }
        #expect(opened.wait(timeout: .now() + 30) == .success)
        #expect(opened.wait(timeout: .now() + 30) == .success)

        var thrown: LarchError?
        do {
            let third = try env.beginRead()
            third.abort()
        } catch {
            thrown = error
        }
        #expect(thrown == .readersFull(limit: 2))
        if let thrown {
            #expect(thrown.description.contains("2"), "\(thrown.description)")
            #expect(thrown.description.contains("maxReaders"))
        }

        release[0].signal()
        #expect(ended.wait(timeout: .now() + 30) == .success)
        let again = try env.beginRead()
        #expect(try again.getString("k") == "v")
        // Both slots are taken again.
        #expect(throws: LarchError.readersFull(limit: 2)) { _ = try env.beginRead() }
        again.abort()
        release[1].signal()
        #expect(group.wait(timeout: .now() + 30) == .success)
        #expect(log.allFailures.isEmpty, "\(log.allFailures)")
        // Every slot is free again.
        let a = try env.beginRead()
        let b = try env.beginRead()
        let bothActive = a.isActive && b.isActive
        #expect(bothActive)
        a.abort()
        b.abort()
    }
}
