import Foundation
import Synchronization
import Testing
@testable import Larch
import LarchCrashLab

/// Issue 11 with real processes: `larch-crashlab bank` children transfer money between accounts
/// and audit the total, while this process audits too and SIGKILLs writers and readers.
@Suite(.serialized) struct MultiProcessTests {
    static let accounts = 1_000
    static let initial = 1_000

    /// A child process whose standard output goes to a file.
    final class Child {
        let process = Process()
        let output: String

        init(_ arguments: [String], output: String) throws {
            self.output = output
            _ = FileManager.default.createFile(atPath: output, contents: nil)
            process.executableURL = KillTests.productsDirectory.appendingPathComponent("larch-crashlab")
            process.arguments = arguments
            process.standardOutput = FileHandle(forWritingAtPath: output)
            // Its errors to a file of their own; a crash ends it at once (no backtracer, which can
            // hang when the crashing child is SIGKILLed meanwhile) and shows in `kill`'s issue.
            _ = FileManager.default.createFile(atPath: output + ".stderr", contents: nil)
            process.standardError = FileHandle(forWritingAtPath: output + ".stderr")
            var environment = ProcessInfo.processInfo.environment
            environment["SWIFT_BACKTRACE"] = "enable=no"
            process.environment = environment
            try process.run()
        }

        /// SIGKILLs it; records an issue if it had already ended by itself (an error or a crash).
        func kill(sourceLocation: SourceLocation = #_sourceLocation) {
            let ranUntilKilled = process.isRunning
            _ = Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let errors = (try? String(contentsOfFile: output + ".stderr", encoding: .utf8)) ?? ""
            #expect(ranUntilKilled, "larch-crashlab \(process.arguments ?? []) ended by itself with status \(process.terminationStatus) (\(process.terminationReason == .uncaughtSignal ? "signal" : "exit")): \(errors.prefix(2_000))", sourceLocation: sourceLocation)
        }

        var lines: [Substring] {
            (try? String(contentsOfFile: output, encoding: .utf8))?.split(separator: "\n") ?? []
        }
    }

    private func bank(_ dir: TemporaryDirectory) throws -> (path: String, env: Environment) {
        let path = dir.file()
        let env = try Environment(path: path, options: Options(durability: .noMetaSync))
        try env.write { txn in
            for i in 0..<Self.accounts {
                let digits = String(i)
                try txn.put(String(Self.initial), forKey: "acct-" + String(repeating: "0", count: 4 - digits.count) + digits)
            }
        }
        return (path, env)
    }

    private func total(_ env: Environment) throws -> Int {
        try env.read { txn in
            var sum = 0
            var entries = try txn.entries()
            while let (_, v) = try entries.next() { sum += Int(String(decoding: v, as: UTF8.self))! }
            return sum
        }
    }

