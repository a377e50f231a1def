import Foundation
import Testing
@testable import Larch

/// Damaged sorted-duplicates databases: bytes flipped in their leaves (inline lists, duplicate-tree
/// references) and in their duplicate trees' pages are reported — by the checker, or as typed
/// errors of the reads, the copy and the send — never a crash and never a silent wrong answer
/// from the checker.
///
/// Reproduce a failure with the seed printed: `LARCH_SEED=<seed> swift test --filter DuplicateCorruptionTests`.
@Suite struct DuplicateCorruptionTests {
    static let defaultSeed: UInt64 = 0x4455_5043_4F52_5255

    @Test func flippedBytesAreReportedNotTrusted() throws {
        let seed = TestEnvironment.seed(default: Self.defaultSeed)
        var rng = SeededGenerator(seed: seed)
        try withTemporaryDirectory { dir in
            let pristine = dir.file("pristine.larch")
            let pages: Int = try {
                let env = try Environment(path: pristine)
                try env.write { txn in
                    let db = try txn.openDatabase("dups", create: true, duplicates: .sorted)
                    try DuplicateSubsystemTests.fill(&txn, db, heavy: 2, values: 1500)
                }
                // A small last commit: open checks only its pages (FORMAT.md §13), so damage to the
                // fill's pages is not rolled back but must be found.
                try env.write { txn in try txn.put("x", forKey: "last") }
                defer { env.close() }
                return Int(try env.stats().pageCount)   // the file is longer: its tail is unused
            }()
            let original = try Data(contentsOf: URL(fileURLWithPath: pristine))
            var detected = 0
            for round in 0..<40 {
                var damaged = original
                // A few bytes of one page past the metas, inside its used area more often than not.
                let page = 2 + Int(rng.next() % UInt64(pages - 2))
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let offset = page * 4096 + Int(rng.next() % 4096)
                    damaged[offset] ^= UInt8(1 + rng.next() % 255)
                }
                let path = dir.file("damaged-\(round).larch")
                try damaged.write(to: URL(fileURLWithPath: path))
                let context = "seed \(seed), round \(round), page \(page)"
                guard let env = try? Environment(path: path, options: Options(verifyChecksums: rng.chance(0.5))) else {
                    detected += 1
                    continue
                }
                let report = try env.check()
                if !report.isClean { detected += 1 }
                // Reads either answer or throw a typed error; they never crash.
                _ = try? env.read { txn in
                    let db = try txn.openDatabase("dups", duplicates: .sorted)
                    try txn.forEachDuplicate(in: db) { _, _ in true }
                    let c = try txn.duplicateCursor(db)
                    var more = try c.last()
                    var steps = 0
                    while more && steps < 10_000 { more = try c.previous(); steps += 1 }
                    _ = try txn.values(forKey: bytes("heavy1"), in: db)
                }
                _ = try? env.copy(to: dir.file("copy-\(round).larch"), compact: true)
                #expect(report.isClean || !report.problems.isEmpty, "\(context)")
                env.close()
            }
            print("DuplicateCorruptionTests seed=\(seed): damage detected in \(detected) of 40 rounds")
            // A flipped byte in a page of the file is either in a free page or detected by its checksum.
            #expect(detected > 0, "seed \(seed): no damage was detected in 40 rounds")
        }
    }
}
