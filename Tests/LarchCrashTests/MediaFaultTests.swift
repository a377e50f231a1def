import Foundation
import Testing
@testable import Larch
import LarchCrashLab

/// Media faults: bit flips and zeroed 512-byte sectors in random pages of a closed database.
/// Every fault that touches a reachable page is detected by the checker and by verified reads,
/// with the page number; a flip in a meta page falls back to the other meta; nothing crashes,
/// hangs, or returns wrong data as if it were right.
@Suite struct MediaFaultTests {
    /// A database built by the workload, its image, its final transaction and expected contents.
    static func build() throws -> (image: [UInt8], txn: UInt64, models: [Model]) {
        let options = Options(durability: .noSync)
        let disk = SimulatedDisk(capacity: 64 << 20, recording: false)
        let workload = Workload(seed: 99, transactionCount: 60)
        let env = try Environment(storage: disk, options: options)
        for t in workload.transactions {
            var txn = try env.beginWrite()
            try Workload.apply(t, to: &txn)
            if t.commits { try txn.commit() } else { txn.abort() }
        }
        let txn = try env.check().transactionID
        env.close()
        return (disk.contents, txn, workload.models)
    }

    enum Fault: CaseIterable { case bitFlip, zeroSector }

    @Test func faultsAreDetectedNeverReturnedAsData() throws {
        let (image, lastTxn, models) = try Self.build()
        let pageSize = 4096
        let pages = image.count / pageSize
        var g = SplitMix(seed: 2024)
        var detected = 0, harmless = 0, metaFallbacks = 0
        let trials = 300 * crashScale
        for trial in 0..<trials {
            var damaged = image
            let page = Int(g.next() % UInt64(pages))
            let fault = Fault.allCases[Int(g.next() % 2)]
            switch fault {
            case .bitFlip:
                let byte = page * pageSize + Int(g.next() % UInt64(pageSize))
                damaged[byte] ^= UInt8(1) << UInt8(g.next() % 8)
            case .zeroSector:
                let sector = page * pageSize + Int(g.next() % UInt64(pageSize / 512)) * 512
                for i in sector..<(sector + 512) { damaged[i] = 0 }
            }
            if damaged == image { continue }   // zeroing an already-zero sector
            let context = "trial \(trial): \(fault) in page \(page)"
            let disk = SimulatedDisk(capacity: 64 << 20, image: damaged, recording: false)
            let env: Environment
            do {
                env = try Environment(storage: disk, options: Options(verifyChecksums: true))
            } catch {
                // Only damage to both metas could stop the open, and a single fault hits one page.
                Issue.record("\(context): open failed: \(error)")
                continue
            }
            defer { env.close() }
            let report = try env.check()
            let txn = report.transactionID
            if page < 2 {
                // A damaged meta is skipped: the file opens at this commit or the one before, intact.
                #expect(report.isClean, "\(context): \(report)")
                #expect(txn == lastTxn || txn == lastTxn - 1, "\(context): opened at \(txn)")
                #expect(try Model.read(env) == models[Int(txn) - 1], "\(context): contents after meta fallback")
                if txn != lastTxn { metaFallbacks += 1 }
                continue
            }
            if !report.isClean {
                detected += 1
                // Problems name pages; a checksum problem names the damaged page (or the run it starts).
                #expect(report.problems.allSatisfy { $0.page != nil || $0.message.contains("leaked") || $0.message.contains("descriptor") },
                        "\(context): \(report)")
            } else {
                harmless += 1   // a free page or an unused byte range: nothing reachable changed
            }
            // Verified reads: every entry is either exactly right or an error, never silently wrong.
            let expected = models[Int(txn) - 1]
            do {
                let found = try Model.read(env)
                #expect(found == expected, "\(context): reads returned wrong data with verification on")
            } catch let e as LarchError {
                switch e {
                case .checksumMismatch(let p, _, _), .corruptPage(let p, _):
                    #expect(!report.isClean, "\(context): a read failed (\(e)) but the checker saw nothing")
                    #expect(p >= 2 && p < UInt64(pages), "\(context): error names page \(p)")
                default:
                    Issue.record("\(context): unexpected error \(e)")
                }
            }
        }
        print("media faults: \(trials) trials, \(detected) detected, \(harmless) in free or unused bytes, \(metaFallbacks) meta fallbacks")
        #expect(detected > trials / 4, "most faults hit reachable pages and must be detected")
    }

    /// A flip anywhere in the current meta's checksummed bytes makes the open use the other meta:
    /// the previous commit, intact.
    @Test func currentMetaFlipsFallBackToThePreviousCommit() throws {
        let (image, lastTxn, models) = try Self.build()
        let slot = Int(lastTxn % 2)
        for offset in stride(from: 0, to: MetaPage.checksumOffset + 4, by: 7) {
            var damaged = image
            damaged[slot * 4096 + offset] ^= 0x04
            let env = try Environment(storage: SimulatedDisk(capacity: 64 << 20, image: damaged, recording: false),
                                      options: Options(verifyChecksums: true))
            defer { env.close() }
            let report = try env.check()
            #expect(report.isClean && report.transactionID == lastTxn - 1, "flip at meta offset \(offset): \(report)")
            #expect(try Model.read(env) == models[Int(lastTxn) - 2], "flip at meta offset \(offset)")
        }
    }
}

