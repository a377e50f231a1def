import Foundation
import Testing
@testable import Larch
import LarchCrashLab

/// Real process kills: `larch-crashlab child` commits the workload in a loop and prints each
/// acknowledged commit; it is SIGKILLed at a random moment, and the parent reopens the file.
/// The file must open with no recovery, pass the checker, hold at least the last acknowledged
/// commit (at most the one in progress), and that commit's exact contents.
@Suite(.serialized) struct KillTests {
    static let seed: UInt64 = 0xC0FFEE

    /// The directory holding the built products (the test bundle and the executables).
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    @Test func sigkillAtRandomMomentsNeverLosesAnAcknowledgedCommit() throws {
        let child = Self.productsDirectory.appendingPathComponent("larch-crashlab")
        #expect(FileManager.default.isExecutableFile(atPath: child.path), "built child at \(child.path)")
        let workload = Workload(seed: Self.seed, transactionCount: 1_500)
        var g = SplitMix(seed: 42)
        let kills = 60 * crashScale
        var verified = 0
        var maxAck: UInt64 = 0
        for round in 0..<kills {
            let dir = try TemporaryDirectory("kill")
            let path = dir.file()
            let process = Process()
            process.executableURL = child
            process.arguments = ["child", path, String(Self.seed)]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            usleep(UInt32(30_000 + Int(g.next() % 300_000)))   // 30–330 ms
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let acked = text.split(separator: "\n").compactMap { $0.hasPrefix("ack ") ? UInt64($0.dropFirst(4)) : nil }.last ?? 1
            maxAck = max(maxAck, acked)
            let env = try Environment(path: path)
            let report = try env.check()
            #expect(report.isClean, "round \(round): \(report)")
            let txn = report.transactionID
            #expect(txn >= acked && txn <= acked + 1, "round \(round): opened at \(txn), child acknowledged \(acked)")
            let index = txn <= 1 ? 0 : Int(txn - 1)
            if index < workload.models.count {
                let found = try Model.read(env)
                let expected = workload.models[index]
                if found != expected {
                    let counts = { (m: Model) in m.databases.map { "\($0.key ?? "main"): \($0.value.count)" }.sorted().joined(separator: ", ") }
                    Issue.record("round \(round): contents of transaction \(txn) differ from that commit: found [\(counts(found))], expected [\(counts(expected))]")
                }
            } else {
                Issue.record("round \(round): transaction \(txn) is beyond the generated workload; raise transactionCount")
            }
            env.close()
            verified += 1
        }
        print("real kills: \(verified) SIGKILLs verified, up to transaction \(maxAck) acknowledged")
        #expect(verified >= 50)
        #expect(maxAck > 5, "the child got far enough to commit")
    }
}
