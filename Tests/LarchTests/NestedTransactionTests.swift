import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Larch

/// Nested write transactions (issue 14): a child commits into its parent or is rolled back alone,
/// at any depth; cursors of the parent, snapshots, databases, overflow values, free-tree claims
/// and failures inside a child; no buffer kept; the outermost commit writes what a flat one would.
@Suite struct NestedTransactionTests {
    private struct Rollback: Error {}

    private func values(_ txn: borrowing WriteTransaction, _ db: Database = .main) throws -> [String: String] {
        var out: [String: String] = [:]
        var it = try txn.entries(in: db)
        while let (k, v) = try it.next() { out[String(decoding: k, as: UTF8.self)] = String(decoding: v, as: UTF8.self) }
        return out
    }

    @Test func childCommitsIntoParentOrRollsBackAlone() throws {
        try withTemporaryDirectory("nested-basic") { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in try txn.put("0", forKey: "committed") }
            try env.write { txn in
                try txn.put("1", forKey: "a")
                let r = try txn.nested { child in
                    #expect(try child.getString("a") == "1", "the child sees the parent's changes")
                    try child.put("2", forKey: "b")
                    try child.put("changed", forKey: "a")
                    #expect(try child.delete("committed"))
                    return 42
                }
                #expect(r == 42)
                #expect(try values(txn) == ["a": "changed", "b": "2"])
                #expect(throws: Rollback.self) {
                    try txn.nested { child in
                        try child.put("x", forKey: "a")
                        try child.put("y", forKey: "c")
                        _ = try child.delete("b")
                        throw Rollback()
                    }
                }
                #expect(try values(txn) == ["a": "changed", "b": "2"], "the aborted child left no trace")
                try txn.put("3", forKey: "d")
            }
            #expect(try env.read { txn in try txn.entries().collect().count } == 3)
            #expect(try env.read { txn in try txn.getString("d") } == "3")
            #expect(try assertClean(env).isClean)
            #expect(env.buffers.outstandingPages == 0)
        }
    }

    @Test func deepNestingCommitsAndAbortsAtEveryLevel() throws {
        try withTemporaryDirectory("nested-deep") { dir in
            let env = try Environment(path: dir.file())
            let depth = 60
            // Level i puts 20 keys; odd levels throw after their child returned, so only the
            // levels below the first odd one survive (level 0 is the outermost transaction).
            func level(_ i: Int, _ txn: inout WriteTransaction) throws {
                for j in 0..<20 { try txn.put(String(repeating: "v", count: 100), forKey: "k\(i)-\(j)") }
                if i == depth { return }
                do {
                    try txn.nested { child in
                        try level(i + 1, &child)
                        if (i + 1) % 2 == 1 { throw Rollback() }
                    }
                } catch is Rollback {}
                // Every level's own keys are still there, the levels above it: only if committed.
                #expect(try txn.contains("k\(i)-19"))
                #expect(try txn.contains("k\(i + 1)-0") == ((i + 1) % 2 == 0))
            }
            try env.write { txn in try level(0, &txn) }
            let count = try env.read { txn in try txn.entries().collect().count }
            #expect(count == 20, "level 1 threw, so only level 0 survived: \(count)")
            // Commits all the way down.
            try env.write { txn in
                try txn.nested { _ in }   // an empty child
                func down(_ i: Int, _ txn: inout WriteTransaction) throws {
                    try txn.put("x", forKey: "deep\(i)")
                    if i < depth { try txn.nested { child in try down(i + 1, &child) } }
                }
                try down(0, &txn)
            }
            #expect(try env.read { txn in try txn.entries(.prefix("deep")).collect().count } == depth + 1)
            #expect(try assertClean(env).isClean)
            #expect(env.buffers.outstandingPages == 0)
        }
    }

    @Test func parentCursorsRepositionAfterChildCommitAndAbort() throws {
        try withTemporaryDirectory("nested-cursors") { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                for i in 0..<300 { try txn.put(String(repeating: "\(i % 10)", count: 200), forKey: String(format: "k%03d", i)) }
            }
            try env.write { txn in
                try txn.put("p", forKey: "k100")   // the parent's own dirty pages, which the child shadows
                let c = try txn.cursor()
                #expect(try c.seek(to: "k100"))
                let d = try txn.cursor()
                #expect(try d.seek(to: "k200"))
                // Abort: the child rewrote and deleted around both cursors.
                #expect(throws: Rollback.self) {
                    try txn.nested { child in
                        #expect(throws: LarchError.nestedTransactionOpen) { _ = try c.next() }
                        #expect(throws: LarchError.nestedTransactionOpen) { try c.put([1], forKey: [1]) }
                        for i in 50..<250 { _ = try child.delete(String(format: "k%03d", i)) }
                        try child.put("new", forKey: "k100")
                        throw Rollback()
                    }
                }
                #expect(try c.key == Array("k100".utf8))
                #expect(try c.value == Array("p".utf8))
                #expect(try c.next())
                #expect(try c.key == Array("k101".utf8))
                #expect(try d.key == Array("k200".utf8))
                // Commit: the child deletes what the cursors are on.
                var childCursor: Cursor<ReadWrite>?
                try txn.nested { child in
                    for i in 101..<260 { _ = try child.delete(String(format: "k%03d", i)) }
                    try child.put("grown", forKey: "k260")
                    childCursor = try child.cursor()
                    #expect(try childCursor!.first())
                }
                #expect(throws: LarchError.transactionEnded) { _ = try childCursor!.next() }
                #expect(try c.key == Array("k260".utf8), "on the successor of the deleted key")
                #expect(try c.value == Array("grown".utf8))
                #expect(try d.key == Array("k260".utf8))
                #expect(try c.previous())
                #expect(try c.key == Array("k100".utf8))
                try txn.put("after", forKey: "k100")
                #expect(try c.value == Array("after".utf8))
            }
            #expect(try assertClean(env).isClean)
        }
    }

    @Test func snapshotsDatabasesAndClearRollBackExactly() throws {
        try withTemporaryDirectory("nested-snapshots") { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in
                let db = try txn.openDatabase("kept", create: true)
                for i in 0..<500 { try txn.put(String(repeating: "x", count: 50), forKey: "k\(i)", in: db) }
                for i in 0..<500 { try txn.put(String(repeating: "y", count: 50), forKey: "m\(i)") }
            }
            try env.createSnapshot("old")
            try env.write { txn in try txn.put("v2", forKey: "m1") }   // pages the snapshot keeps
            let before = try env.check()
            // A child that creates a snapshot, drops one, creates and drops databases, clears.
            try env.write { txn in
                #expect(throws: Rollback.self) {
                    try txn.nested { child in
                        _ = try child.createSnapshot("new")
                        try child.dropSnapshot("old")
                        let kept = try child.openDatabase("kept")
                        try child.clear(kept)
                        try child.clear()
                        _ = try child.openDatabase("fresh", create: true)
                        try child.dropDatabase(kept)
                        throw Rollback()
                    }
                }
                #expect(try txn.snapshots().map(\.name) == ["old"])
                #expect(try txn.databaseNames() == ["kept"])
                #expect(try txn.stats(try txn.openDatabase("kept")).entries == 500)
                #expect(try txn.stats().entries == 500)
                // The same changes in a child that commits.
                try txn.nested { child in
                    try child.dropSnapshot("old")
                    try child.clear()
                    _ = try child.openDatabase("fresh", create: true)
                }
            }
            #expect(try env.snapshots().isEmpty)
            #expect(try env.read { txn in try txn.databaseNames() } == ["fresh", "kept"])
            let after = try assertClean(env)
            #expect(after.isClean)
            #expect(after.pageCount == before.pageCount, "the dropped snapshot's and the main tree's pages were freed")
            // Creating a snapshot in a child, committed.
            try env.write { txn in
                try txn.nested { child in _ = try child.createSnapshot("inner") }
                try txn.put("later", forKey: "z")
            }
            #expect(try env.snapshots().map(\.name) == ["inner"])
            #expect(try assertClean(env).isClean)
        }
    }

    @Test func overflowValuesInChildren() throws {
        try withTemporaryDirectory("nested-overflow") { dir in
            let env = try Environment(path: dir.file())
            let big1 = [UInt8](repeating: 1, count: 50_000)
            let big2 = [UInt8](repeating: 2, count: 70_000)
            try env.write { txn in
                try txn.put(big1, forKey: "big")   // an overflow run dirty in the parent
                #expect(throws: Rollback.self) {
                    try txn.nested { child in
                        try child.put(big2, forKey: "big")
                        // Single pages allocated inside the run the child gave up.
                        for i in 0..<40 { try child.put(String(repeating: "s", count: 300), forKey: "s\(i)") }
                        #expect(try child.get("big") == big2)
                        throw Rollback()
                    }
                }
                #expect(try txn.get("big") == big1)
                #expect(try txn.stats().entries == 1)
                try txn.nested { child in
                    #expect(try child.delete("big"))
                    for i in 0..<40 { try child.put(String(repeating: "s", count: 300), forKey: "s\(i)") }
                    try child.nested { grandchild in try grandchild.put(big2, forKey: "big") }
                }
                #expect(try txn.get("big") == big2)
            }
            #expect(try env.read { txn in try txn.get("big") } == big2)
            #expect(try assertClean(env).isClean)
            #expect(env.buffers.outstandingPages == 0)
        }
    }

    @Test func aFailedChildDoesNotPoisonItsParent() throws {
        try withTemporaryDirectory("nested-failure") { dir in
            var options = Options()
            options.maxSize = 96 * 4096
            let env = try Environment(path: dir.file(), options: options)
            try env.write { txn in for i in 0..<40 { try txn.put(String(repeating: "a", count: 300), forKey: "base\(i)") } }
            try env.write { txn in
                try txn.put("p", forKey: "parent")
                let before = try values(txn)
                // The child runs into the size limit part-way through a put (a split), swallows
                // the error and returns: the call still throws it, and rolls the child back.
                var failedWith: LarchError?
                var thrown: (any Error)?
                do {
                    try txn.nested { child in
                        do {
                            for i in 0..<10_000 { try child.put(String(repeating: "c", count: 700), forKey: "child\(i)") }
                        } catch let e as LarchError {
                            failedWith = e
                            do { try child.put("x", forKey: "y"); Issue.record("a failed child accepted a put") } catch let again as LarchError {
                                #expect(again == e, "the child is failed")
                            }
                        }
                    }
                } catch { thrown = error }
                #expect((thrown as? LarchError) == failedWith && failedWith != nil, "nested() threw the child's failure")
                guard case .mapFull = failedWith else { Issue.record("expected mapFull, got \(String(describing: failedWith))"); return }
                #expect(try values(txn) == before, "the parent is as before the child")
                // Rejected input inside a child fails nothing.
                try txn.nested { child in
                    #expect(throws: LarchError.keyExists) { try child.put("q", forKey: "parent", overwrite: false) }
                    try child.put("ok", forKey: "child-ok")
                }
                try txn.put("still usable", forKey: "after")
            }
            #expect(try env.read { txn in try txn.getString("after") } == "still usable")
            #expect(try env.read { txn in try txn.getString("child-ok") } == "ok")
            #expect(try assertClean(env).isClean)
            #expect(env.buffers.outstandingPages == 0)
        }
    }

    @Test func tenThousandAbortsKeepNoBuffer() throws {
        try withTemporaryDirectory("nested-buffers") { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in for i in 0..<2000 { try txn.put(String(repeating: "b", count: 100), forKey: "k\(i)") } }
            var txn = try env.beginWrite()
            for i in 0..<200 { try txn.put("parent", forKey: "k\(i * 10)") }
            let held = env.buffers.outstandingPages
            for round in 0..<10_000 {
                let commit = round % 100 == 99
                do {
                    try txn.nested { child in
                        for j in 0..<3 { try child.put("child\(round)", forKey: "k\((round * 7 + j * 500) % 2000)") }
                        if round % 10 == 0 {
                            try child.nested { g in
                                try g.put(String(repeating: "g", count: 5000), forKey: "g\(round)")
                                throw Rollback()
                            }
                        }
                        if !commit { throw Rollback() }
                    }
                } catch is Rollback {}
                if !commit && round < 99 {
                    #expect(env.buffers.outstandingPages == held, "round \(round): \(env.buffers.outstandingPages) pages held, \(held) before")
                }
            }
            #expect(try txn.get("g0") == nil)
            try txn.commit()
            #expect(env.buffers.outstandingPages == 0)
            #expect(try assertClean(env).isClean)
        }
    }

    @Test func asyncWriteWithNestedSuspendingBody() async throws {
        let dir = try TemporaryDirectory("nested-async")
        let env = try Environment(path: dir.file())
        try await env.write { txn in
            try txn.put("1", forKey: "a")
            try await txn.nested { child in
                await Task.yield()
                try child.put("2", forKey: "b")
            }
            do {
                try await txn.nested { child in
                    try child.put("3", forKey: "c")
                    await Task.yield()
                    throw Rollback()
                }
            } catch is Rollback {}
        }
        let keys = try await env.read { txn in try txn.entries().collect().map { String(decoding: $0.key, as: UTF8.self) } }
        #expect(keys == ["a", "b"])
    }

    /// The outermost commit writes exactly what a flat transaction with the surviving changes
    /// writes: two files built alike, one with nested commits and aborts, end byte for byte equal.
    @Test func outermostCommitMatchesAFlatTransaction() throws {
        try withTemporaryDirectory("nested-flat") { dir in
            var claimedInAbortedChild = false
            func build(_ path: String, nested: Bool) throws {
                let env = try Environment(path: path, options: Options(durability: .noSync))
                var rng = SeededGenerator(seed: 77)
                // Fragmented free space: free-tree records a child claims.
                try env.write { txn in for i in 0..<3000 { try txn.put(rng.bytes(200), forKey: "f\(i)") } }
                try env.write { txn in for i in stride(from: 0, to: 3000, by: 2) { _ = try txn.delete("f\(i)") } }
                // Many small commits under a long reader: their freed pages, unusable meanwhile,
                // move from the meta's free list into free-tree records, reusable once it ends.
                do {
                    let reader = try env.beginRead()
                    for i in 0..<250 { try env.write { txn in try txn.put(rng.bytes(200), forKey: "f\(Int(rng.next() % 1500) * 2 + 1)") }; _ = i }
                    reader.abort()
                }
                try env.write { txn in _ = try txn.openDatabase("named", create: true) }
                try env.write { txn in
                    #expect(txn.core.writeBox!.state.trees[TreeIndex.free].root.entries > 0, "records in the free tree")
                    let named = try txn.openDatabase("named")
                    for round in 0..<30 {
                        let keys = (0..<40).map { _ in "r\(rng.next() % 5000)" }
                        let vals = (0..<40).map { _ in rng.bytes(Int(rng.next() % 3000)) }
                        let aborted = round % 3 == 1
                        func apply(_ t: inout WriteTransaction) throws {
                            for (k, v) in zip(keys, vals) { try t.put(v, forKey: k, in: round % 2 == 0 ? .main : named) }
                            for i in stride(from: round * 50 + 1, to: round * 50 + 40, by: 2) { _ = try t.delete("f\(i)") }
                            if round == 7 { try t.clear(named) }
                        }
                        if !nested {
                            if !aborted { try apply(&txn) }
                        } else {
                            do {
                                try txn.nested { child in
                                    let records = child.core.writeBox!.state.trees[TreeIndex.free].root.entries
                                    try apply(&child)
                                    if aborted && child.core.writeBox!.state.trees[TreeIndex.free].root.entries < records { claimedInAbortedChild = true }
                                    if round % 5 == 0 {
                                        do { try child.nested { g in try g.put("gone", forKey: "f1"); throw Rollback() } } catch is Rollback {}
                                    }
                                    if aborted { throw Rollback() }
                                }
                            } catch is Rollback {}
                        }
                    }
                }
                env.close()
            }
            try build(dir.file("flat.larch"), nested: false)
            try build(dir.file("nested.larch"), nested: true)
            #expect(claimedInAbortedChild, "a rolled-back child claimed free-tree records")
            let flat = try Data(contentsOf: URL(fileURLWithPath: dir.file("flat.larch")))
            let nested = try Data(contentsOf: URL(fileURLWithPath: dir.file("nested.larch")))
            #expect(flat.count == nested.count)
            let firstDifference = zip(flat, nested).enumerated().first { $0.element.0 != $0.element.1 }?.offset
            #expect(firstDifference == nil, "files differ at byte \(firstDifference ?? -1) (page \((firstDifference ?? 0) / 4096))")
            let env = try Environment(path: dir.file("nested.larch"))
            let flatEnv = try Environment(path: dir.file("flat.larch"))
            let a = try assertClean(env), b = try assertClean(flatEnv)
            #expect(a.pageCount == b.pageCount && a.freePages == b.freePages, "nested \(a), flat \(b)")
            for name in [nil, "named"] as [String?] {
                let x = try env.read { t in try t.entries(in: name.map { try t.openDatabase($0) } ?? .main).collect() }
                let y = try flatEnv.read { t in try t.entries(in: name.map { try t.openDatabase($0) } ?? .main).collect() }
                #expect(x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }, "\(name ?? "main"): nested \(x.count) entries, flat \(y.count)")
            }
        }
    }

    /// Pages of a commit waiting for its group's meta are rewritten in place (`rewritable`): a
    /// child that does so and is rolled back gives them back to the set, unwritten.
    @Test func pagesRewrittenInPlaceByARolledBackChildAreRewritableAgain() throws {
        try withTemporaryDirectory("nested-rewritable") { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in for i in 0..<10 { try txn.put("v", forKey: "k\(i)") } }
            var txn = try env.beginWrite()
            let root = txn.core.writeBox!.state.trees[TreeIndex.main].root.root
            txn.core.writeBox!.state.rewritable = [root]   // as if its commit waited for a meta
            #expect(throws: Rollback.self) {
                try txn.nested { child in
                    try child.put("w", forKey: "k1")
                    #expect(child.core.writeBox!.state.rewrittenInPlace == 1)
                    #expect(child.core.writeBox!.state.trees[TreeIndex.main].root.root == root, "rewritten in place")
                    try child.nested { g in try g.put("x", forKey: "k2") }
                    throw Rollback()
                }
            }
            #expect(txn.core.writeBox!.state.rewritable == [root])
            #expect(txn.core.writeBox!.state.rewrittenInPlace == 0)
            #expect(txn.core.writeBox!.state.dirty[root] == nil)
            try txn.nested { child in try child.put("w", forKey: "k1") }
            #expect(txn.core.writeBox!.state.rewritable.isEmpty)
            #expect(txn.core.writeBox!.state.rewrittenInPlace == 1)
            #expect(try txn.getString("k1") == "w")
            txn.abort()   // the page is the published commit's: this test must not write it
            #expect(try env.read { try $0.getString("k1") } == "v")
            #expect(env.buffers.outstandingPages == 0)
        }
    }

    /// An iteration of the parent goes on across a child that changed the entries ahead of it,
    /// and the databases an aborted child created or changed are not reported as changed.
    @Test func parentIterationAndChangedDatabasesAcrossChildren() throws {
        try withTemporaryDirectory("nested-entries") { dir in
            let env = try Environment(path: dir.file())
            try env.write { txn in for i in 0..<200 { try txn.put(String(repeating: "e", count: 150), forKey: String(format: "k%03d", i)) } }
            var txn = try env.beginWrite()
            var it = try txn.entries()
            var seen: [String] = []
            for _ in 0..<50 { seen.append(String(decoding: try it.next()!.key, as: UTF8.self)) }
            try txn.nested { child in
                for i in stride(from: 50, to: 200, by: 2) { _ = try child.delete(String(format: "k%03d", i)) }
                try child.put("new", forKey: "k0505")
            }
            #expect(throws: Rollback.self) {
                try txn.nested { child in
                    for i in stride(from: 51, to: 200, by: 2) { _ = try child.delete(String(format: "k%03d", i)) }
                    _ = try child.openDatabase("created", create: true)
                    throw Rollback()
                }
            }
            while let (k, _) = try it.next() { seen.append(String(decoding: k, as: UTF8.self)) }
            let expected = (0..<50).map { String(format: "k%03d", $0) } + ["k0505"] + stride(from: 51, to: 200, by: 2).map { String(format: "k%03d", $0) }
            #expect(seen == expected.sorted())
            let changes = txn.core.writeBox!.state.changedDatabases
            #expect(changes.main && changes.named.isEmpty, "\(changes)")
            try txn.commit()
            #expect(try env.read { try $0.databaseNames() }.isEmpty)
            #expect(try assertClean(env).isClean)
        }
    }

    /// A child costs the pages it touches, not its parent's size: one put in a child of a parent
    /// with thousands of dirty pages records (and copies) only the pages on its path.
    @Test(arguments: [300, 30_000])
    func aChildCostsWhatItTouches(parentKeys: Int) throws {
        try withTemporaryDirectory("nested-cost") { dir in
            let env = try Environment(path: dir.file())
            var txn = try env.beginWrite()
            for i in 0..<parentKeys { try txn.put(String(repeating: "p", count: 100), forKey: String(format: "key%06d", i * 7 % parentKeys)) }
            let parentPages = txn.core.writeBox!.state.dirty.count
            let depth = Int(try txn.stats().depth)
            let clock = ContinuousClock()
            var recorded: [Int] = []
            let elapsed = clock.measure {
                for round in 0..<1000 {
                    let held = env.buffers.outstandingPages
                    try? txn.nested { child in
                        try child.put("c", forKey: String(format: "key%06d", round * 29 % parentKeys))
                        recorded.append(child.core.writeBox!.state.dirty.layers.last!.below.count)
                        #expect(env.buffers.outstandingPages - held <= depth, "round \(round)")
                        if round % 2 == 0 { throw Rollback() }
                    }
                }
            }
            #expect(recorded.allSatisfy { $0 <= depth }, "pages recorded per child: \(Set(recorded)), depth \(depth)")
            print("1,000 children of one put each on a parent of \(parentPages) dirty pages (depth \(depth)): \(elapsed)")
            try txn.commit()
            #expect(try assertClean(env).isClean)
        }
    }

    /// Concurrent closure-scoped writers (group commit: a writer may rewrite in place the pages
    /// of commits waiting for their meta) with a committed and a rolled-back child each time.
    @Test func concurrentWritersWithNestedChildren() throws {
        try withTemporaryDirectory("nested-threads") { dir in
            let env = try Environment(path: dir.file())
            let threads = 4, perThread = 40
            let group = DispatchGroup()
            let failures = Mutex<[String]>([])
            for t in 0..<threads {
                group.enter()
                Thread {
                    defer { group.leave() }
                    for n in 0..<perThread {
                        do {
                            try env.write { txn in
                                try txn.put("t\(t)", forKey: "last:\(t)")
                                try txn.nested { child in try child.put("v\(n)", forKey: String(format: "k%d-%03d", t, n)) }
                                do {
                                    try txn.nested { child in
                                        try child.put("gone", forKey: String(format: "x%d-%03d", t, n))
                                        try child.put("gone", forKey: "last:\(t)")
                                        throw Rollback()
                                    }
                                } catch is Rollback {}
                            }
                        } catch {
                            failures.withLock { $0.append("thread \(t) write \(n): \(error)") }
                        }
                    }
                }.start()
            }
            group.wait()
            #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
            let all = try env.read { txn in try txn.entries().collect() }
            #expect(all.count == threads * perThread + threads)
            #expect(all.allSatisfy { !$0.key.starts(with: Array("x".utf8)) && $0.value != Array("gone".utf8) })
            #expect(try assertClean(env).isClean)
            #expect(env.buffers.outstandingPages == 0)
            print("concurrent nested writers: \(env.pagesRewrittenInPlace.load(ordering: .relaxed)) pages rewritten in place")
        }
    }
}
