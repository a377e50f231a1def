import Foundation
import Atomics
import Synchronization
import Testing
@testable import Larch

// Issue 11: many environments — in this process or others — on one file. Two `Environment`s in one
// process share nothing in memory: each has its own descriptors, map and view of the lock file, so
// they coordinate exactly as two processes do (the CLI tests run real processes).
@Suite struct SharedFileTests {
    private func options(_ tweak: (inout Options) -> Void = { _ in }) -> Options {
        var o = Options(durability: .noSync)
        tweak(&o)
        return o
    }

    @Test func aCommitInOneEnvironmentIsSeenByTheNextReadOfAnother() throws {
        let dir = try TemporaryDirectory("shared-visibility")
        let a = try Environment(path: dir.file(), options: options())
        let b = try Environment(path: a.path, options: options())
        try a.write { try $0.put("from a", forKey: "k") }
        #expect(try b.read { try $0.getString("k") } == "from a")
        let pinned = try b.beginRead()
        try b.write { try $0.put("from b", forKey: "k") }
        #expect(try a.read { try $0.getString("k") } == "from b")
        #expect(try pinned.getString("k") == "from a", "a reader keeps its snapshot")
        pinned.abort()
        let readOnly = try Environment(path: a.path, options: Options(readOnly: true))
        #expect(try readOnly.read { try $0.getString("k") } == "from b")
        #expect(try a.check().isClean)
    }

