import Foundation
import Synchronization
import Testing
@testable import Larch

// Issue 10, hazard 6 (smaller items). Every read of an ended transaction throws, the checker included (after a read
// transaction ends, the pages of its snapshot may be reused).
@Suite struct EndedTransactionTests {
    @Test func checkingAnEndedReadTransactionThrows() throws {
        let dir = try TemporaryDirectory("ended-check")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in try txn.put("v", forKey: "k") }
        let txn = try env.beginRead()
        #expect(try txn.check().isClean)
        // Ending it through the transaction and using it afterwards does not compile; the core
        // still refuses a check of an ended snapshot.
        txn.core.end(as: .aborted)
        #expect(throws: LarchError.transactionEnded) { try txn.check() }
    }
}

// Issue 10, hazard 6: FORMAT.md §13 says page 1 is invalid unless it records page 0's page size;
// open used to take the newer of two metas whatever their page sizes.
@Suite struct MetaPageSizeTests {
    @Test func aSecondMetaWithAnotherPageSizeIsIgnored() throws {
        let dir = try TemporaryDirectory("meta-page-size")
        let path = dir.file()
        do {
            let env = try Environment(path: path, options: Options(durability: .noSync))
            try env.write { try $0.put("v1", forKey: "k") }
            try env.write { try $0.put("v2", forKey: "k") }
            env.close()
        }
        // A valid meta, newer than both, that claims 8 KiB pages, written into page 1.
        let forged = MetaPage(pageSize: 8192, txnID: TransactionID(99), pageCount: 2, main: .empty, catalog: .empty, free: .empty,
                              durableBase: TransactionID(99))
        var page = [UInt8](repeating: 0, count: 4096)
        page.withUnsafeMutableBytes { forged.encode(to: $0.baseAddress!) }
        let fd = open(path, O_WRONLY)
        #expect(fd >= 0)
        #expect(pwrite(fd, page, 4096, 4096) == 4096)
        close(fd)

        let env = try Environment(path: path, options: Options(durability: .noSync))
        // Page 1 held commit 3 ("v2") before it was overwritten; page 0 holds commit 2 ("v1").
        #expect(try env.read { try $0.getString("k") } == "v1", "page 0's commit is the current one")
        #expect(try env.check().isClean)
        let metas = try env.metaPages()
        #expect(metas[1].problem?.contains("page size 8192") == true, "\(metas)")
        #expect(metas[0].isCurrent)
    }
}

// Issue 10, hazard 6: `sync()` and `metaPages()` raced `close()`: one could check that the
// environment was open, then use its descriptor after `close()` had closed it and the system had
// given the number to another file. Now a descriptor is closed only after the operations under way.
@Suite struct CloseRaceTests {
    @Test func metaPagesRacingCloseNeverReadsAnotherFile() throws {
        let dir = try TemporaryDirectory("close-race")
        let decoy = dir.file("decoy")
        #expect(FileManager.default.createFile(atPath: decoy, contents: Data(repeating: 0xEE, count: 16_384)))
        var wrong = 0
        var closedErrors = 0
        for round in 0..<150 {
            let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
            try env.write { try $0.put("v\(round)", forKey: "k") }
            let results = Mutex<(wrong: Int, closed: Int)>((0, 0))
            let started = DispatchSemaphore(value: 0)
            let done = DispatchSemaphore(value: 0)
            Thread {
                started.signal()
                for _ in 0..<200 {
                    do {
                        let metas = try env.metaPages()
                        if metas.contains(where: { $0.problem?.contains("magic") == true }) { results.withLock { $0.wrong += 1 } }
                        try env.sync()
                    } catch {
                        results.withLock { $0.closed += 1 }
                    }
                }
                done.signal()
            }.start()
            started.wait()
            env.close()
            // Take descriptor numbers the environment just gave back.
            let fds = (0..<4).map { _ in open(decoy, O_RDONLY) }
            done.wait()
            for fd in fds where fd >= 0 { close(fd) }
            wrong += results.withLock { $0.wrong }
            closedErrors += results.withLock { $0.closed }
        }
        print("close race: \(closedErrors) calls after close refused, \(wrong) read another file")
        #expect(wrong == 0, "metaPages() read another file through a reused descriptor \(wrong) times")
    }
}

