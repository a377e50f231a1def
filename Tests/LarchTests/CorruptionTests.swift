#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing
@testable import Larch

// Damage to closed database files, made with POSIX pread/pwrite, and how Larch reports it:
// the checker names the page, verified reads throw `checksumMismatch`, opening picks the valid
// meta or throws a precise error, and nothing crashes.

/// Raw access to a (closed) database file with POSIX calls.
enum RawFileIO {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func withDescriptor<R>(_ path: String, writable: Bool, _ body: (Int32) throws -> R) throws -> R {
        let fd = open(path, writable ? O_RDWR : O_RDONLY)
        guard fd >= 0 else { throw Failure(description: "open \(path): errno \(errno)") }
        defer { close(fd) }
        return try body(fd)
    }

    static func size(_ path: String) throws -> Int {
        try withDescriptor(path, writable: false) { fd in
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw Failure(description: "fstat: errno \(errno)") }
            return Int(st.st_size)
        }
    }

    static func read(_ path: String, at offset: Int, count: Int) throws -> [UInt8] {
        try withDescriptor(path, writable: false) { fd in
            var out = [UInt8](repeating: 0, count: count)
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
            guard n == count else { throw Failure(description: "pread of \(count) bytes at \(offset) returned \(n)") }
            return out
        }
    }

    static func contents(_ path: String) throws -> [UInt8] { try read(path, at: 0, count: size(path)) }

    static func write(_ path: String, _ bytes: [UInt8], at offset: Int) throws {
        try withDescriptor(path, writable: true) { fd in
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, off_t(offset)) }
            guard n == bytes.count else { throw Failure(description: "pwrite of \(bytes.count) bytes at \(offset) returned \(n)") }
        }
    }

    /// Replaces the whole file with `bytes`.
    static func create(_ path: String, _ bytes: [UInt8]) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else { throw Failure(description: "create \(path): errno \(errno)") }
        defer { close(fd) }
        let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress, bytes.count, 0) }
        guard n == bytes.count else { throw Failure(description: "pwrite returned \(n)") }
    }

    /// XORs the byte at `offset` with `mask`.
    static func flip(_ path: String, at offset: Int, mask: UInt8 = 0x5A) throws {
        var b = try read(path, at: offset, count: 1)
        b[0] ^= mask
        try write(path, b, at: offset)
    }

    static func truncate(_ path: String, to size: Int) throws {
        try withDescriptor(path, writable: true) { fd in
            guard ftruncate(fd, off_t(size)) == 0 else { throw Failure(description: "ftruncate: errno \(errno)") }
        }
    }

    /// The transaction id stored in meta slot `slot` (0 or 1) of a file with `pageSize` pages.
    static func metaTransaction(_ path: String, slot: Int, pageSize: Int = 4096) throws -> UInt64 {
        let b = try read(path, at: slot * pageSize + 16, count: 8)
        return b.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    }
}

/// The first offset of `needle` in `haystack`.
private func corruptionOffset(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
    guard needle.count <= haystack.count, let first = needle.first else { return nil }
    var i = 0
    while i + needle.count <= haystack.count {
        if haystack[i] == first && Array(haystack[i..<(i + needle.count)]) == needle { return i }
        i += 1
    }
    return nil
}

/// All entries of the main database as a dictionary.
private func corruptionContents(_ env: Environment) throws -> [[UInt8]: [UInt8]] {
    try env.read { txn in
        var out: [[UInt8]: [UInt8]] = [:]
        for (k, v) in try txn.entries().collect() { out[k] = v }
        return out
    }
}

/// The leaf page of the main tree that holds (or would hold) `key`, with the checksum its parent
/// (or the meta) recorded for it.
private func corruptionLeaf(_ key: [UInt8], in txn: borrowing Transaction<some TransactionMode>) throws -> (page: UInt64, checksum: UInt32, depth: Int) {
    let core = txn.core
    let root = core.meta.main
    var page = root.root
    var checksum = root.rootChecksum
    for _ in 0..<max(0, root.depth - 1) {
        let v = try core.node(page, checksum: checksum, kind: .branch)
        (page, checksum) = try key.withUnsafeBytes { k in try v.child(v.branchSearch(k)) }
    }
    return (page.rawValue, checksum, root.depth)
}

