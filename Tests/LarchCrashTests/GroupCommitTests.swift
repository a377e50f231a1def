import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Larch
import LarchCrashLab

/// Issue 12: one sync covers the commits that arrive while the previous one runs, for threads and
/// for tasks; tasks suspend (never block a pool thread) while they wait for the writer or the sync.
@Suite struct GroupCommitTests {
    private static func key(_ i: Int) -> [UInt8] { Array("k-\(String(format: "%06d", i))".utf8) }

    /// Eight threads commit one put each, many times, on a disk whose sync takes 2 ms: every
    /// commit lands, and the syncs are far fewer than the commits (each covers a group).
    @Test(.timeLimit(.minutes(1)))
    func threadsShareSyncs() throws {
        let disk = SimulatedDisk(capacity: 64 << 20, recording: false)
        let device = FaultInjectingDevice(disk)
        device.syncDelayMicroseconds.store(2_000, ordering: .relaxed)
        let env = try Environment(storage: device, options: Options(durability: .full))
        let threads = 8, perThread = 40
        let syncsBefore = device.count(.sync)
        let largestGroup = Atomic<Int>(0)
        let failures = Mutex<[String]>([])
        let done = DispatchGroup()
        for t in 0..<threads {
            done.enter()
            Thread {
                defer { done.leave() }
                for n in 0..<perThread {
                    do {
                        var txn = try env.beginWrite()
                        try txn.put(Array("\(t)/\(n)".utf8), forKey: Self.key(t * perThread + n))
                        let stats = try txn.commit()
                        var seen = largestGroup.load(ordering: .relaxed)
                        while stats.groupSize > seen {
                            let (done, now) = largestGroup.compareExchange(expected: seen, desired: stats.groupSize, ordering: .relaxed)
                            if done { break }
                            seen = now
                        }
                    } catch {
                        failures.withLock { $0.append("\(error)") }
                    }
                }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 50) == .success)
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0.prefix(3) })")
        let commits = threads * perThread
        let syncs = device.count(.sync) - syncsBefore
        print("group commit: \(commits) commits from \(threads) threads, \(syncs) syncs, largest group \(largestGroup.load(ordering: .relaxed))")
        #expect(syncs < commits / 2, "\(syncs) syncs for \(commits) commits: commits were not grouped")
        #expect(largestGroup.load(ordering: .relaxed) > 1)
        try env.read { txn throws in
            #expect(try txn.stats().entries == UInt64(commits))
            for i in 0..<commits { #expect(try txn.get(Self.key(i)) != nil) }
        }
        #expect(try env.check().isClean)
        // What a crash now leaves (everything synced): the same.
        let copy = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: disk.contents, recording: false),
                                   options: Options(durability: .full))
        #expect(try copy.read { try $0.stats().entries } == UInt64(commits))
    }

    /// 200 tasks on the default executor write and read; every tenth holds its write transaction
    /// across an `await`. No deadlock (the time limit), no starvation (every task finishes), every
    /// write present, and each task reads its own write once `write` returned.
    // The limit catches a deadlock, not slowness: in the whole suite, run in parallel on a
    // 2-core machine, an async test waits for the cooperative pool's two threads behind long
    // synchronous tests (84 s measured in a green run), so it is well above that.
    @Test(.timeLimit(.minutes(5)))
    func twoHundredTasksWriteAndReadAcrossAwaits() async throws {
        let dir = NSTemporaryDirectory() + "larch-tasks-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let env = try Environment(path: dir + "/data.larch", options: Options(durability: .full))
        let finished = FinishedCount()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<200 {
                group.addTask {
                    let k = Self.key(i)
                    try await env.write { txn in
                        try txn.put(Array("first \(i)".utf8), forKey: k)
                        if i % 10 == 0 { try await Task.sleep(for: .milliseconds(2)) }   // held across an await
                        try txn.put(Array("value \(i)".utf8), forKey: k)
                    }
                    let seen = try await env.read { txn in try txn.get(k) }
                    #expect(seen == Array("value \(i)".utf8), "task \(i) does not read its own write")
                    let total = try await env.read { txn in try txn.stats().entries }
                    #expect(total >= 1)
                    finished.value.add(1, ordering: .relaxed)
                }
            }
            try await group.waitForAll()
        }
        #expect(finished.value.load(ordering: .relaxed) == 200)
        try await env.read { txn throws in
            #expect(try txn.stats().entries == 200)
            for i in 0..<200 { #expect(try txn.get(Self.key(i)) == Array("value \(i)".utf8)) }
        }
        #expect(try env.check().isClean)
        print("200 tasks: last commit \(env.lastCommit.map { "transaction \($0.transactionID), group of \($0.groupSize)" } ?? "none")")
    }

    /// A write transaction whose body throws is rolled back alone: the commits around it, of
    /// other threads in the same groups, land.
    @Test(.timeLimit(.minutes(1)))
    func aThrowingWriterIsRolledBackAlone() throws {
        let disk = SimulatedDisk(capacity: 64 << 20, recording: false)
        let device = FaultInjectingDevice(disk)
        device.syncDelayMicroseconds.store(1_000, ordering: .relaxed)
        let env = try Environment(storage: device, options: Options(durability: .full))
        struct Refused: Error {}
        let done = DispatchGroup()
        for t in 0..<4 {
            done.enter()
            Thread {
                defer { done.leave() }
                for n in 0..<25 {
                    let i = t * 25 + n
                    _ = try? env.write { txn in
                        try txn.put(Array("v".utf8), forKey: Self.key(i))
                        if i % 3 == 0 { throw Refused() }
                    }
                }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 50) == .success)
        try env.read { txn throws in
            for i in 0..<100 { #expect((try txn.get(Self.key(i)) != nil) == (i % 3 != 0), "key \(i)") }
        }
        #expect(try env.check().isClean)
    }
}

/// A counter tasks can share.
private final class FinishedCount: Sendable {
    let value = Atomic<Int>(0)
}