// Issue 10, hazard 6: FORMAT.md §15.4 says the checker verifies that an overflow run's tail (after
// the value) is zero; it did not, and no test showed it.
@Suite struct OverflowTailTests {
    @Test func theCheckerReportsANonzeroOverflowTail() throws {
        let dir = try TemporaryDirectory("overflow-tail")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let value = [UInt8](repeating: 0x5C, count: 5_000)   // a 2-page run at 4 KiB pages
        try env.write { try $0.put(value, forKey: Array("clean".utf8)) }
        #expect(try env.check().isClean)

        // A run whose tail holds a stray byte, with every checksum above it correct.
        var txn = try env.beginWrite()
        try txn.put(value, forKey: Array("dirty".utf8))
        let core = txn.core
        let leafNumber = core.treeRoot(TreeIndex.main).root
        #expect(core.treeRoot(TreeIndex.main).depth == 1)
        let leaf = core.writeBox!.state.mutable(leafNumber)
        let index = try Array("dirty".utf8).withUnsafeBytes { k in try leaf.view.leafSearch(k).index }
        guard case let .overflow(first, _, length, _) = try leaf.view.leafCell(index).value else {
            Issue.record("the value should be in an overflow run")
            return
        }
        let pages = OverflowLayout.pageCount(valueLength: length, pageSize: core.pageSize)
        let run = try #require(core.writeBox!.state.dirty[first]).buffer
        run.storeBytes(of: 0xAB, toByteOffset: OverflowLayout.headerSize + length + 17, as: UInt8.self)
        leaf.setOverflowReference(index, first: first, checksum: CRC32C.checksum(UnsafeRawPointer(run), count: pages * core.pageSize),
                                  birth: TransactionID(core.meta.txnID.rawValue + 1))
        try txn.commit()

        let report = try env.check()
        #expect(!report.isClean)
        #expect(report.problems.contains { $0.message.contains("nonzero bytes after") }, "\(report)")
        #expect(try env.read { try $0.get(Array("dirty".utf8)) } == value, "the value itself reads back whole")
    }
}

// Issue 10, hazard 4: inside a zero-copy view the caller could change or end the same transaction,
// which frees or reuses the buffer the view points to. Through the transaction this no longer
// compiles (the views borrow it; see MisuseCompileTests). What remains possible goes through a
// cursor or an optional holding the transaction, and is caught at run time: a change throws
// `viewInUse`, and an end waits for the view.
@Suite struct ViewLifetimeTests {
    @Test func changesThroughACursorInsideAViewThrow() throws {
        let dir = try TemporaryDirectory("view-lifetime")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let big = [UInt8](repeating: 7, count: 9_000)
        try env.write { txn in
            try txn.put(big, forKey: Array("big".utf8))
            try txn.put("small", forKey: "small")
        }
        try env.write { txn in
            try txn.put("x", forKey: "dirty")   // the transaction has dirty pages of its own
            let cursor = try txn.cursor()
            try cursor.first()
            let seen = try txn.withValue(forKey: Array("big".utf8)) { span -> Int in
                #expect(throws: LarchError.viewInUse) { try cursor.put(Array("y".utf8), forKey: Array("big".utf8)) }
                #expect(throws: LarchError.viewInUse) { try cursor.delete() }
                return span.byteCount
            }
            #expect(seen == 9_000)
            try txn.forEach { _, _ in
                #expect(throws: LarchError.viewInUse) { try cursor.put(Array("z".utf8), forKey: Array("small".utf8)) }
                return false
            }
            _ = try cursor.withCurrent { _, _ in
                #expect(throws: LarchError.viewInUse) { try cursor.put(Array("v".utf8), forKey: Array("w".utf8)) }
            }
            // After the views, the transaction changes as usual.
            try txn.put("after", forKey: "small")
            try cursor.put(Array("v".utf8), forKey: Array("w".utf8))
        }
        #expect(try env.read { try $0.getString("small") } == "after")
        #expect(try env.read { try $0.getString("w") } == "v")
    }