/// The overflow run holding the value of `key` in the main tree: first page, run checksum, length.
private func corruptionOverflowRun(of key: [UInt8], in txn: borrowing Transaction<some TransactionMode>) throws -> (first: UInt64, checksum: UInt32, length: Int)? {
    let entry = try key.withUnsafeBytes { k in try txn.core.lookup(tree: TreeIndex.main, key: k) }
    guard let entry, case let .overflow(first, checksum, length, _) = entry.value else { return nil }
    return (first.rawValue, checksum, length)
}

private func corruptionKey(_ i: Int) -> [UInt8] { Array("key-\(String(format: "%05d", i))".utf8) }
private func corruptionValue(_ i: Int) -> [UInt8] { Array("VALUE<\(String(format: "%05d", i))>-payload-payload".utf8) }

/// Runs `body` and returns the LarchError it throws (nil when it returns).
private func corruptionError(_ body: () throws -> Void) -> LarchError? {
    do {
        try body()
        return nil
    } catch let e as LarchError {
        return e
    } catch {
        Issue.record("expected a LarchError, got \(error)")
        return nil
    }
}

@Suite struct CorruptionTests {
    // MARK: Meta pages

    /// A flipped byte in the current meta: the file opens on the other meta, whose snapshot is the
    /// previous commit, exactly; the next commits work and pass the checker.
    @Test(arguments: [20, 40, 100, 150, 176])
    func damagedCurrentMetaFallsBackToThePreviousCommit(offset: Int) throws {
        let dir = try TemporaryDirectory("corrupt-meta")
        let path = dir.file()
        var previous: [[UInt8]: [UInt8]] = [:]
        var lastTxn: UInt64 = 0
        do {
            let env = try Environment(path: path)
            try env.write { txn in for i in 0..<300 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
            try env.write { txn in
                for i in 0..<300 where i % 3 == 0 { try txn.delete(corruptionKey(i)) }
                try txn.put("second", forKey: "marker")
            }
            previous = try corruptionContents(env)
            try env.write { txn in
                for i in 300..<400 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) }
                try txn.put("third", forKey: "marker")
                try txn.delete(corruptionKey(1))
            }
            lastTxn = try env.stats().transactionID
            #expect(try corruptionContents(env) != previous)
        }
        let slot = Int(lastTxn % 2)
        #expect(try RawFileIO.metaTransaction(path, slot: slot) == lastTxn)
        #expect(try RawFileIO.metaTransaction(path, slot: 1 - slot) == lastTxn - 1)
        try RawFileIO.flip(path, at: slot * 4096 + offset)

