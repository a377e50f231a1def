import ArgumentParser
import Larch
import LarchCrashLab
import LarchDumpFormat
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `larch demo`: Larch's main job, end to end, in numbers.
struct DemoCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Load a million keys, read them back, overwrite some, check, and show what a crash leaves.",
        discussion: """
            Works in a new temporary directory (removed afterwards unless --keep). Every commit is \
            durable (synced). Prints throughput, the pages and bytes each commit wrote (copy-on-write's \
            write amplification, in numbers), the result of a full check, and then what a crash in the \
            middle of a commit leaves behind, on a simulated disk with a volatile write cache.

            Examples:
              larch demo
              larch demo --keys 100000 --keep
            """)

    @Option(name: .long, help: "How many keys to load.")
    var keys = 1_000_000
    @Option(name: .long, help: "Keys per transaction while loading.")
    var batch = 10_000
    @Option(name: .long, help: ArgumentHelp("Where to create the temporary directory.", valueName: "dir"))
    var dir: String?
    @Flag(name: .long, help: "Keep the database file and print its path.")
    var keep = false
    @Option(name: .long, help: "Seed of the key order.")
    var seed: UInt64 = 1

    func validate() throws {
        guard keys >= 1_000 else { throw ValidationError("--keys must be at least 1000") }
        guard batch >= 1 else { throw ValidationError("--batch must be at least 1") }
    }

    static func key(_ i: Int) -> [UInt8] {
        let digits = String(i)
        return Array(("user:" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits).utf8)
    }

    static func value(_ i: Int, round: Int) -> [UInt8] {
        Array("{\"id\":\(i),\"round\":\(round),\"name\":\"user number \(i)\",\"active\":true}".utf8)
    }

    func execute() throws {
        var template = Array(((dir ?? (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")) + "/larch-demo-XXXXXX").utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw CLIError("cannot create a temporary directory: \(String(cString: strerror(errno)))")
        }
        let directory = String(cString: made)
        let path = directory + "/demo.larch"
        defer {
            if !keep {
                unlink(path)
                unlink(path + "-lock")
                rmdir(directory)
            }
        }
        try run(path: path)
        if keep { say("\nThe database is at \(path)") }
    }

    private func say(_ line: String) { printLine(line) }

    private func run(path: String) throws {
        func g<T: BinaryInteger>(_ n: T) -> String { Formatting.grouped(n) }
        let clock = ContinuousClock()
        let env = try Environment(path: path)
        say("Larch demo: \(g(keys)) keys in \(path)")
        say("Keys look like \"\(String(decoding: Self.key(42), as: UTF8.self))\", values like \(String(decoding: Self.value(42, round: 0), as: UTF8.self)).")
        say("Every commit below is durable: its pages and meta page written, then one sync.\n")

        var order = Array(0..<keys)
        var rng = SplitMix(seed: seed)
        order.shuffle(using: &rng)

        // 1. Load.
        say("1. Load \(g(keys)) keys in random order, \(g(batch)) per transaction")
        var bar = ProgressBar(label: "loading", total: keys)
        var commits = 0, pagesWritten = 0, bytesWritten = 0, logical = 0
        let loadTime = try clock.measure {
            var done = 0
            while done < keys {
                let end = min(done + batch, keys)
                try env.write { txn in
                    for i in order[done..<end] {
                        let k = Self.key(i), v = Self.value(i, round: 0)
                        try txn.put(v, forKey: k)
                        logical += k.count + v.count
                    }
                }
                let c = env.lastCommit!
                commits += 1
                pagesWritten += c.pagesWritten
                bytesWritten += c.bytesWritten
                done = end
                bar.update(done)
            }
        }
        bar.finish()
        let loadSeconds = Formatting.seconds(loadTime)
        say("   \(Formatting.rate(keys, seconds: loadSeconds)) (\(Formatting.fixed(loadSeconds, 2)) s); \(g(commits)) commits wrote \(g(pagesWritten)) pages, " +
            "\(g(pagesWritten / commits)) per commit")
        say("   \(Formatting.bytes(bytesWritten)) written for \(Formatting.bytes(logical)) of keys and values: " +
            "write amplification \(Formatting.fixed(Double(bytesWritten) / Double(logical), 1))×")

        // 2. Read back.
        order.shuffle(using: &rng)
        bar = ProgressBar(label: "reading", total: keys)
        var found = 0
        let readTime = try clock.measure {
            try env.read { txn in
                for (n, i) in order.enumerated() {
                    if try txn.contains(Self.key(i)) { found += 1 }
                    if n % 10_000 == 0 { bar.update(n) }
                }
            }
        }
        bar.finish()
        say("2. Read every key back in another random order: \(g(found)) of \(g(keys)) found, " +
            "\(Formatting.rate(keys, seconds: Formatting.seconds(readTime)))")
        guard found == keys else { throw CLIError("\(keys - found) keys were not found") }

        // 3. Scan.
        var scanned = 0
        let scanTime = try clock.measure {
            try env.read { txn in try txn.forEach { _, _ in scanned += 1; return true } }
        }
        say("3. Scan in key order: \(g(scanned)) entries, \(Formatting.rate(scanned, seconds: Formatting.seconds(scanTime)))")

        // 4. Overwrites.
        let overwrites = min(10_000, keys / 10)
        let perTxn = 1_000
        var owPages = 0, owBytes = 0, owLogical = 0, owCommits = 0
        let owTime = try clock.measure {
            for start in stride(from: 0, to: overwrites, by: perTxn) {
                try env.write { txn in
                    for i in order[start..<min(start + perTxn, overwrites)] {
                        let k = Self.key(i), v = Self.value(i, round: 1)
                        try txn.put(v, forKey: k)
                        owLogical += k.count + v.count
                    }
                }
                owPages += env.lastCommit!.pagesWritten
                owBytes += env.lastCommit!.bytesWritten
                owCommits += 1
            }
        }
        say("4. Overwrite \(g(overwrites)) random keys, \(g(perTxn)) per transaction: \(Formatting.rate(overwrites, seconds: Formatting.seconds(owTime))); " +
            "\(g(owPages / owCommits)) pages per commit, amplification \(Formatting.fixed(Double(owBytes) / Double(owLogical), 1))×")
        let depth = try env.read { try $0.stats().depth }
        say("   One key per transaction (tree depth \(depth)): copy-on-write rewrites the path from leaf to root")
        for i in order.suffix(3) {
            let k = Self.key(i), v = Self.value(i, round: 2)
            try env.write { txn in try txn.put(v, forKey: k) }
            let c = env.lastCommit!
            say("   txn \(c.transactionID): \(k.count + v.count) bytes changed → \(c.pagesWritten) pages + meta = \(g(c.bytesWritten)) bytes " +
                "(\(g(c.bytesWritten / (k.count + v.count)))×), \(c.syncs) syncs")
        }

        // 5. Check.
        let stats = try env.stats()
        let checkStart = clock.now
        let report = try env.check()
        let checkSeconds = Formatting.seconds(clock.now - checkStart)
        say("5. Check the whole file (every page, checksum, key order, free extent): " +
            (report.isClean ? "clean" : "\(report.problems.count) PROBLEMS") + " in \(Formatting.fixed(checkSeconds, 2)) s")
        say("   \(Formatting.bytes(stats.fileSizeBytes)), \(g(stats.pageCount)) pages: \(g(report.reachablePages)) in the trees, " +
            "\(g(stats.freePages)) free, \(g(stats.pagesAwaitingReuse)) awaiting reuse; transaction \(stats.transactionID)")
        guard report.isClean else { throw CLIError("check found problems:\n\(report)") }
        env.close()

        // 6. Crash.
        say("6. A crash in the middle of a commit, on a simulated disk whose write cache a crash can lose or tear:")
        for line in try CrashDemo.run() { say("   " + line) }
    }
}