    /// Four writer processes × 500 transactions of distinct keys, at once.
    @Test(.timeLimit(.minutes(5)))
    func fourWriterProcessesCommitEveryKey() throws {
        let dir = try TemporaryDirectory("writers")
        let path = dir.file()
        _ = try Environment(path: path)   // created once, before the race
        let writers = try (0..<4).map { w in
            try Child(["writer", path, String(w), "500"], output: dir.file("writer-\(w)"))
        }
        for w in writers { w.process.waitUntilExit() }
        for (w, c) in writers.enumerated() {
            #expect(c.process.terminationStatus == 0, "writer \(w) exited \(c.process.terminationStatus)")
            #expect(c.lines.count == 500, "writer \(w) acknowledged \(c.lines.count) of 500")
        }
        let env = try Environment(path: path)
        try env.read { txn throws in
            for w in 0..<4 { for n in 0..<500 { #expect(try txn.getString("w\(w)-\(n)") == "w\(w)-\(n)") } }
            #expect(try txn.stats().entries == 2_000)
        }
        let report = try env.check()
        #expect(report.isClean, "\(report)")
        #expect(report.transactionID >= 2_001)
    }

    @Test(.timeLimit(.minutes(5)))
    func transfersAcrossProcessesKeepTheSumThroughWriterKills() throws {
        let dir = try TemporaryDirectory("bank")
        let (path, env) = try bank(dir)
        let expected = Self.accounts * Self.initial
        var g = SplitMix(seed: 0xBA4C)
        var serial = 0
        func output() -> String { serial += 1; return dir.file("out-\(serial)") }
        // Each transfer process commits from three threads at once: its commits group (one sync
        // for several), and a kill lands in the middle of a group as often as not.
        var transfers = [try Child(["bank", path, "transfer", "1", "3"], output: output()),
                         try Child(["bank", path, "transfer", "2", "3"], output: output())]
        let auditors = [try Child(["bank", path, "audit", "2"], output: output()),
                        try Child(["bank", path, "audit", "3"], output: output())]
        var finished: [Child] = []

        // This process audits too, on two threads, while the children run and die.
        let stop = Atomic<Bool>(false)
        let violations = Mutex<[String]>([])
        let audits = Atomic<Int>(0)
        let threads = (0..<2).map { _ in
            Thread {
                while !stop.load(ordering: .relaxed) {
                    do {
                        let sum = try self.total(env)
                        if sum != expected { violations.withLock { $0.append("this process saw \(sum)") } }
                        audits.add(1, ordering: .relaxed)
                    } catch {
                        violations.withLock { $0.append("this process: \(error)") }
                    }
                }
            }
        }
        for t in threads { t.start() }

        let kills = 50
        var slowest: Duration = .zero
        for k in 0..<kills {
            usleep(UInt32(40_000 + Int(g.next() % 80_000)))   // 40–120 ms
            let victim = k % 2
            transfers[victim].kill()
            finished.append(transfers[victim])
            // The writer lock of the dead process is released by the system: the next writer
            // gets it at once.
            let start = ContinuousClock.now
            try env.write { _ in }
            slowest = max(slowest, ContinuousClock.now - start)
            transfers[victim] = try Child(["bank", path, "transfer", String(100 + k), "3"], output: output())
        }
        usleep(200_000)
        for c in transfers + auditors { c.kill() }
        stop.store(true, ordering: .relaxed)
        while threads.contains(where: { $0.isExecuting }) { usleep(1_000) }

        var acked: UInt64 = 0
        var transfersDone = 0
        for c in finished + transfers {
            let acks = c.lines.compactMap { $0.hasPrefix("ack ") ? UInt64($0.dropFirst(4)) : nil }
            transfersDone += acks.count
            acked = max(acked, acks.max() ?? 0)
        }
        var childAudits = 0
        var longReads = 0
        for c in auditors {
            for line in c.lines where line.hasPrefix("sum ") {
                childAudits += 1
                let sum = Int(line.split(separator: " ")[1])!
                if sum != expected { violations.withLock { $0.append("an auditor process saw \(sum): \(line)") } }
            }
            // A long reader of another process: its snapshot stayed the same while others committed.
            for line in c.lines where line.hasPrefix("held ") {
                let f = line.split(separator: " ")
                guard f.count == 5 else { continue }   // killed while printing
                longReads += 1
                if Int(f[2]) != expected || Int(f[3]) != expected || f[4] != "same" {
                    violations.withLock { $0.append("a long reader's snapshot changed: \(line)") }
                }
            }
        }
        #expect(longReads > 0, "no long reader completed")
        print("bank: \(transfersDone) transfers acknowledged by \(finished.count + 2) writer processes (\(kills) SIGKILLed), \(childAudits) audits and \(longReads) long readers in other processes, \(audits.load(ordering: .relaxed)) audits here; slowest writer lock after a kill \(slowest)")
        #expect(violations.withLock { $0 }.isEmpty, "\(violations.withLock { $0.prefix(5) })")
        #expect(transfersDone > 100 && childAudits > 10)
        // The system releases a dead writer's lock at once, but a process killed inside fdatasync
        // dies only when the sync returns (hundreds of ms on a busy disk): 5 s, not the 30 s a
        // stale lock would cost.
        #expect(slowest < .seconds(5), "after a writer died, the next one waited \(slowest)")
        let reopened = try Environment(path: path)
        #expect(try total(reopened) == expected)
        let report = try reopened.check()
        #expect(report.isClean, "\(report)")
        #expect(report.transactionID >= acked, "every acknowledged transfer is in the file")
    }

    @Test(.timeLimit(.minutes(5)))
    func readerProcessesKilledLeaveNoStalePinsBehind() throws {
        let dir = try TemporaryDirectory("bank-readers")
        let (path, env) = try bank(dir)
        let baseline = try env.stats().pageCount
        let stop = Atomic<Bool>(false)
        let writerError = Mutex<String?>(nil)
        let writer = Thread {
            var n = 0
            while !stop.load(ordering: .relaxed) {
                do {
                    try env.write { txn in
                        for i in 0..<20 { try txn.put(String(Self.initial), forKey: "acct-" + String(format4: (n * 20 + i) % Self.accounts)) }
                    }
                } catch {
                    writerError.withLock { $0 = "\(error)" }
                    return
                }
                n += 1
            }
        }
        writer.start()
        var g = SplitMix(seed: 0x4EAD)
        let kills = 200
        for k in 0..<kills {
            let reader = try Child(["bank", path, "audit", String(2 * k + 1)], output: dir.file("reader-\(k)"))
            usleep(UInt32(10_000 + Int(g.next() % 40_000)))   // 10–50 ms: often while it holds a reader
            reader.kill()
        }
        stop.store(true, ordering: .relaxed)
        while writer.isExecuting { usleep(1_000) }
        #expect(writerError.withLock { $0 } == nil)
        // Whatever the killed processes held is free again once a writer looks.
        try env.write { _ in }
        #expect(try env.activeReaders().isEmpty)
        let afterKills = try env.stats().pageCount
        for n in 0..<300 {
            try env.write { txn in
                for i in 0..<20 { try txn.put(String(Self.initial), forKey: "acct-" + String(format4: (n * 20 + i) % Self.accounts)) }
            }
        }
        let settled = try env.stats().pageCount
        print("reader kills: \(kills) reader processes SIGKILLed; file \(baseline) pages before, \(afterKills) after, \(settled) after 300 more commits")
        // While the readers lived, each pinned the pages of the commits made meanwhile (the file grows
        // with the commit rate times their life); once they are gone, nothing grows any more.
        #expect(settled <= afterKills + 10, "page reuse resumed: the file grew from \(afterKills) to \(settled) pages")
        #expect(try env.stats().freePages > 0)
        #expect(try env.check().isClean)
    }
}

extension String {
    /// `n` with four digits.
    init(format4 n: Int) {
        let digits = String(n)
        self = String(repeating: "0", count: Swift.max(0, 4 - digits.count)) + digits
    }
}
