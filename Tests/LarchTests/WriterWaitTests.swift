import Foundation
import Synchronization
import Testing
@testable import Larch

// Issue 10, hazard 5: waiting for the writer. Before the fix, a nested `env.write` on one thread
// waited for itself for ever, and tasks that called `env.write` while another task held the write
// transaction across an `await` blocked the cooperative pool's threads, so the holder could never
// resume: the process hung.
private final class ServedLog: Sendable {
    let list = Mutex<[Int]>([])
}

private final class StartedFlag: Sendable {
    let value = Atomic<Bool>(false)
}

@Suite struct WriterWaitTests {
    @Test(.timeLimit(.minutes(1)))
    func nestedWriteOnOneThreadIsAnError() throws {
        let dir = try TemporaryDirectory("nested-write")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { outer in
            try outer.put("outer", forKey: "k")
            #expect(throws: LarchError.nestedWriteTransaction) { try env.write { inner in try inner.put("inner", forKey: "k") } }
            #expect(throws: LarchError.nestedWriteTransaction) { _ = try env.beginWrite() }
            let isActive = outer.isActive
            #expect(isActive, "the open transaction stays usable")
            try outer.put("outer again", forKey: "k2")
        }
        #expect(try env.read { try $0.getString("k") } == "outer")
        #expect(try env.read { try $0.getString("k2") } == "outer again")
        // After it ended, this thread can write again.
        try env.write { try $0.put("later", forKey: "k") }
        #expect(try env.read { try $0.getString("k") } == "later")
    }

    /// The reproduction: one task holds an explicit write transaction across a sleep while
    /// four tasks ask for the writer (and two threads block in the synchronous `write`). Every
    /// writer gets its turn and every commit lands.
    // The limit catches a deadlock, not slowness: in the whole suite, run in parallel on a
    // 2-core machine, an async test waits for the cooperative pool's two threads behind long
    // synchronous tests (84 s measured in a green run), so it is well above that.
    @Test(.timeLimit(.minutes(5)))
    func writersWaitingWhileATaskHoldsTheWriterAcrossAnAwait() async throws {
        let dir = try TemporaryDirectory("async-writers")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let holderStarted = StartedFlag()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                var txn = try env.beginWrite()
                try txn.put("held", forKey: "holder")
                holderStarted.value.store(true, ordering: .sequentiallyConsistent)
                try await Task.sleep(nanoseconds: 200_000_000)
                try await txn.commit()
            }
            while !holderStarted.value.load(ordering: .sequentiallyConsistent) { await Task.yield() }
            for i in 0..<4 {
                group.addTask { try await env.write { try $0.put("task \(i)", forKey: "task-\(i)") } }
            }
            try await group.waitForAll()
        }
        // Threads outside the pool block in the synchronous write meanwhile, and are served too.
        let done = DispatchGroup()
        let failures = Mutex<[String]>([])
        let holder = try env.beginWrite()
        for i in 0..<2 {
            done.enter()
            Thread {
                defer { done.leave() }
                do { try env.write { try $0.put("thread \(i)", forKey: "thread-\(i)") } } catch {
                    failures.withLock { $0.append("\(error)") }
                }
            }.start()
        }
        try await Task.sleep(nanoseconds: 50_000_000)   // the threads are waiting now
        try await holder.commit()
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(failures.withLock { $0 }.isEmpty)
        try await env.read { txn throws in
            #expect(try txn.getString("holder") == "held")
            for i in 0..<4 { #expect(try txn.getString("task-\(i)") == "task \(i)") }
            for i in 0..<2 { #expect(try txn.getString("thread-\(i)") == "thread \(i)") }
        }
    }

    /// Many writers queued at once (the queue is compacted as they are served): each gets its turn.
    // The limit catches a deadlock, not slowness: in the whole suite, run in parallel on a
    // 2-core machine, an async test waits for the cooperative pool's two threads behind long
    // synchronous tests (84 s measured in a green run), so it is well above that.
    @Test(.timeLimit(.minutes(5)))
    func manyQueuedWritersAreAllServed() async throws {
        let dir = try TemporaryDirectory("queued-writers")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let order = ServedLog()
        var holder: WriteTransaction? = try env.beginWrite()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<150 {
                group.addTask {
                    try await env.write { txn in
                        try txn.put("\(i)", forKey: "w-\(i)")
                        order.list.withLock { $0.append(i) }
                    }
                }
            }
            try await Task.sleep(nanoseconds: 100_000_000)   // let them queue
            try await holder.take()!.commit()
            try await group.waitForAll()
        }
        #expect(order.list.withLock { Set($0) } == Set(0..<150))
        try await env.read { txn throws in
            for i in 0..<150 { #expect(try txn.getString("w-\(i)") == "\(i)") }
        }
    }
}
