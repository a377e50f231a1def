import Dispatch
import Foundation
import Synchronization
import Testing
@testable import Larch

// Bad input and misuse: each is a typed error whose description names the number or name
// involved, and none changes anything on disk.

/// Runs `body` and returns the LarchError it throws (nil when it returns).
private func badInputError(_ body: () throws -> Void) -> LarchError? {
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

/// Expects `body` to throw exactly `expected`, with a description that mentions each of `mentions`.
private func expectBadInput(_ expected: LarchError, mentions: [String] = [], sourceLocation: SourceLocation = #_sourceLocation,
                         _ body: () throws -> Void) {
    let error = badInputError(body)
    #expect(error == expected, sourceLocation: sourceLocation)
    guard let error else { return }
    #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
    for m in mentions {
        #expect(error.description.contains(m), "\"\(error.description)\" does not mention \(m)", sourceLocation: sourceLocation)
    }
}

/// The committed state of an environment: its transaction id and every entry of the main database.
private struct BadInputState: Equatable {
    var transactionID: UInt64
    var entries: [[UInt8]: [UInt8]]

    init(_ env: Environment) throws {
        transactionID = try env.stats().transactionID
        entries = try env.read { txn in
            var out: [[UInt8]: [UInt8]] = [:]
            for (k, v) in try txn.entries().collect() { out[k] = v }
            return out
        }
    }
}

/// A database with a few entries; returns the environment.
private func badInputSeeded(_ dir: TemporaryDirectory, options: Options = Options()) throws -> Environment {
    let env = try Environment(path: dir.file(), options: options)
    try env.write { txn in
        for i in 0..<50 { try txn.put("value \(i)", forKey: "key \(i)") }
    }
    return env
}

@Suite struct BadInputTests {
    @Test func emptyKeyIsRejectedAndTheTransactionStaysUsable() throws {
        let dir = try TemporaryDirectory("bad-empty-key")
        let env = try badInputSeeded(dir)
        let before = try RawFileIO.contents(env.path)
        let state = try BadInputState(env)

        var txn = try env.beginWrite()
        try txn.put("fine", forKey: "ok")
        expectBadInput(.emptyKey) { try txn.put(Array("v".utf8), forKey: [UInt8]()) }
        expectBadInput(.emptyKey) { try txn.put("v", forKey: "") }
        expectBadInput(.emptyKey) { _ = try txn.get([UInt8]()) }
        expectBadInput(.emptyKey) { try txn.delete([UInt8]()) }
        expectBadInput(.emptyKey) { try txn.cursor().seek(to: [UInt8]()) }
        let isActive = txn.isActive
        #expect(isActive)
        txn.abort()
        #expect(try RawFileIO.contents(env.path) == before)
        #expect(try BadInputState(env) == state)

        // Rejected input leaves the transaction usable: its other changes commit.
        try env.write { txn in
            expectBadInput(.emptyKey) { try txn.put("v", forKey: "") }
            try txn.put("yes", forKey: "after")
        }
        var expected = state
        expected.transactionID += 1
        expected.entries[Array("after".utf8)] = Array("yes".utf8)
        #expect(try BadInputState(env) == expected)
        try assertClean(env)
    }

    @Test(arguments: [(4096, 1024), (65536, 16384)])
    func keyTooLarge(pageSize: Int, limit: Int) throws {
        let dir = try TemporaryDirectory("bad-key-size")
        let env = try badInputSeeded(dir, options: Options(pageSize: pageSize))
        #expect(try env.stats().pageSize == pageSize)
        let before = try RawFileIO.contents(env.path)
        let state = try BadInputState(env)
        let tooLong = [UInt8](repeating: 0x61, count: limit + 1)
        let longest = [UInt8](repeating: 0x62, count: limit)

        var txn = try env.beginWrite()
        let mentions = ["\(limit + 1)", "\(limit)"]
        expectBadInput(.keyTooLarge(size: limit + 1, limit: limit), mentions: mentions) { try txn.put(Array("v".utf8), forKey: tooLong) }
        expectBadInput(.keyTooLarge(size: limit + 1, limit: limit), mentions: mentions) { _ = try txn.get(tooLong) }
        expectBadInput(.keyTooLarge(size: limit + 1, limit: limit), mentions: mentions) { try txn.delete(tooLong) }
        expectBadInput(.keyTooLarge(size: 3 * limit, limit: limit)) {
            try txn.put(Array("v".utf8), forKey: [UInt8](repeating: 1, count: 3 * limit))
        }
        expectBadInput(.keyTooLarge(size: limit + 1, limit: limit)) { try txn.cursor().seek(atLeast: tooLong) }
        let isActive = txn.isActive
        #expect(isActive)
        txn.abort()
        #expect(try RawFileIO.contents(env.path) == before)
        #expect(try BadInputState(env) == state)

        // The limit itself is allowed.
        try env.write { txn in try txn.put(Array("max".utf8), forKey: longest) }
        #expect(try env.read { try $0.get(longest) } == Array("max".utf8))
        try assertClean(env)
    }

    @Test func useAfterCommitOrAbortThrowsTransactionEnded() throws {
        let dir = try TemporaryDirectory("bad-ended")
        let env = try badInputSeeded(dir)

        for ending in ["commit", "abort"] {
            // The transaction itself cannot be used after it ended (that does not compile:
            // MisuseCompileTests); what outlives it, its cursors and entries, throws.
            var txn = try env.beginWrite()
            let cursor = try txn.cursor()
            try txn.put("x", forKey: "during \(ending)")
            var entries = try txn.entries()
            let state = try BadInputState(env)
            if ending == "commit" { try txn.commit() } else { txn.abort() }
            let before = try RawFileIO.contents(env.path)
            let after = try BadInputState(env)
            let mentions = ["ended"]
            expectBadInput(.transactionEnded, mentions: mentions) { try cursor.first() }
            expectBadInput(.transactionEnded, mentions: mentions) { try cursor.put(Array("v".utf8), forKey: Array("k".utf8)) }
            expectBadInput(.transactionEnded, mentions: mentions) { try cursor.delete() }
            expectBadInput(.transactionEnded, mentions: mentions) { _ = try cursor.key }
            expectBadInput(.transactionEnded, mentions: mentions) { _ = try entries.next() }
            #expect(try RawFileIO.contents(env.path) == before)
            #expect(try BadInputState(env) == after)
            if ending == "commit" {
                #expect(after.transactionID == state.transactionID + 1)
            } else {
                #expect(after == state)
            }
        }

        // Read transactions too.
        let reader = try env.beginRead()
        let cursor = try reader.cursor()
        reader.abort()
        expectBadInput(.transactionEnded) { try cursor.next() }
        expectBadInput(.transactionEnded) { _ = try cursor.value }
        try assertClean(env)
    }

    @Test func missingAndInvalidDatabaseNames() throws {
        let dir = try TemporaryDirectory("bad-names")
        let env = try badInputSeeded(dir)
        try env.write { txn in _ = try txn.openDatabase("present", create: true) }
        let before = try RawFileIO.contents(env.path)
        let state = try BadInputState(env)

        try env.read { txn throws in
            expectBadInput(.databaseNotFound(name: "missing"), mentions: ["\"missing\""]) { _ = try txn.openDatabase("missing") }
            expectBadInput(.invalidDatabaseName(name: "", reason: "names must not be empty")) { _ = try txn.openDatabase("") }
            #expect(try txn.databaseNames() == ["present"])
        }
        var txn = try env.beginWrite()
        expectBadInput(.databaseNotFound(name: "missing"), mentions: ["missing"]) { _ = try txn.openDatabase("missing", create: false) }
        let empty = badInputError { _ = try txn.openDatabase("", create: true) }
        guard case .invalidDatabaseName(let name, let reason)? = empty else {
            Issue.record("expected invalidDatabaseName, got \(String(describing: empty))")
            return
        }
        #expect(name.isEmpty)
        #expect(reason.contains("empty"))
        #expect(empty!.description.contains("invalid database name") && empty!.description.contains("empty"), "\(empty!)")
        let long = String(repeating: "n", count: 1025)
        let tooLong = badInputError { _ = try txn.openDatabase(long, create: true) }
        guard case .invalidDatabaseName(let longName, let longReason)? = tooLong else {
            Issue.record("expected invalidDatabaseName, got \(String(describing: tooLong))")
            return
        }
        #expect(longName == long)
        #expect(longReason.contains("1024"), "\(longReason)")
        #expect(tooLong!.description.contains("1024"))
        // A name of 1,024 bytes is fine.
        _ = try txn.openDatabase(String(repeating: "m", count: 1024), create: true)
        // The main database cannot be dropped, only cleared.
        expectBadInput(.invalidDatabaseName(name: "", reason: "the main database cannot be dropped; use clear()")) { try txn.dropDatabase(.main) }
        let isActive = txn.isActive
        #expect(isActive)
        txn.abort()
        #expect(try RawFileIO.contents(env.path) == before)
        #expect(try BadInputState(env) == state)
        try env.read { txn throws in #expect(try txn.databaseNames() == ["present"]) }
    }

    @Test func droppedDatabaseHandleIsNotFound() throws {
        let dir = try TemporaryDirectory("bad-dropped")
        let env = try badInputSeeded(dir)
        let db = try env.write { txn in
            let db = try txn.openDatabase("gone", create: true)
            try txn.put("v", forKey: "k", in: db)
            return db
        }
        try env.write { txn in try txn.dropDatabase(db) }
        let before = try RawFileIO.contents(env.path)
        try env.read { txn in
            expectBadInput(.databaseNotFound(name: "gone"), mentions: ["gone"]) { _ = try txn.get("k", in: db) }
        }
        var txn = try env.beginWrite()
        expectBadInput(.databaseNotFound(name: "gone")) { try txn.put("v", forKey: "k", in: db) }
        txn.abort()
        #expect(try RawFileIO.contents(env.path) == before)
    }

    @Test func keyExistsWithoutOverwrite() throws {
        let dir = try TemporaryDirectory("bad-key-exists")
        let env = try badInputSeeded(dir)
        let state = try BadInputState(env)
        try env.write { txn in
            expectBadInput(.keyExists) { try txn.put("other", forKey: "key 1", overwrite: false) }
            try txn.put("new", forKey: "brand new", overwrite: false)
        }
        #expect(try env.read { try $0.getString("key 1") } == "value 1")
        #expect(try env.read { try $0.getString("brand new") } == "new")
        #expect(try BadInputState(env).transactionID == state.transactionID + 1)
    }

    /// Writing until the map is full: `mapFull` names the limit; the failed transaction changes
    /// nothing; the file still holds exactly what was committed, passes the checker after a reopen,
    /// and takes more writes after deletes free space.
    @Test func mapFullLeavesTheCommittedStateIntact() throws {
        let dir = try TemporaryDirectory("bad-map-full")
        let path = dir.file()
        let limit = 256 * 1024
        let options = Options(maxSize: limit, durability: .noSync)
        var model: [[UInt8]: [UInt8]] = [:]
        var g = SeededGenerator(seed: 0x3AF_F011)
        do {
            let env = try Environment(path: path, options: options)
            var failure: LarchError?
            var round = 0
            while failure == nil && round < 1000 {
                let before = try RawFileIO.contents(path)
                let txnBefore = try env.stats().transactionID
                var batch: [[UInt8]: [UInt8]] = [:]
                failure = badInputError {
                    var txn = try env.beginWrite()
                    for j in 0..<20 {
                        let k = Array("r\(round)-\(j)".utf8)
                        let v = g.bytes(j == 0 ? 5000 : 150)
                        try txn.put(v, forKey: k)
                        batch[k] = v
                    }
                    try txn.commit()
                }
                if failure == nil {
                    model.merge(batch) { $1 }
                } else {
                    // The failed transaction wrote nothing.
                    #expect(try RawFileIO.contents(path) == before)
                    #expect(try env.stats().transactionID == txnBefore)
                }
                round += 1
            }
            print("map full after \(round) transactions, \(model.count) entries: \(String(describing: failure))")
            guard case let .mapFull(limitBytes, requiredBytes)? = failure else {
                Issue.record("expected mapFull, got \(String(describing: failure))")
                return
            }
            #expect(limitBytes == limit)
            #expect(requiredBytes > limit)
            #expect(failure!.description.contains("\(limit)"))
            #expect(failure!.description.contains("maxSize"))
            #expect(try env.stats().fileSizeBytes <= limit)
            #expect(try BadInputState(env).entries == model)
            try assertClean(env)

            // After mapFull part-way, the transaction can only be aborted: every call repeats the error.
            var txn = try env.beginWrite()
            let huge = [UInt8](repeating: 1, count: limit)
            let first = badInputError { try txn.put(huge, forKey: Array("huge".utf8)) }
            guard case .mapFull? = first else {
                Issue.record("expected mapFull for a value larger than the map, got \(String(describing: first))")
                return
            }
            expectBadInput(first!) { try txn.put(Array("v".utf8), forKey: Array("small".utf8)) }
            do {
                try txn.commit()
                Issue.record("a commit after mapFull must fail")
            } catch {
                #expect(error == first!)
            }
            #expect(try BadInputState(env).entries == model)
        }

        let env = try Environment(path: path, options: options)
        #expect(try BadInputState(env).entries == model)
        try assertClean(env)
        #expect(try RawFileIO.size(path) <= limit)
        let reopened = try env.check()
        print("reopened full map: \(reopened)")
        // A full map has almost no free pages, so space is recovered step by step (as in LMDB, a
        // transaction needs free pages for its copy-on-write even to delete): first the overflow
        // values, one per transaction, each giving back its run ...
        let large = model.keys.filter { model[$0]!.count > 1000 }.sorted { keyPrecedes($0, $1) }
        #expect(large.count >= 10)
        for (n, k) in large.enumerated() {
            let deleted = badInputError { try env.write { txn in _ = try txn.delete(k) } }
            #expect(deleted == nil, "deleting large value \(n) from a full map failed: \(String(describing: deleted))")
            if deleted != nil { return }
            model.removeValue(forKey: k)
        }
        let afterLarge = try env.check()
        #expect(afterLarge.freePages >= reopened.freePages + UInt64(large.count))
        // ... then every second small entry, ten per transaction.
        let small = model.keys.sorted { keyPrecedes($0, $1) }.enumerated().filter { $0.offset % 2 == 0 }.map(\.element)
        var batchStart = 0
        while batchStart < small.count {
            let batch = small[batchStart..<min(batchStart + 10, small.count)]
            let deleted = badInputError {
                try env.write { txn throws in
                    for k in batch { #expect(try txn.delete(k)) }
                }
            }
            #expect(deleted == nil, "deleting small keys \(batchStart)..< failed: \(String(describing: deleted))")
            if deleted != nil { return }
            for k in batch { model.removeValue(forKey: k) }
            batchStart += 10
        }
        for round in 0..<5 {
            try env.write { txn in
                for j in 0..<10 {
                    let k = Array("after-\(round)-\(j)".utf8)
                    let v = g.bytes(100)
                    try txn.put(v, forKey: k)
                    model[k] = v
                }
            }
        }
        #expect(try BadInputState(env).entries == model)
        try assertClean(env)
    }

    @Test(arguments: [3000, 131_072, 0, 2048, 4095, 6144])
    func invalidPageSize(pageSize: Int) throws {
        let dir = try TemporaryDirectory("bad-page-size")
        let path = dir.file()
        let error = badInputError { _ = try Environment(path: path, options: Options(pageSize: pageSize)) }
        guard case .invalidOption(let what)? = error else {
            Issue.record("expected invalidOption, got \(String(describing: error))")
            return
        }
        #expect(what.contains("pageSize") && what.contains("\(pageSize)"), "\(what)")
        #expect(error!.description.contains("\(pageSize)"))
        #expect(!FileManager.default.fileExists(atPath: path), "a rejected open must not create the file")
    }

    @Test func otherInvalidOptions() throws {
        let dir = try TemporaryDirectory("bad-options")
        let path = dir.file()
        let readers = badInputError { _ = try Environment(path: path, options: Options(maxReaders: 0)) }
        guard case .invalidOption(let r)? = readers else { Issue.record("maxReaders 0: \(String(describing: readers))"); return }
        #expect(r.contains("maxReaders"))
        let size = badInputError { _ = try Environment(path: path, options: Options(maxSize: 4096)) }
        guard case .invalidOption(let s)? = size else { Issue.record("maxSize 4096: \(String(describing: size))"); return }
        #expect(s.contains("4096"))
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    /// After `close()` (with no transaction open), the file can be opened again even while the
    /// closed object is still referenced.
    @Test func reopeningAfterCloseIsNotLocked() throws {
        let dir = try TemporaryDirectory("bad-reopen-after-close")
        let first = try badInputSeeded(dir)
        let state = try BadInputState(first)
        first.close()
        withExtendedLifetime(first) {
            let reopened = badInputError {
                let second = try Environment(path: first.path)
                #expect(try BadInputState(second) == state)
            }
            #expect(reopened == nil, "opening a file whose Environment was closed failed: \(String(describing: reopened))")
        }
    }

    @Test func closedEnvironmentRefusesNewTransactions() throws {
        let dir = try TemporaryDirectory("bad-closed")
        let path = dir.file()
        var state: BadInputState?
        do {
            let env = try badInputSeeded(dir)
            state = try BadInputState(env)
            let reader = try env.beginRead()
            env.close()
            env.close()   // a second close does nothing
            let before = try RawFileIO.contents(path)
            expectBadInput(.environmentClosed, mentions: ["closed"]) { _ = try env.beginRead() }
            expectBadInput(.environmentClosed, mentions: ["closed"]) { _ = try env.beginWrite() }
            expectBadInput(.environmentClosed) { try env.write { txn in try txn.put("v", forKey: "k") } }
            expectBadInput(.environmentClosed) { try env.sync() }
            expectBadInput(.environmentClosed) { _ = try env.stats() }
            expectBadInput(.environmentClosed) { _ = try env.check() }
            // The reader opened before close still reads its snapshot.
            #expect(try reader.getString("key 3") == "value 3")
            #expect(try reader.entries().map(\.key).count == 50)
            reader.abort()
            #expect(try RawFileIO.contents(path) == before)
        }
        let env = try Environment(path: path)
        #expect(try BadInputState(env) == state)
        try assertClean(env)
    }

    /// `close()` while a write transaction is open on another thread waits for it to end (its
    /// commit lands); afterwards new transactions throw `environmentClosed` at once.
    @Test func closeWaitsForTheOpenWriter() throws {
        let dir = try TemporaryDirectory("bad-closed-writer")
        let path = dir.file()
        let writerOpen = DispatchSemaphore(value: 0)
        let writerMayCommit = DispatchSemaphore(value: 0)
        let closed = DispatchSemaphore(value: 0)
        let log = Mutex<[String]>([])
        do {
            let env = try badInputSeeded(dir)
            let group = DispatchGroup()
            group.enter()
            Thread {
                defer { group.leave() }
                do {
                    var txn = try env.beginWrite()
                    try txn.put("committed during close", forKey: "late")
                    writerOpen.signal()
                    _ = writerMayCommit.wait(timeout: .now() + 30)
                    log.withLock { $0.append("committing") }
                    try txn.commit()
                    log.withLock { $0.append("committed") }
                } catch {
                    writerOpen.signal()
                    log.withLock { $0.append("writer failed: \(error)") }
                }
            }.start()
            #expect(writerOpen.wait(timeout: .now() + 30) == .success)
            group.enter()
            Thread {
                defer { group.leave() }
                env.close()
                log.withLock { $0.append("closed") }
                closed.signal()
            }.start()
            // close() is waiting for the writer.
            #expect(closed.wait(timeout: .now() + 0.3) == .timedOut, "close() returned while a write transaction was open")
            writerMayCommit.signal()
            #expect(closed.wait(timeout: .now() + 30) == .success)
            #expect(group.wait(timeout: .now() + 30) == .success)
            let events = log.withLock { $0 }
            // close() waited for the commit to start and finish; "committed" is logged after the
            // writer lock is released, so it may come after "closed".
            #expect(events.first == "committing" && events.sorted() == ["closed", "committed", "committing"], "\(events)")
            // Once closed, new transactions fail at once.
            let t0 = Date()
            expectBadInput(.environmentClosed) { _ = try env.beginWrite() }
            expectBadInput(.environmentClosed) { _ = try env.beginRead() }
            #expect(Date().timeIntervalSince(t0) < 1)
        }
        let env = try Environment(path: path)
        #expect(try env.read { try $0.getString("late") } == "committed during close")
        try assertClean(env)
    }

    @Test func readOnlyEnvironmentReadsButDoesNotWrite() throws {
        let dir = try TemporaryDirectory("bad-read-only")
        let path = dir.file()
        var state: BadInputState?
        do {
            let env = try badInputSeeded(dir)
            state = try BadInputState(env)
        }
        let before = try RawFileIO.contents(path)
        do {
            let env = try Environment(path: path, options: Options(readOnly: true))
            expectBadInput(.readOnlyEnvironment, mentions: ["read-only"]) { _ = try env.beginWrite() }
            expectBadInput(.readOnlyEnvironment) { try env.write { txn in try txn.put("v", forKey: "k") } }
            #expect(try BadInputState(env) == state)
            #expect(try env.read { try $0.getString("key 7") } == "value 7")
            try assertClean(env)
            // A second read-only environment may share the file.
            let second = try Environment(path: path, options: Options(readOnly: true))
            #expect(try BadInputState(second) == state)
        }
        #expect(try RawFileIO.contents(path) == before)
        // Read-only never creates a file.
        let missing = dir.file("missing.larch")
        #expect(throws: LarchError.self) { try Environment(path: missing, options: Options(readOnly: true)) }
        #expect(!FileManager.default.fileExists(atPath: missing))
    }
}