        let env = try Environment(path: path)
        #expect(try env.stats().transactionID == lastTxn - 1)
        #expect(try corruptionContents(env) == previous)
        try assertClean(env)
        // The damaged slot is rewritten by the next commit.
        try env.write { txn in try txn.put("after", forKey: "marker") }
        #expect(try env.stats().transactionID == lastTxn)
        #expect(try RawFileIO.metaTransaction(path, slot: slot) == lastTxn)
        try assertClean(env)
        var expected = previous
        expected[Array("marker".utf8)] = Array("after".utf8)
        #expect(try corruptionContents(env) == expected)
    }

    /// Both metas damaged: opening throws `bothMetaPagesInvalid`, naming both pages and their reasons.
    @Test func bothMetasDamagedIsReported() throws {
        let dir = try TemporaryDirectory("corrupt-both-metas")
        let path = dir.file()
        do {
            let env = try Environment(path: path)
            try env.write { txn in try txn.put("v", forKey: "k") }
        }
        let before = try RawFileIO.contents(path)
        try RawFileIO.flip(path, at: 0 * 4096 + 100)
        try RawFileIO.flip(path, at: 1 * 4096 + 60)
        let error = corruptionError { _ = try Environment(path: path) }
        guard case let .bothMetaPagesInvalid(p, page0, page1)? = error else {
            Issue.record("expected bothMetaPagesInvalid, got \(String(describing: error))")
            return
        }
        #expect(p == path)
        #expect(page0.contains("checksum"), "\(page0)")
        #expect(page1.contains("checksum"), "\(page1)")
        let text = error!.description
        #expect(text.contains("page 0") && text.contains("page 1"), "\(text)")
        #expect(text.contains(path))
        // Opening changed nothing.
        var damaged = before
        damaged[100] ^= 0x5A
        damaged[4096 + 60] ^= 0x5A
        #expect(try RawFileIO.contents(path) == damaged)
    }

    // MARK: Tree pages

    /// A flipped byte inside a leaf (the root leaf for a small tree, a lower leaf for a deeper one):
    /// the checker reports that page with the expected and found checksums; a verified read of a
    /// key in it throws `checksumMismatch(page:)`; unverified reads return the damaged bytes
    /// without crashing; keys in other leaves still read fine.
    @Test(arguments: [12, 3000])
    func flippedByteInALeaf(keyCount: Int) throws {
        let dir = try TemporaryDirectory("corrupt-leaf")
        let path = dir.file()
        let target = keyCount / 2
        var leaf: (page: UInt64, checksum: UInt32, depth: Int) = (0, 0, 0)
        var otherKey: [UInt8]?
        do {
            let env = try Environment(path: path)
            try env.write { txn in for i in 0..<keyCount { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
            try env.read { txn in
                leaf = try corruptionLeaf(corruptionKey(target), in: txn)
                // A key that lives in another leaf, if there is one.
                for i in [0, keyCount - 1] where try corruptionLeaf(corruptionKey(i), in: txn).page != leaf.page {
                    otherKey = corruptionKey(i)
                }
            }
        }
        #expect(leaf.depth == (keyCount > 100 ? 2 : 1), "test assumes this tree shape")
        if keyCount > 100 { #expect(otherKey != nil) }
        let pageBytes = try RawFileIO.read(path, at: Int(leaf.page) * 4096, count: 4096)
        #expect(pageBytes[0] == PageKind.leaf.rawValue)
        #expect(pageBytes.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 8, as: UInt64.self) } == leaf.page)
        let valueAt = try #require(corruptionOffset(corruptionValue(target), in: pageBytes))
        let damagedIndex = 8   // inside the digits of the value
        try RawFileIO.flip(path, at: Int(leaf.page) * 4096 + valueAt + damagedIndex, mask: 0x01)
        var damagedPage = pageBytes
        damagedPage[valueAt + damagedIndex] ^= 0x01
        let found = damagedPage.withUnsafeBytes { CRC32C.checksum($0) }
        #expect(found != leaf.checksum)

        do {
            let env = try Environment(path: path)
            let report = try env.check()
            print(report)
            #expect(!report.isClean)
            let problem = report.problems.first { $0.page == leaf.page }
            #expect(problem != nil, "no problem reported for page \(leaf.page): \(report)")
            if let problem {
                #expect(problem.message.contains("checksum mismatch"), "\(problem)")
                #expect(problem.message.contains("expected \(hex32(leaf.checksum))"), "\(problem)")
                #expect(problem.message.contains("found \(hex32(found))"), "\(problem)")
            }
            // Unverified reads see the damaged byte (the structure is intact), and do not crash.
            var expectedDamaged = corruptionValue(target)
            expectedDamaged[damagedIndex] ^= 0x01
            #expect(try env.read { try $0.get(corruptionKey(target)) } == expectedDamaged)
        }
        let env = try Environment(path: path, options: Options(verifyChecksums: true))
        let error = corruptionError { _ = try env.read { try $0.get(corruptionKey(target)) } }
        #expect(error == .checksumMismatch(page: leaf.page, expected: leaf.checksum, found: found))
        if let error {
            #expect(error.description.contains("page \(leaf.page)"), "\(error)")
            #expect(error.description.contains(hex32(leaf.checksum)) && error.description.contains(hex32(found)), "\(error)")
        }
        if let otherKey {
            #expect(try env.read { try $0.get(otherKey) } != nil)
        }
        // A full scan stops at the damaged page: `forEach` and `entries` both throw.
        #expect(throws: LarchError.checksumMismatch(page: leaf.page, expected: leaf.checksum, found: found)) {
            try env.read { txn in try txn.forEach { _, _ in true } }
        }
        try env.read { txn in
            var entries = try txn.entries()
            var n = 0
            do throws(LarchError) {
                while try entries.next() != nil { n += 1 }
                Issue.record("entries must throw at the damaged page")
            } catch {
                #expect(error == .checksumMismatch(page: leaf.page, expected: leaf.checksum, found: found))
            }
            #expect(n < keyCount)
            #expect(try entries.next() == nil, "after the error, the iteration is over")
        }
        // A write through the damaged leaf is refused, and nothing is committed.
        let txnBefore = try env.stats().transactionID
        #expect(throws: LarchError.checksumMismatch(page: leaf.page, expected: leaf.checksum, found: found)) {
            try env.write { txn in try txn.put(Array("x".utf8), forKey: corruptionKey(target)) }
        }
        #expect(try env.stats().transactionID == txnBefore)
    }

    /// A flipped byte in the root branch page of a two-level tree: the checker reports the root
    /// with the checksum the meta recorded; with verification every read fails with
    /// `checksumMismatch` for the root, and a write is refused.
    @Test func flippedByteInABranch() throws {
        let dir = try TemporaryDirectory("corrupt-branch")
        let path = dir.file()
        var root: (page: UInt64, checksum: UInt32) = (0, 0)
        do {
            let env = try Environment(path: path)
            try env.write { txn in for i in 0..<3000 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
            try env.read { txn in
                let main = txn.core.meta.main
                #expect(main.depth == 2)
                root = (main.root.rawValue, main.rootChecksum)
            }
        }
        // The last byte of the page: the end of the last cell's separator key.
        try RawFileIO.flip(path, at: Int(root.page) * 4096 + 4095, mask: 0x01)
        let damaged = try RawFileIO.read(path, at: Int(root.page) * 4096, count: 4096)
        let found = damaged.withUnsafeBytes { CRC32C.checksum($0) }

        do {
            let env = try Environment(path: path)
            let report = try env.check()
            let problem = report.problems.first { $0.page == root.page }
            #expect(problem?.message.contains("checksum mismatch: expected \(hex32(root.checksum)) found \(hex32(found))") == true, "\(report)")
            // Nothing below the root was checked, so its pages are reported as unaccounted for, not silently passed.
            #expect(report.problems.count >= 2, "\(report)")
        }
        let env = try Environment(path: path, options: Options(verifyChecksums: true))
        let expected = LarchError.checksumMismatch(page: root.page, expected: root.checksum, found: found)
        for i in [0, 1500, 2999] {
            #expect(throws: expected) { try env.read { try $0.get(corruptionKey(i)) } }
        }
        #expect(throws: expected) { try env.read { txn in try txn.cursor().last() } }
        #expect(throws: expected) { try env.write { txn in try txn.put(Array("x".utf8), forKey: corruptionKey(5)) } }
        #expect(try env.stats().transactionID == 2)
    }

    /// A flipped byte in the middle of an overflow run: the checker reports the run's first page,
    /// verified reads throw `checksumMismatch` for it, unverified reads return the damaged bytes.
    @Test func flippedByteInAnOverflowRun() throws {
        let dir = try TemporaryDirectory("corrupt-overflow")
        let path = dir.file()
        var g = SeededGenerator(seed: 0xBAD0_0F10)
        let big = g.bytes(20_000)
        let other = g.bytes(9_000)
        var run: (first: UInt64, checksum: UInt32, length: Int)?
        do {
            let env = try Environment(path: path)
            try env.write { txn in
                for i in 0..<50 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) }
                try txn.put(big, forKey: Array("big".utf8))
                try txn.put(other, forKey: Array("other".utf8))
            }
            run = try env.read { try corruptionOverflowRun(of: Array("big".utf8), in: $0) }
        }
        let r = try #require(run)
        #expect(r.length == big.count)
        let pages = OverflowLayout.pageCount(valueLength: big.count, pageSize: 4096)
        #expect(pages == 5)
        // Damage page 3 of the run, well inside the value.
        let fileOffset = (Int(r.first) + 2) * 4096 + 100
        let valueIndex = fileOffset - Int(r.first) * 4096 - OverflowLayout.headerSize
        try RawFileIO.flip(path, at: fileOffset, mask: 0x80)
        let runBytes = try RawFileIO.read(path, at: Int(r.first) * 4096, count: pages * 4096)
        let found = runBytes.withUnsafeBytes { CRC32C.checksum($0) }
        #expect(found != r.checksum)

        do {
            let env = try Environment(path: path)
            let report = try env.check()
            print(report)
            let problem = report.problems.first { $0.page == r.first }
            #expect(problem != nil, "\(report)")
            if let problem {
                #expect(problem.message.contains("overflow run checksum mismatch"), "\(problem)")
                #expect(problem.message.contains("expected \(hex32(r.checksum)) found \(hex32(found))"), "\(problem)")
            }
            var damaged = big
            damaged[valueIndex] ^= 0x80
            #expect(try env.read { try $0.get(Array("big".utf8)) } == damaged)
        }
        let env = try Environment(path: path, options: Options(verifyChecksums: true))
        #expect(throws: LarchError.checksumMismatch(page: r.first, expected: r.checksum, found: found)) {
            try env.read { try $0.get(Array("big".utf8)) }
        }
        #expect(throws: LarchError.checksumMismatch(page: r.first, expected: r.checksum, found: found)) {
            try env.read { txn in try txn.withValue(forKey: Array("big".utf8)) { $0.byteCount } }
        }
        #expect(try env.read { try $0.get(Array("other".utf8)) } == other)
        #expect(try env.read { try $0.get(corruptionKey(7)) } == corruptionValue(7))
    }

    /// Damage to the header of an overflow run (its kind byte) is caught even without checksum
    /// verification: the read throws `corruptPage`, it does not return garbage or crash.
    @Test func damagedOverflowHeaderIsCorruptPage() throws {
        let dir = try TemporaryDirectory("corrupt-overflow-header")
        let path = dir.file()
        var run: (first: UInt64, checksum: UInt32, length: Int)?
        do {
            let env = try Environment(path: path)
            try env.write { txn in try txn.put([UInt8](repeating: 7, count: 10_000), forKey: Array("big".utf8)) }
            run = try env.read { try corruptionOverflowRun(of: Array("big".utf8), in: $0) }
        }
        let r = try #require(run)
        try RawFileIO.write(path, [PageKind.leaf.rawValue], at: Int(r.first) * 4096)
        let env = try Environment(path: path)
        let error = corruptionError { _ = try env.read { try $0.get(Array("big".utf8)) } }
        guard case .corruptPage(let page, _)? = error else {
            Issue.record("expected corruptPage, got \(String(describing: error))")
            return
        }
        #expect(page == r.first)
        #expect(!(try env.check().isClean))
    }

    /// Random garbage written into the cells of leaf pages (headers kept valid, so it is read
    /// without checksum verification): reads, scans and the checker report errors or return
    /// data, but never crash; with verification on, every read of a damaged leaf fails cleanly.
    @Test func garbageInLeafCellsNeverCrashes() throws {
        let dir = try TemporaryDirectory("corrupt-garbage")
        let path = dir.file()
        let keyCount = 2000
        var leaves: [UInt64] = []
        do {
            let env = try Environment(path: path)
            try env.write { txn in
                for i in 0..<keyCount {
                    try txn.put(i % 50 == 0 ? [UInt8](repeating: UInt8(i % 256), count: 6000) : corruptionValue(i), forKey: corruptionKey(i))
                }
            }
            try env.read { txn in
                var seen = Set<UInt64>()
                for i in stride(from: 0, to: keyCount, by: 10) { seen.insert(try corruptionLeaf(corruptionKey(i), in: txn).page) }
                leaves = seen.sorted()
            }
        }
        #expect(leaves.count > 5)
        let pristine = try RawFileIO.contents(path)
        var g = SeededGenerator(seed: TestEnvironment.seed(default: 0x6A4B_A6E5))
        for round in 0..<(12 * TestEnvironment.scale) {
            try RawFileIO.create(path, pristine)
            let leaf = leaves[Int.random(in: 0..<leaves.count, using: &g)]
            for _ in 0..<Int.random(in: 1...40, using: &g) {
                let at = Int.random(in: 16..<4096, using: &g)
                try RawFileIO.write(path, [UInt8.random(in: 0...255, using: &g)], at: Int(leaf) * 4096 + at)
            }
            for verify in [false, true] {
                let env = try Environment(path: path, options: Options(verifyChecksums: verify))
                let report = try env.check()
                let unchanged = try RawFileIO.contents(path) == pristine
                #expect(!report.isClean || unchanged, "round \(round): damage to leaf \(leaf) went unnoticed")
                try env.read { txn in
                    for i in stride(from: 0, to: keyCount, by: 7) { _ = try? txn.get(corruptionKey(i)) }
                    _ = try? txn.forEach { _, _ in true }
                    _ = try? txn.forEach(reverse: true) { _, _ in true }
                    // A cursor is not moved again after a move failed: that traps (see
                    // cursorMoveAfterAFailedMoveDoesNotCrash).
                    let c = try txn.cursor()
                    if (try? c.seek(atLeast: corruptionKey(keyCount / 2))) != nil {
                        for _ in 0..<50 { guard (try? c.previous()) != nil else { break } }
                    }
                }
                if verify {
                    // Writes that reach the damaged leaf are refused with checksumMismatch; others commit.
                    for i in stride(from: round % 13, to: keyCount, by: 97) {
                        let e = corruptionError {
                            try env.write { txn in
                                try txn.put(Array("new".utf8), forKey: corruptionKey(i))
                                try txn.delete(corruptionKey(i + 1))
                            }
                        }
                        if let e {
                            guard case .checksumMismatch(let p, _, _) = e, p == leaf else {
                                Issue.record("round \(round): write near key \(i) failed with \(e), not checksumMismatch for leaf \(leaf)")
                                break
                            }
                        }
                    }
                    // Every key in the damaged leaf fails with checksumMismatch for that leaf.
                    try env.read { txn in
                        for i in stride(from: 0, to: keyCount, by: 10) where try corruptionLeaf(corruptionKey(i), in: txn).page == leaf {
                            let e = corruptionError { _ = try txn.get(corruptionKey(i)) }
                            guard case .checksumMismatch(let p, _, _)? = e, p == leaf else {
                                Issue.record("round \(round): get of key \(i) in damaged leaf \(leaf) gave \(String(describing: e))")
                                continue
                            }
                        }
                    }
                }
            }
        }
    }

    /// A cursor move that fails part-way (here: a verified read of a damaged leaf, while stepping
    /// from one leaf to the next) must leave the cursor usable or unpositioned: the next move has to
    /// throw or return, not trap. Runs in a child process, so a trap fails this test only.
    @Test func cursorMoveAfterAFailedMoveDoesNotCrash() async {
        await #expect(processExitsWith: .success) {
            let dir = try TemporaryDirectory("corrupt-cursor")
            let path = dir.file()
            var leaf: UInt64 = 0
            do {
                let env = try Environment(path: path)
                try env.write { txn in for i in 0..<3000 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
                leaf = try env.read { try corruptionLeaf(corruptionKey(1500), in: $0).page }
            }
            try RawFileIO.flip(path, at: Int(leaf) * 4096 + 4000)
            let env = try Environment(path: path, options: Options(verifyChecksums: true))
            let txn = try env.beginRead()
            let cursor = try txn.cursor()
            try cursor.first()
            var failure: LarchError?
            while failure == nil {
                do {
                    if try !cursor.next() { break }
                } catch {
                    failure = error as? LarchError ?? .transactionEnded
                }
            }
            guard case .checksumMismatch(let page, _, _)? = failure, page == leaf else { dir.remove(); exit(3) }
            // The cursor stepped off the previous leaf and failed to load the damaged one.
            _ = try? cursor.next()       // traps: CursorState.step indexes a level it no longer has
            _ = try? cursor.previous()
            _ = try? cursor.key
        }
    }

    /// After a failed move the cursor must not pretend to stand on an entry: reading its key or
    /// value throws or gives nil, never an entry that is not in the database.
    @Test func cursorAfterAFailedMoveShowsNoBogusEntry() throws {
        let dir = try TemporaryDirectory("corrupt-cursor-entry")
        let path = dir.file()
        var leaf: UInt64 = 0
        do {
            let env = try Environment(path: path)
            try env.write { txn in for i in 0..<3000 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
            leaf = try env.read { try corruptionLeaf(corruptionKey(1500), in: $0).page }
        }
        try RawFileIO.flip(path, at: Int(leaf) * 4096 + 4000)
        let env = try Environment(path: path, options: Options(verifyChecksums: true))
        let txn = try env.beginRead()
        let cursor = try txn.cursor()
        try cursor.first()
        var failure: LarchError?
        var last: [UInt8]?
        while failure == nil {
            do {
                if try !cursor.next() { break }
                last = try cursor.key
            } catch {
                failure = error
            }
        }
        guard case .checksumMismatch(let page, _, _)? = failure, page == leaf else {
            Issue.record("expected a checksum mismatch for leaf \(leaf), got \(String(describing: failure))")
            return
        }
        #expect(last != nil)
        let keys = Set((0..<3000).map(corruptionKey))
        let values = Set((0..<3000).map(corruptionValue))
        let key: [UInt8]? = (try? cursor.key) ?? nil
        let value: [UInt8]? = (try? cursor.value) ?? nil
        #expect(key == nil || keys.contains(key!), "after a failed move the cursor reports key \(hexDescription(key ?? []))")
        #expect(value == nil || values.contains(value!), "after a failed move the cursor reports value \(hexDescription(value ?? []))")
    }

    // MARK: Files that are not (valid) Larch files

    /// Random bytes, text and zeros are not Larch files: opening throws `notALarchFile` and does
    /// not change the file.
    @Test(arguments: ["random", "text", "zeros"])
    func notALarchFile(kind: String) throws {
        let dir = try TemporaryDirectory("corrupt-not-larch")
        let path = dir.file("\(kind).larch")
        var g = SeededGenerator(seed: 0x0123_4567)
        let content: [UInt8]
        switch kind {
        case "random": content = g.bytes(8192)
        case "text": content = Array("Hello, this is a plain text file.\nIt is not a database.\n".utf8)
        default: content = [UInt8](repeating: 0, count: 8192)
        }
        try RawFileIO.create(path, content)
        for options in [Options(), Options(readOnly: true)] {
            let error = corruptionError { _ = try Environment(path: path, options: options) }
            #expect(error == .notALarchFile(path: path))
            #expect(error?.description.contains(path) == true)
        }
        #expect(try RawFileIO.contents(path) == content, "opening must not modify a foreign file")
    }

    /// Both metas carry format version 5, with valid checksums: `unsupportedVersion` naming both versions.
    @Test func newerFormatVersionIsUnsupported() throws {
        let dir = try TemporaryDirectory("corrupt-version")
        let path = dir.file()
        do {
            let env = try Environment(path: path)
            try env.write { txn in try txn.put("v", forKey: "k") }
        }
        for slot in 0..<2 {
            var meta = try RawFileIO.read(path, at: slot * 4096, count: MetaPage.maxEncodedSize)
            meta.withUnsafeMutableBytes { b in
                b.storeBytes(of: UInt32(5).littleEndian, toByteOffset: 8, as: UInt32.self)
                MetaPage.seal(b.baseAddress!)
            }
            try RawFileIO.write(path, meta, at: slot * 4096)
        }
        let error = corruptionError { _ = try Environment(path: path) }
        #expect(error == .unsupportedVersion(path: path, found: 5, supported: 4))
        if let text = error?.description {
            #expect(text.contains("version 5") && text.contains("version 4"), "\(text)")
        }
    }

    /// A meta page with a valid checksum but an absurd page count (as a crafted or buggy file
    /// could carry) must be rejected with an error, not trap on integer overflow. Runs in a child
    /// process, so a trap fails this test only.
    @Test(arguments: [UInt64(1) << 52, UInt64(1) << 62, UInt64.max])
    func absurdPageCountInAValidMetaIsAnError(pageCount: UInt64) async {
        await #expect(processExitsWith: .success) { [pageCount] in
            let dir = try TemporaryDirectory("corrupt-page-count")
            let path = dir.file()
            do {
                let env = try Environment(path: path)
                try env.write { txn in try txn.put("v", forKey: "k") }
            }
            for slot in 0..<2 {
                var meta = try RawFileIO.read(path, at: slot * 4096, count: MetaPage.maxEncodedSize)
                meta.withUnsafeMutableBytes { b in
                    b.storeBytes(of: pageCount.littleEndian, toByteOffset: 24, as: UInt64.self)
                    MetaPage.seal(b.baseAddress!)
                }
                try RawFileIO.write(path, meta, at: slot * 4096)
            }
            var code: Int32
            do {
                _ = try Environment(path: path)
                code = 3   // opened a file that claims more pages than it has
            } catch LarchError.truncatedFile, LarchError.bothMetaPagesInvalid {
                code = 0
            } catch {
                code = 4
            }
            dir.remove()
            exit(code)
        }
    }

    /// A meta with a valid checksum whose main-tree descriptor is wrong (depth or root page out of
    /// line with the file): reads and the checker report errors, nothing traps. A descriptor of a
    /// shape no tree has (depth 0 with a root, a root page outside 2 ..< pageCount) makes the meta
    /// invalid, like a malformed free list: open passes it over for the commit before, and says
    /// why. Child process.
    @Test(arguments: ["depth0", "depth9", "rootPastEnd", "rootIsMeta", "rootIsOverflow"])
    func inconsistentTreeDescriptorIsAnError(mutation: String) async {
        await #expect(processExitsWith: .success) { [mutation] in
            let dir = try TemporaryDirectory("corrupt-descriptor")
            let path = dir.file()
            var overflowPage: UInt64 = 0
            do {
                let env = try Environment(path: path)
                try env.write { txn in
                    for i in 0..<3000 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) }
                    try txn.put([UInt8](repeating: 9, count: 9000), forKey: Array("big".utf8))
                }
                overflowPage = try env.read { try corruptionOverflowRun(of: Array("big".utf8), in: $0)?.first ?? 0 }
            }
            let current = try RawFileIO.metaTransaction(path, slot: 0) > RawFileIO.metaTransaction(path, slot: 1) ? 0 : 1
            var meta = try RawFileIO.read(path, at: current * 4096, count: MetaPage.maxEncodedSize)
            meta.withUnsafeMutableBytes { b in
                let main = 32
                switch mutation {
                case "depth0": b.storeBytes(of: UInt16(0).littleEndian, toByteOffset: main + 12, as: UInt16.self)
                case "depth9": b.storeBytes(of: UInt16(9).littleEndian, toByteOffset: main + 12, as: UInt16.self)
                case "rootPastEnd": b.storeBytes(of: UInt64(1 << 40).littleEndian, toByteOffset: main, as: UInt64.self)
                case "rootIsMeta": b.storeBytes(of: UInt64(1).littleEndian, toByteOffset: main, as: UInt64.self)
                default: b.storeBytes(of: overflowPage.littleEndian, toByteOffset: main, as: UInt64.self)
                }
                MetaPage.seal(b.baseAddress!)
            }
            try RawFileIO.write(path, meta, at: current * 4096)
            if ["depth0", "rootPastEnd", "rootIsMeta"].contains(mutation) {
                let env = try Environment(path: path)
                let status = try env.metaPages()
                guard let passed = status.first(where: { $0.page == current }), passed.transactionID == nil,
                      passed.problem?.contains("it records as its main tree") == true,
                      status.first(where: { $0.page != current })?.isCurrent == true else { dir.remove(); exit(7) }
                guard try env.check().isClean else { dir.remove(); exit(8) }   // the commit before, whole
                dir.remove()
                exit(0)
            }
            for verify in [false, true] {
                let env = try Environment(path: path, options: Options(verifyChecksums: verify))
                if try env.check().isClean { dir.remove(); exit(5) }
                var errors = 0
                try env.read { txn in
                    do { _ = try txn.get(corruptionKey(10)) } catch { errors += 1 }
                    do { try txn.forEach { _, _ in true } } catch { errors += 1 }
                    let c = try txn.cursor()
                    do { try c.last(); _ = try c.previous() } catch { errors += 1 }
                    do { try c.first(); _ = try c.next() } catch { errors += 1 }
                    _ = try? txn.stats()
                }
                if errors == 0 { dir.remove(); exit(6) }
            }
        }
    }

    /// Truncated files: opening throws `truncatedFile` (or `bothMetaPagesInvalid` when a meta page
    /// itself is cut), never crashes, and leaves the file as it was.
    @Test func truncatedFilesAreRejected() throws {
        let dir = try TemporaryDirectory("corrupt-truncated")
        let path = dir.file()
        do {
            let env = try Environment(path: path)
            // Two large commits, so that both metas need (nearly) the whole file.
            try env.write { txn in for i in 0..<3000 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
            try env.write { txn in for i in 3000..<3200 { try txn.put(corruptionValue(i), forKey: corruptionKey(i)) } }
        }
        let full = try RawFileIO.contents(path)
        let pages = full.count / 4096
        let older = try RawFileIO.metaTransaction(path, slot: 0) < RawFileIO.metaTransaction(path, slot: 1) ? 0 : 1
        let olderPageCount = Int(try RawFileIO.read(path, at: older * 4096 + 24, count: 8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        #expect(olderPageCount > 20)
        for size in [100, 4096, 4096 + 100, 8192, 8192 + 17, (olderPageCount / 2) * 4096, olderPageCount * 4096 - 1] {
            try RawFileIO.create(path, Array(full[0..<size]))
            let error = corruptionError { _ = try Environment(path: path) }
            switch error {
            case let .truncatedFile(p, sizeBytes, requiredBytes)?:
                #expect(p == path)
                #expect(sizeBytes == size)
                #expect(requiredBytes > size)
                #expect(error!.description.contains("\(size)"))
            case .bothMetaPagesInvalid?:
                #expect(size < 8192 + 180, "a file with both metas intact should be reported as truncated, got \(error!)")
            default:
                Issue.record("truncated to \(size) of \(pages * 4096) bytes: expected truncatedFile or bothMetaPagesInvalid, got \(String(describing: error))")
            }
            #expect(try RawFileIO.size(path) == size, "opening must not grow a truncated file")
        }
        // Untouched, it opens.
        try RawFileIO.create(path, full)
        let env = try Environment(path: path)
        #expect(try corruptionContents(env).count == 3200)
    }
}