    @Test(.timeLimit(.minutes(2)))
    func writersInFourEnvironmentsAreSerialized() async throws {
        let dir = try TemporaryDirectory("shared-writers")
        let path = dir.file()
        _ = try Environment(path: path, options: options())
        let perWriter = 150
        try await withThrowingTaskGroup(of: Void.self) { group in
            for w in 0..<4 {
                group.addTask {
                    let env = try Environment(path: path, options: self.options())
                    for i in 0..<perWriter {
                        try env.write { txn in
                            // Read-modify-write of a shared counter: lost updates would show.
                            let n = Int(try txn.getString("counter") ?? "0")!
                            try txn.put(String(n + 1), forKey: "counter")
                            try txn.put("w\(w)", forKey: "key-\(w)-\(i)")
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let env = try Environment(path: path, options: options())
        try await env.read { txn throws in
            #expect(try txn.getString("counter") == String(4 * perWriter))
            #expect(try txn.stats().entries == UInt64(4 * perWriter + 1))
        }
        #expect(try env.check().isClean)
    }

    /// A reader of one environment pins its snapshot against the writer of another: the writer's
    /// commits never reuse the reader's pages, and once it ends they are reused.
    @Test func aReaderInOneEnvironmentPinsPagesAgainstAnother() throws {
        let dir = try TemporaryDirectory("shared-pin")
        let writer = try Environment(path: dir.file(), options: options())
        let readerEnv = try Environment(path: writer.path, options: options())
        let value = [UInt8](repeating: 7, count: 300)
        try writer.write { txn in for i in 0..<2_000 { try txn.put(value, forKey: Array("key-\(i)".utf8)) } }
        let reader = try readerEnv.beginRead()
        for round in 0..<20 {
            try writer.write { txn in
                for i in stride(from: round % 7, to: 2_000, by: 7) { try txn.put([UInt8](repeating: UInt8(round), count: 300), forKey: Array("key-\(i)".utf8)) }
            }
        }
        // Every value the reader sees is the one of its snapshot.
        var count = 0
        try reader.forEach { _, v in
            #expect(v.byteCount == 300 && v.withUnsafeBytes { $0.allSatisfy { $0 == 7 } })
            count += 1
            return true
        }
        #expect(count == 2_000)
        #expect(try writer.stats().readers == 1, "the other environment's reader is listed")
        reader.abort()
        let grown = try writer.stats().pageCount
        for round in 20..<60 {
            try writer.write { txn in
                for i in stride(from: round % 7, to: 2_000, by: 7) { try txn.put([UInt8](repeating: UInt8(round), count: 300), forKey: Array("key-\(i)".utf8)) }
            }
        }
        #expect(try writer.stats().pageCount <= grown + grown / 10, "pages are reused once the reader ended")
        #expect(try writer.check().isClean)
    }

    /// Another environment grows the file far past this one's map: this one remaps before it reads.
    @Test func growthByAnotherEnvironmentIsRemapped() throws {
        let dir = try TemporaryDirectory("shared-remap")
        let small = options { $0.minimumReservation = 8 * 4096 }
        let a = try Environment(path: dir.file(), options: small)
        let b = try Environment(path: a.path, options: small)
        try b.write { try $0.put("first", forKey: "k") }
        let old = try b.beginRead()
        for round in 0..<8 {
            try a.write { txn in
                for i in 0..<500 { try txn.put([UInt8](repeating: UInt8(round), count: 200), forKey: Array("r\(round)-\(i)".utf8)) }
            }
            try b.read { txn throws in
                #expect(try txn.get(Array("r\(round)-499".utf8)) == [UInt8](repeating: UInt8(round), count: 200))
            }
        }
        #expect(try old.getString("k") == "first")
        #expect(try old.get(Array("r0-0".utf8)) == nil)
        old.abort()
        try b.write { try $0.put("last", forKey: "k") }
        #expect(try a.read { try $0.getString("k") } == "last")
        #expect(try b.check().isClean)
    }

    /// A slot left by a process that died (its pid no longer runs) is reclaimed when a writer asks
    /// for the oldest snapshot: it no longer holds pages back.
    @Test func theSlotOfADeadProcessIsReclaimed() throws {
        let dir = try TemporaryDirectory("shared-stale")
        let env = try Environment(path: dir.file(), options: options())
        try env.write { try $0.put("v", forKey: "k") }
        // A process that has exited: its pid is free (or, if reused, has another start time).
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/bin/true")
        try child.run()
        child.waitUntilExit()
        let deadPID = UInt64(child.processIdentifier)
        let lock = try #require(try LockFile.open(databasePath: env.path, slots: 126))
        let table = ReaderTable(lockFile: lock)
        let slot = (0..<table.capacity).first { LockFile.word(in: lock.base, at: LockFileLayout.offset(slot: $0, field: LockFileLayout.ownerOffset)).load(ordering: .relaxed) == 0 }!
        LockFile.word(in: lock.base, at: LockFileLayout.offset(slot: slot, field: LockFileLayout.ownerOffset)).store(deadPID, ordering: .sequentiallyConsistent)
        LockFile.word(in: lock.base, at: LockFileLayout.offset(slot: slot, field: LockFileLayout.startTimeOffset)).store(1, ordering: .relaxed)
        LockFile.word(in: lock.base, at: LockFileLayout.offset(slot: slot, field: LockFileLayout.snapshotOffset)).store(1, ordering: .sequentiallyConsistent)
        #expect(table.activeCount == 1, "the dead process's slot is taken until someone looks")
        let listed = try env.activeReaders()
        #expect(listed.count == 1 && listed[0].processID == Int(deadPID) && !listed[0].isLive && listed[0].snapshotID == 1)
        #expect(table.oldestSnapshot() == nil, "the writer's question reclaims it")
        #expect(table.activeCount == 0)
        #expect(try env.stats().readers == 0)
        try env.write { try $0.put("w", forKey: "k2") }
        #expect(try env.check().isClean)
    }

    /// A reader of another process caught between the two stores of its claim (owner set, start
    /// time not yet) is never taken for a dead one, whoever held the slot before: a freed slot
    /// keeps no start time. (Once, a claim caught there in a slot reclaimed from a killed reader
    /// showed the old start time with the new pid: the slot was freed under the new reader, whose
    /// pages the writer then reused.)
    @Test func aSlotBeingClaimedIsNeverReclaimed() throws {
        let dir = try TemporaryDirectory("shared-claiming")
        let env = try Environment(path: dir.file(), options: options())
        try env.write { try $0.put("v", forKey: "k") }
        let dead = Process()
        dead.executableURL = URL(fileURLWithPath: "/bin/true")
        try dead.run()
        dead.waitUntilExit()
        let live = Process()   // stands for a reader process in the middle of its claim
        live.executableURL = URL(fileURLWithPath: "/bin/sleep")
        live.arguments = ["30"]
        try live.run()
        defer { kill(live.processIdentifier, SIGKILL); live.waitUntilExit() }
        let lock = try #require(try LockFile.open(databasePath: env.path, slots: 126))
        let table = ReaderTable(lockFile: lock)
        func word(_ slot: Int, _ field: Int) -> UnsafeAtomic<UInt64> {
            LockFile.word(in: lock.base, at: LockFileLayout.offset(slot: slot, field: field))
        }
        // Slot b: used and released by a reader of this process.
        let reader = try env.beginRead()
        let b = (0..<table.capacity).first { word($0, LockFileLayout.ownerOffset).load(ordering: .relaxed) == UInt64(getpid()) }!
        reader.abort()
        #expect(word(b, LockFileLayout.startTimeOffset).load(ordering: .relaxed) == 0, "a released slot keeps no start time")
        // Slot a: left by a killed reader, reclaimed by a writer's question.
        let a = (0..<table.capacity).first { $0 != b && word($0, LockFileLayout.ownerOffset).load(ordering: .relaxed) == 0 }!
        word(a, LockFileLayout.ownerOffset).store(UInt64(dead.processIdentifier), ordering: .sequentiallyConsistent)
        word(a, LockFileLayout.startTimeOffset).store(12345, ordering: .sequentiallyConsistent)
        #expect(table.oldestSnapshot() == nil && table.activeCount == 0)
        #expect(word(a, LockFileLayout.startTimeOffset).load(ordering: .relaxed) == 0, "a reclaimed slot keeps no start time")
        // Another process's claim sets the owner of each, and has not stored its start time yet.
        for slot in [a, b] {
            #expect(word(slot, LockFileLayout.ownerOffset).compareExchange(expected: 0, desired: UInt64(live.processIdentifier), ordering: .sequentiallyConsistent).exchanged)
        }
        #expect(table.reclaimStale() == 0, "a live process's claim in progress is not reclaimed")
        #expect(table.activeCount == 2)
        for slot in [a, b] { word(slot, LockFileLayout.ownerOffset).store(0, ordering: .sequentiallyConsistent) }
    }

    /// `activeReaders()` lists every process's readers: snapshot, lag and the pages waiting for them.
    @Test func readersOfEveryEnvironmentAreListed() throws {
        let dir = try TemporaryDirectory("shared-list")
        let a = try Environment(path: dir.file(), options: options())
        let b = try Environment(path: a.path, options: options())
        try a.write { txn in for i in 0..<500 { try txn.put([UInt8](repeating: 1, count: 100), forKey: Array("k\(i)".utf8)) } }
        #expect(try a.activeReaders().isEmpty)
        let reader = try b.beginRead()
        for round in 0..<5 {
            try a.write { txn in for i in 0..<500 { try txn.put([UInt8](repeating: UInt8(round), count: 100), forKey: Array("k\(i)".utf8)) } }
        }
        let listed = try a.activeReaders()
        try #require(listed.count == 1)
        #expect(listed[0].processID == Int(getpid()) && listed[0].isLive)
        #expect(listed[0].snapshotID == reader.snapshotID)
        #expect(listed[0].lag == 5)
        #expect(listed[0].pagesHeld > 0, "the pages the five commits freed wait for it")
        #expect(a.clearStaleReaders() == 0, "a live reader is never cleared")
        reader.abort()
        #expect(try a.activeReaders().isEmpty)
    }

    /// With `writerTimeout`, a writer that waits too long — for another environment's writer or
    /// for another thread's — gives up with `writerTimeout`; one that gave up never gets the lock
    /// later, and the next in line does.
    @Test(.timeLimit(.minutes(1)))
    func writersGiveUpAfterTheirTimeout() throws {
        let dir = try TemporaryDirectory("shared-timeout")
        let patient = try Environment(path: dir.file(), options: options())
        let hasty = try Environment(path: patient.path, options: options { $0.writerTimeout = .milliseconds(200) })
        var held = try patient.beginWrite()
        try held.put("first", forKey: "k")
        let start = ContinuousClock.now
        #expect(throws: LarchError.writerTimeout(seconds: 0.2)) { _ = try hasty.beginWrite() }
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(200) && waited < .seconds(5), "waited \(waited)")

        // The same in one environment: a thread that timed out is skipped when the lock is passed on.
        let gaveUp = DispatchSemaphore(value: 0)
        let outcome = Mutex<LarchError?>(nil)
        Thread {
            do throws(LarchError) { _ = try hasty.beginWrite() } catch { outcome.withLock { $0 = error } }
            gaveUp.signal()
        }.start()
        gaveUp.wait()
        #expect(outcome.withLock { $0 } == .writerTimeout(seconds: 0.2))
        try held.commit()
        try hasty.write { try $0.put("second", forKey: "k") }
        #expect(try patient.read { try $0.getString("k") } == "second")
    }

    @Test func theWaitOfOneEnvironmentIsItsOwn() throws {
        let dir = try TemporaryDirectory("shared-timeout-queue")
        let env = try Environment(path: dir.file(), options: options { $0.writerTimeout = .milliseconds(100) })
        var held = try env.beginWrite()
        // Three threads time out in the queue; the lock then goes to the next that asks.
        let done = DispatchGroup()
        let timeouts = Atomic<Int>(0)
        for _ in 0..<3 {
            done.enter()
            Thread {
                if (try? env.beginWrite()) == nil { timeouts.add(1, ordering: .relaxed) }
                done.leave()
            }.start()
        }
        done.wait()
        #expect(timeouts.load(ordering: .relaxed) == 3)
        try held.put("v", forKey: "k")
        try held.commit()
        try env.write { try $0.put("w", forKey: "k") }
        #expect(try env.read { try $0.getString("k") } == "w")
    }

    /// `maxReaderLag`: a reader too far behind is expired — its pages are reused, so a forgotten
    /// reader no longer makes the file grow — and its next access throws `snapshotExpired`.
    @Test func aReaderTooFarBehindIsExpired() throws {
        func run(maxLag: UInt64?) throws -> (pages: UInt64, expired: Bool) {
            let dir = try TemporaryDirectory("shared-lag")
            let env = try Environment(path: dir.file(), options: options { $0.maxReaderLag = maxLag })
            func fill(_ round: Int) throws {
                try env.write { txn in for i in 0..<500 { try txn.put([UInt8](repeating: UInt8(round), count: 300), forKey: Array("k\(i)".utf8)) } }
            }
            try fill(0)
            let reader = try env.beginRead()
            let cursor = try reader.cursor()
            #expect(try cursor.first())
            var entries = try reader.entries()
            #expect(try reader.get(Array("k0".utf8)) == [UInt8](repeating: 0, count: 300))
            for round in 1...12 { try fill(round) }
            let pages = try env.stats().pageCount
            let expired: Bool
            do throws(LarchError) {
                let v = try reader.get(Array("k1".utf8))
                #expect(v == [UInt8](repeating: 0, count: 300), "an unexpired reader reads its snapshot")
                expired = false
            } catch {
                #expect(error == .snapshotExpired(snapshot: reader.snapshotID))
                #expect(throws: LarchError.snapshotExpired(snapshot: reader.snapshotID)) { try cursor.next() }
                #expect(throws: LarchError.snapshotExpired(snapshot: reader.snapshotID)) { _ = try entries.next() }
                #expect(try env.activeReaders().first?.isExpired == true)
                expired = true
            }
            reader.abort()
            #expect(try env.check().isClean)
            return (pages, expired)
        }
        let pinned = try run(maxLag: nil)
        let bounded = try run(maxLag: 3)
        #expect(!pinned.expired && bounded.expired)
        #expect(bounded.pages * 2 < pinned.pages, "with a lag limit the file stays small: \(bounded.pages) pages against \(pinned.pages)")
    }

    /// Readers racing a writer that expires them: every value they return is their snapshot's,
    /// or they get `snapshotExpired` — never bytes of a reused page.
    @Test(.timeLimit(.minutes(1)))
    func expiredReadersNeverReturnReusedBytes() throws {
        let dir = try TemporaryDirectory("shared-lag-race")
        let env = try Environment(path: dir.file(), options: options { $0.maxReaderLag = 1 })
        try env.write { txn in for i in 0..<300 { try txn.put([UInt8](repeating: 0, count: 200), forKey: Array("k\(i)".utf8)) } }
        let stop = Atomic<Bool>(false)
        let wrong = Atomic<Int>(0), expirations = Atomic<Int>(0), reads = Atomic<Int>(0)
        let readers = (0..<2).map { n in
            Thread {
                var g = SeededGenerator(seed: UInt64(n + 1))
                while !stop.load(ordering: .relaxed) {
                    guard let txn = try? env.beginRead() else { continue }
                    // The snapshot's value, read once: every later read must return the same.
                    guard let first = try? txn.get(Array("k0".utf8)) else { continue }
                    for _ in 0..<2_000 {
                        do throws(LarchError) {
                            let v = try txn.get(Array("k\(Int.random(in: 0..<300, using: &g))".utf8))
                            if v != first { wrong.add(1, ordering: .relaxed) }
                            reads.add(1, ordering: .relaxed)
                        } catch {
                            if case .snapshotExpired = error { expirations.add(1, ordering: .relaxed) } else { wrong.add(1, ordering: .relaxed) }
                            break
                        }
                    }
                    txn.abort()
                }
            }
        }
        for t in readers { t.start() }
        for round in 1...400 {
            try env.write { txn in for i in 0..<300 { try txn.put([UInt8](repeating: UInt8(round & 255), count: 200), forKey: Array("k\(i)".utf8)) } }
        }
        stop.store(true, ordering: .relaxed)
        while readers.contains(where: { $0.isExecuting }) { usleep(1_000) }
        print("expiry race: \(reads.load(ordering: .relaxed)) reads, \(expirations.load(ordering: .relaxed)) expirations, \(wrong.load(ordering: .relaxed)) wrong")
        #expect(wrong.load(ordering: .relaxed) == 0)
        #expect(try env.check().isClean)
    }
}
