import Foundation
import Synchronization
import Testing
@testable import Larch
import LarchCrashLab
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The lock file under processes that die or open at awkward moments (found by a helper killing
/// processes at random): an open during another process's commit, a rebuild cut short, a waiting
/// writer killed.
@Suite struct LockFileRecoveryTests {
    static func scratchFile(_ label: String) throws -> String {
        let dir = NSTemporaryDirectory() + "larch-lockrec-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir + "/l.larch"
    }

    /// A read-only open while another writer's sync runs used to read that writer's commit at once
    /// — before any sync covered it, so a power loss could take back what it had shown. It now
    /// syncs first, as a writable open does, and publishes the commit.
    @Test func aReadOnlyOpenSyncsACommitBeforeShowingIt() throws {
        let path = try Self.scratchFile("ro")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let writerDevice = FaultInjectingDevice(try DataFile.open(path: path, create: true, readOnly: false))
        let writer = try Environment(storage: writerDevice, options: Options(durability: .full))
        try writer.write { try $0.put("old", forKey: "k") }
        writerDevice.syncDelayMicroseconds.store(1_500_000, ordering: .relaxed)   // the next sync takes 1.5 s
        let committed = Atomic<Bool>(false)
        let thread = Thread {
            try! writer.write { try $0.put("new", forKey: "k") }
            committed.store(true, ordering: .relaxed)
        }
        thread.start()
        usleep(400_000)   // its meta is written; its sync sleeps
        let early = committed.load(ordering: .relaxed)
        #expect(!early)
        let readerDevice = FaultInjectingDevice(try DataFile.open(path: path, create: false, readOnly: true))
        let reader = try Environment(storage: readerDevice, options: Options(readOnly: true))
        let seen = try reader.read { try $0.getString("k") }
        #expect(seen == "old" || readerDevice.count(.sync) == 1, "it read \(seen ?? "nil") without a sync covering it")
        #expect(seen == "new", "it synced the commit and read it")
        while !committed.load(ordering: .relaxed) { usleep(10_000) }
        #expect(try reader.read { try $0.getString("k") } == "new")
        reader.close()
        writer.close()
    }

    /// A process that died while rebuilding the lock file (holding it exclusively) left it half
    /// made; a process that waited to share it then failed with "not a Larch lock file of this
    /// version; ... remove it". It now tries again and rebuilds it.
    @Test func anOpenRebuildsALockFileWhoseRebuildWasCutShort() throws {
        let path = try Self.scratchFile("rebuild")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        do { let env = try Environment(path: path); try env.write { try $0.put("v", forKey: "k") }; env.close() }
        // "Another process" takes the lock file exclusively and leaves it half written.
        let fd = open(path + "-lock", O_RDWR)
        #expect(fd >= 0)
        #expect(flock(fd, LOCK_EX) == 0)
        #expect(ftruncate(fd, 0) == 0)
        #expect(write(fd, "LARCH", 5) == 5)
        let opened = Atomic<Int>(0)   // 1: opened and read, 2: failed
        let thread = Thread {
            do {
                let env = try Environment(path: path)
                opened.store(try env.read { try $0.getString("k") } == "v" ? 1 : 2, ordering: .relaxed)
                env.close()
            } catch {
                print("open failed: \(error)")
                opened.store(2, ordering: .relaxed)
            }
        }
        thread.start()
        usleep(200_000)   // it waits for the lock file
        close(fd)         // "the other process" dies
        let deadline = ContinuousClock.now + .seconds(10)
        while opened.load(ordering: .relaxed) == 0 && ContinuousClock.now < deadline { usleep(10_000) }
        let outcome = opened.load(ordering: .relaxed)
        #expect(outcome == 1)
    }

    /// A writer killed while it waited for the writer lock never took its count of waiting writers
    /// back, and every holder then gave the lock up after each 5 ms turn for no one. A holder that
    /// gives it up and sees no one take it for 20 ms now takes those writers off the count.
    @Test func writersKilledWhileWaitingAreForgotten() throws {
        let path = try Self.scratchFile("waiting")
        defer { try? FileManager.default.removeItem(atPath: (path as NSString).deletingLastPathComponent) }
        let env = try Environment(path: path, options: Options(durability: .full))
        for _ in 0..<3 { env.readers.writerWaiting(+1) }   // three waiters, then killed: never taken back
        #expect(env.readers.writersWaiting == 3)
        // A writer holds the file's writer lock for more than a turn (5 ms); the next writer of the
        // process, taking the turn while that commit waits for its sync, gives the lock up for the
        // writers counted, and no one takes it.
        let first = Thread { try! env.write { txn in try txn.put("a", forKey: "k1"); usleep(20_000) } }
        first.start()
        usleep(5_000)
        try env.write { try $0.put("b", forKey: "k2") }
        while first.isExecuting { usleep(1_000) }
        #expect(env.readers.writersWaiting == 0)
        // A live waiter still counts, and never drives the count below zero.
        env.readers.writerWaiting(+1)
        env.readers.writerWaiting(-1)
        env.readers.writerWaiting(-1)
        #expect(env.readers.writersWaiting == 0)
        env.close()
    }
}