    @Test func endingATransactionInsideAViewWaitsForTheView() throws {
        let dir = try TemporaryDirectory("view-end")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        let big = [UInt8](repeating: 9, count: 9_000)
        try env.write { try $0.put(big, forKey: Array("big".utf8)) }

        var txn: WriteTransaction? = try env.beginWrite()
        try txn!.put([UInt8](repeating: 3, count: 9_000), forKey: Array("mine".utf8))
        let cursor = try txn!.cursor()
        #expect(try cursor.seek(to: Array("mine".utf8)))
        let intact = try cursor.withCurrent { _, value -> Bool in
            txn = nil   // drops, so aborts, the transaction while the view is lent
            #expect(throws: LarchError.transactionEnded) { try cursor.next() }
            // The buffers stay until the view returns: the bytes are still the transaction's.
            return value.withUnsafeBytes { $0.allSatisfy { $0 == 3 } }
        }
        #expect(intact == true)
        // The writer was released when the view returned.
        try env.write { try $0.put("next", forKey: "k") }

        var reader: ReadTransaction? = try env.beginRead()
        let readerCursor = try reader!.cursor()
        #expect(try readerCursor.seek(to: Array("big".utf8)))
        let readerIntact = try readerCursor.withCurrent { _, value -> Bool in
            reader = nil
            return value.withUnsafeBytes { $0.allSatisfy { $0 == 9 } }
        }
        #expect(readerIntact == true)
        #expect(try env.stats().readers == 0, "the reader's slot is free once the view returned")
    }
}

// Issue 10, strict mode: in debug builds a commit validates every dirty page before writing it,
// and with `.full` runs the checker over the new state before its meta; a defect is reported as a
// failed commit, and the file keeps its last commit.
@Suite struct StrictModeTests {
    /// An environment with one commit ("kept" under "k") and a write transaction begun on it.
    private func environment(_ checks: StrictChecks, _ label: String) throws -> (TemporaryDirectory, Environment) {
        let dir = try TemporaryDirectory(label)
        var options = Options(durability: .noSync)
        options.strictChecks = checks
        let env = try Environment(path: dir.file(), options: options)
        try env.write { try $0.put("kept", forKey: "k") }
        return (dir, env)
    }

    /// The commit fails with a strict-mode `corruptPage` naming `phrase`, and the file keeps its commit.
    private func expectRejected(_ txn: consuming WriteTransaction, _ env: Environment, _ phrase: String) throws {
        do {
            try txn.commit()
            Issue.record("the commit must fail")
        } catch {
            guard case let .corruptPage(_, reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains(phrase), "\(reason)")
        }
        #expect(try env.read { try $0.getString("k") } == "kept")
        #expect(try env.read { try $0.getString("k2") } == nil)
        #expect(try env.check().isClean)
    }

    @Test func aMalformedDirtyPageFailsTheCommitBeforeAnythingIsWritten() throws {
        let (dir, env) = try environment(.pages, "strict-pages")
        var txn = try env.beginWrite()
        defer { withExtendedLifetime(dir) {} }
        try txn.put("lost", forKey: "k")
        let core = txn.core
        let leaf = core.writeBox!.state.mutable(core.treeRoot(TreeIndex.main).root)
        leaf.setSlot(0, 3)   // a slot pointing into the page header: a defect strict mode must catch
        try expectRejected(txn, env, "strict mode, before writing")
    }

    @Test func theFullCheckRunsOverTheNewStateBeforeTheMeta() throws {
        let (dir, env) = try environment(.full, "strict-full")
        var txn = try env.beginWrite()
        defer { withExtendedLifetime(dir) {} }
        try txn.put("lost", forKey: "k2")
        // A descriptor that disagrees with the tree: well-formed pages, an inconsistent state.
        txn.core.writeBox!.state.trees[TreeIndex.main].root.entries += 5
        txn.core.writeBox!.state.trees[TreeIndex.main].isDirty = true
        try expectRejected(txn, env, "fails the checker")
    }
}
