import Foundation
import Testing
@testable import Larch
import LarchCrashLab

// Issue 10, fault injection by count: every write, sync, resize and map of a workload is made to
// fail in turn, one per run. Each failure must be reported as an I/O error; a commit that failed
// before its meta was written changes nothing and the transaction can be run again; one that failed
// while writing its meta leaves the environment refusing use until it is reopened, and then it
// holds either that commit or the one before. At the end, the file (as the page cache holds it)
// passes the checker and holds every acknowledged commit.
@Suite struct FaultSweepTests {
    static let modes: [Durability] = [.full, .noMetaSync, .noSync]

    private struct Outcome {
        var counts: [FaultInjectingDevice.Operation: Int] = [:]
        var errors = 0
        var reopens = 0
    }

    @Test(arguments: modes)
    func everyFailedOperationIsReportedAndRecovered(durability: Durability) throws {
        let workload = Workload(seed: 21, transactionCount: 30)
        var options = Options(pageSize: 4096, maxSize: 64 << 20, durability: durability)
        options.minimumReservation = 16 * 4096   // commits outgrow the map, so maps can fail too
        options.strictChecks = .full
        let setup = SimulatedDisk(capacity: 64 << 20, recording: false)
        try Environment(storage: setup, options: options).close()
        let base = setup.contents

        let clean = try run(workload, base: base, options: options, fault: nil)
        var cases = 0
        var errors = 0
        var reopens = 0
        for kind in FaultInjectingDevice.Operation.allCases {
            for n in stride(from: 1, through: clean.counts[kind, default: 0], by: 1) {
                let o = try run(workload, base: base, options: options, fault: (kind, n))
                cases += 1
                errors += o.errors
                reopens += o.reopens
            }
        }
        print("fault sweep (\(durability)): clean run \(clean.counts.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")); " +
              "\(cases) runs with one failed operation each, \(errors) errors reported, \(reopens) reopens")
        #expect(clean.errors == 0)
        #expect(cases >= 30, "the workload must make enough operations to sweep")
        #expect(errors >= cases, "every injected failure must be reported")
    }

    private func run(_ workload: Workload, base: [UInt8], options: Options,
                     fault: (FaultInjectingDevice.Operation, Int)?) throws -> Outcome {
        let label = fault.map { "\($0.0.rawValue) #\($0.1) failing" } ?? "clean run"
        let disk = SimulatedDisk(capacity: 64 << 20, image: base, recording: false)
        let device = FaultInjectingDevice(disk)
        if let (kind, n) = fault { device.fail(kind, at: n) }
        var outcome = Outcome()

        func open() throws -> Environment {
            // Opening syncs and maps: an injected failure there is reported, and opening again works.
            for _ in 0..<3 {
                do { return try Environment(storage: device, options: options) } catch {
                    guard case .io = error else { throw error }
                    outcome.errors += 1
                }
            }
            throw LarchError.invalidOption("\(label): the environment does not open")
        }
        func refuses(_ env: Environment) -> Bool {
            do {
                try env.beginWrite().abort()
                return false
            } catch {
                if case .environmentFailed = error { return true }
                return false
            }
        }

        var env = try open()
        var acknowledged = 0   // index into workload.models
        var i = 0
        while i < workload.transactions.count {
            let t = workload.transactions[i]
            do {
                var txn = try env.beginWrite()
                try Workload.apply(t, to: &txn)   // a throw drops (aborts) the transaction
                if t.commits { try txn.commit(); acknowledged += 1 } else { txn.abort() }
                i += 1
            } catch let error as LarchError {
                outcome.errors += 1
                guard case .io = error else {
                    Issue.record("\(label), transaction \(i): only the injected I/O error may appear, got \(error)")
                    return outcome
                }
                if refuses(env) {
                    // The meta may or may not have been written: reopen and see which commit is there.
                    env.close()
                    env = try open()
                    outcome.reopens += 1
                    let found = try Model.read(env)
                    if t.commits, acknowledged + 1 < workload.models.count, found == workload.models[acknowledged + 1] {
                        acknowledged += 1
                        i += 1
                    } else {
                        #expect(found == workload.models[acknowledged], "\(label), transaction \(i): after reopening, neither that commit nor the one before")
                    }
                } else {
                    #expect(try Model.read(env) == workload.models[acknowledged], "\(label), transaction \(i): a failed commit must change nothing")
                }
                let report = try env.check()
                #expect(report.isClean, "\(label), transaction \(i): \(report)")
            }
        }
        for kind in FaultInjectingDevice.Operation.allCases { outcome.counts[kind] = device.count(kind) }
        env.close()

        // As a process crash leaves it: the page cache's contents.
        let reopened = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: disk.contents, recording: false), options: options)
        let report = try reopened.check()
        #expect(report.isClean, "\(label): \(report)")
        #expect(try Model.read(reopened) == workload.models[acknowledged], "\(label): the file must hold every acknowledged commit")
        return outcome
    }
}
