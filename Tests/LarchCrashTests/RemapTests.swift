import Foundation
import Synchronization
import Testing
@testable import Larch
import LarchCrashLab

// Issue 10, hazard 1: a commit that outgrows the memory map maps the larger file before its meta is
// written, so a failed map fails the commit and publishes nothing. Before the fix the map was made
// after the commit point and a failure was ignored (`try?`): the new snapshot was published with the
// old, smaller map, and a new reader could read past its end.

/// A value that names its key and round in every byte, so a reader can check it alone.
private func selfDescribingValue(key: String, round: Int) -> [UInt8] {
    let seed = UInt8(truncatingIfNeeded: key.utf8.reduce(UInt32(round & 255)) { $0 &* 31 &+ UInt32($1) })
    return [UInt8(truncatingIfNeeded: round)] + [UInt8](repeating: seed, count: 299)
}

private func isSelfConsistent(key: [UInt8], value: [UInt8]) -> Bool {
    guard value.count == 300, let round = value.first else { return false }
    let expected = selfDescribingValue(key: String(decoding: key, as: UTF8.self), round: Int(round))
    return expected == value
}

private final class Stop: Sendable {
    let flag = Atomic<Bool>(false)
    let reads = Atomic<Int>(0)
    let failures = Mutex<[String]>([])
}

@Suite struct RemapTests {
    @Test func aFailedRemapFailsTheCommitAndPublishesNothing() throws {
        let disk = SimulatedDisk(capacity: 64 << 20, recording: false)
        let device = FaultInjectingDevice(disk)
        var options = Options(durability: .noSync)
        options.minimumReservation = 8 * 4096   // remap every time the file doubles
        let env = try Environment(storage: device, options: options)
        for n in stride(from: 2, through: 60, by: 2) { device.fail(.map, at: n) }   // every other remap fails

        // Reader threads begin transactions all along and check every entry they see.
        let stop = Stop()
        let group = DispatchGroup()
        for _ in 0..<2 {
            group.enter()
            Thread {
                defer { group.leave() }
                while !stop.flag.load(ordering: .relaxed) {
                    do {
                        try env.read { txn in
                            try txn.forEach { k, v in
                                let key = k.withUnsafeBytes { Array($0) }
                                let value = v.withUnsafeBytes { Array($0) }
                                if !isSelfConsistent(key: key, value: value) {
                                    stop.failures.withLock { $0.append("reader saw a wrong value under \(String(decoding: key, as: UTF8.self))") }
                                }
                                return true
                            }
                        }
                        stop.reads.add(1, ordering: .relaxed)
                    } catch {
                        stop.failures.withLock { $0.append("reader: \(error)") }
                        return
                    }
                }
            }.start()
        }

        var model: [String: [UInt8]] = [:]
        var failedCommits = 0
        for round in 0..<80 {
            var next = model
            do {
                try env.write { txn in
                    for i in 0..<12 {
                        let key = "key-\(round)-\(i)"
                        let value = selfDescribingValue(key: key, round: round)
                        try txn.put(value, forKey: Array(key.utf8))
                        next[key] = value
                    }
                }
                model = next
            } catch let error as LarchError {
                failedCommits += 1
                #expect(device.failures.last?.hasPrefix("map") == true, "round \(round): only injected map failures may fail a commit: \(error)")
            }
            let seen = try env.read { txn in
                var seen: [String: [UInt8]] = [:]
                try txn.forEach { k, v in
                    seen[String(decoding: k.withUnsafeBytes { Array($0) }, as: UTF8.self)] = v.withUnsafeBytes { Array($0) }
                    return true
                }
                return seen
            }
            #expect(seen == model, "round \(round): a new reader must see exactly the acknowledged commits")
        }
        stop.flag.store(true, ordering: .relaxed)
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(stop.failures.withLock { $0 }.isEmpty, "\(stop.failures.withLock { $0 })")
        print("remaps: \(device.count(.map)) maps, \(failedCommits) commits failed by an injected map failure, \(stop.reads.load(ordering: .relaxed)) reader passes")
        #expect(failedCommits >= 3, "the injected map failures must have hit commits that outgrew the map")
        #expect(device.count(.map) >= 6, "the file must have outgrown the map several times")
        let report = try env.check()
        #expect(report.isClean, "\(report)")
        env.close()

        // What the disk holds is the last acknowledged commit.
        let reopened = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: disk.contents, recording: false), options: options)
        #expect(try reopened.check().isClean)
        let count = try reopened.read { txn in try txn.stats().entries }
        #expect(count == UInt64(model.count))
    }
}
