import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Larch
import LarchCrashLab

/// Issue 12: crash images of group commits. Four threads commit one distinct key each, many times,
/// on a simulated disk whose sync takes a millisecond (so groups form: one meta and one sync for
/// several commits). Then a crash after every recorded operation, under every policy, must open
/// with no recovery step at one commit's exact contents — every commit up to the meta's id, none
/// after — that includes every commit acknowledged before the crash.
@Suite struct GroupCommitCrashTests {
    private struct Ack { var txn: UInt64; var key: Int; var operation: Int }

    @Test(.timeLimit(.minutes(3)))
    func groupCommitsSurviveEveryCrash() throws {
        let pageSize = 4096
        let options = Options(pageSize: pageSize, maxSize: 64 << 20, durability: .full)
        let setup = SimulatedDisk(capacity: 64 << 20, recording: false)
        do { let env = try Environment(storage: setup, options: options); env.close() }
        let base = setup.contents

        let disk = SimulatedDisk(capacity: 64 << 20, image: base)
        let device = FaultInjectingDevice(disk)
        device.syncDelayMicroseconds.store(1_000, ordering: .relaxed)
        let env = try Environment(storage: device, options: options)
        let acks = Mutex<[Ack]>([])
        let done = DispatchGroup()
        let threads = 4, perThread = 25
        for t in 0..<threads {
            done.enter()
            Thread {
                defer { done.leave() }
                for n in 0..<perThread {
                    let k = t * perThread + n
                    do {
                        let key = Array("key-\(String(format: "%04d", k))".utf8), value = Array("value \(k)".utf8)
                        let committed: UInt64
                        if t % 2 == 0 {
                            // Closure-scoped: may rewrite in place the pages of commits waiting for their meta.
                            committed = try env.write { txn in
                                try txn.put(value, forKey: key)
                                return txn.snapshotID + 1
                            }
                        } else {
                            var txn = try env.beginWrite()
                            try txn.put(value, forKey: key)
                            committed = try txn.commit().transactionID
                        }
                        let op = disk.operationCount - 1
                        acks.withLock { $0.append(Ack(txn: committed, key: k, operation: op)) }
                    } catch {
                        Issue.record("commit failed: \(error)")
                    }
                }
            }.start()
        }
        #expect(done.wait(timeout: .now() + 120) == .success)
        env.close()
        let log = disk.log
        let all = acks.withLock { $0 }
        #expect(all.count == threads * perThread)
        let syncs = log.filter { if case .sync = $0 { return true } else { return false } }.count
        #expect(syncs < all.count, "commits were not grouped: \(syncs) syncs for \(all.count) commits")
        let keyOfTxn = Dictionary(uniqueKeysWithValues: all.map { ($0.txn, $0.key) })

        var builder = CrashImageBuilder(log: log, base: base, pageSize: pageSize)
        var images = 0, corrupt = 0, lost = 0, failures: [String] = []
        for k in 0..<log.count {
            let acked = all.filter { $0.operation <= k }.map(\.txn).max() ?? 1
            var policies: [CrashPolicy] = [.allLost]
            if !builder.pending(after: k).pending.isEmpty {
                policies += [.allKept, .lastTorn(seed: 3), .metaWithoutSomeData(seed: 5), .randomSubset(seed: 7), .reordered(seed: 11)]
                for m in 0..<builder.pendingMetaWrites(after: k) { policies.append(.metaTorn(index: m, seed: 13)) }
            }
            for policy in policies {
                images += 1
                let image = builder.image(crashAfter: k, policy: policy)
                do {
                    let e = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: image, recording: false), options: options)
                    defer { e.close() }
                    let report = try e.check()
                    let txn = report.transactionID
                    let expected = txn < 2 ? Set<Int>() : Set((2...txn).compactMap { keyOfTxn[$0] })
                    let found = try e.read { t in
                        Set(try t.entries().collect().map { Int(String(decoding: $0.0.dropFirst(4), as: UTF8.self))! })
                    }
                    if !report.isClean || found != expected {
                        corrupt += 1
                        if failures.count < 5 { failures.append("op \(k) \(policy): txn \(txn), clean \(report.isClean), \(found.count) keys, expected \(expected.count)") }
                    } else if txn < acked {
                        lost += 1
                        if failures.count < 5 { failures.append("op \(k) \(policy): opened at \(txn), \(acked) acknowledged") }
                    }
                } catch {
                    corrupt += 1
                    if failures.count < 5 { failures.append("op \(k) \(policy): \(error)") }
                }
            }
        }
        let rewritten = env.pagesRewrittenInPlace.load(ordering: .relaxed)
        #expect(rewritten > 0, "no closure-scoped commit rewrote a waiting commit's page in place")
        print("group-commit crash lab: \(all.count) commits from \(threads) threads, \(syncs) syncs, \(rewritten) pages rewritten in place, \(log.count) operations, \(images) crash images, \(corrupt) corrupt, \(lost) lost")
        #expect(corrupt == 0 && lost == 0, Comment(rawValue: failures.joined(separator: " | ")))
        #expect(images >= 1_000)
    }
}
