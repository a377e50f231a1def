import Foundation
import Synchronization
import Testing
import Larch

// Issue 11: the CLI on a database that another process has open — this test process, holding an
// environment and a read transaction — and several `larch` processes writing at once.
@Suite struct SharedFileCommandTests {
    @Test(.timeLimit(.minutes(3)))
    func commandsWorkOnADatabaseAnotherProcessHasOpen() throws {
        let s = try Scratch("shared")
        let path = s.file("db.larch")
        let env = try Environment(path: path, options: Options(durability: .noSync))
        try env.write { txn in for i in 0..<100 { try txn.put("v\(i)", forKey: "k\(i)") } }
        let pinned = try env.beginRead()

        try CLI.larchOK(["put", path, "from-cli", "hello"], in: s)
        #expect(try env.read { try $0.getString("from-cli") } == "hello", "a commit of another process is seen")
        #expect(try pinned.getString("from-cli") == nil, "an open read transaction keeps its snapshot")
        #expect(try CLI.larchOK(["get", path, "k5"], in: s).text == "v5\n")
        #expect(try CLI.larchOK(["scan", path, "--limit", "2"], in: s).text == "from-cli\thello\nk0\tv0\n")
        #expect(try CLI.larchOK(["stat", path], in: s).text.contains("entries"))
        try CLI.larchOK(["check", path], in: s)
        try CLI.larchOK(["copy", path, s.file("copy.larch")], in: s)
        try CLI.larchOK(["del", path, "k0"], in: s)
        #expect(try pinned.getString("k0") == "v0")
        let listed = try CLI.larchOK(["readers", path, "--json"], in: s).text
        #expect(listed.contains("\"pid\" : \(getpid())") && listed.contains("\"lag\" : 2"), "\(listed)")
        #expect(try CLI.larchOK(["readers", path], in: s).text.contains("pid \(getpid()): snapshot \(pinned.snapshotID)"))
        pinned.abort()
        #expect(try CLI.larchOK(["readers", path, "--clear-stale"], in: s).text == "Cleared 0 stale reader slot(s).\nNo readers.\n")

        // Four processes at a time, each committing its own keys; this process writes meanwhile.
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 4) { w in
            for i in 0..<15 {
                do {
                    let r = try CLI.larch(["put", path, "p\(w)-\(i)", "w\(w)"], in: s)
                    if r.status != 0 { failures.withLock { $0.append("p\(w)-\(i): \(r.status) \(r.stderr)") } }
                } catch {
                    failures.withLock { $0.append("p\(w)-\(i): \(error)") }
                }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        try env.read { txn throws in
            for w in 0..<4 { for i in 0..<15 { #expect(try txn.getString("p\(w)-\(i)") == "w\(w)") } }
            #expect(try txn.stats().entries == 100 + 1 - 1 + 60)
        }
        #expect(try env.check().isClean)
    }

    /// A writing command waits for another process's write transaction, for at most `--wait` seconds.
    @Test(.timeLimit(.minutes(1)))
    func writingCommandsWaitForTheWriter() throws {
        let s = try Scratch("shared-wait")
        let path = s.file("db.larch")
        let env = try Environment(path: path, options: Options(durability: .noSync))
        var held = try env.beginWrite()
        try held.put("parent", forKey: "k")
        let start = ContinuousClock.now
        let busy = try CLI.larch(["put", path, "k", "child", "--wait", "0.3"], in: s)
        #expect(busy.status != 0 && busy.stderr.contains("writer busy"), "\(busy.status) \(busy.stderr)")
        #expect(ContinuousClock.now - start < .seconds(10))
        // A child that waits gets its turn when this process commits.
        let result = Mutex<CommandResult?>(nil)
        let finished = DispatchSemaphore(value: 0)
        Thread {
            let r = try? CLI.larch(["put", path, "k", "child", "--wait", "20"], in: s)
            result.withLock { $0 = r }
            finished.signal()
        }.start()
        usleep(300_000)
        try held.commit()
        finished.wait()
        #expect(result.withLock { $0?.status } == 0, "\(String(describing: result.withLock { $0?.stderr }))")
        #expect(try env.read { try $0.getString("k") } == "child")
    }
}
