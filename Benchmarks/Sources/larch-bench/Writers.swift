import Dispatch
// Workload 12 (issue 12): durable one-put commits from many writers at once.
//
// Each repetition preloads N keys into a new database of every engine (unsynced), closes, syncs
// and reopens each one durable. Then, for 1, 4 and 16 writers in turn, every engine — and the
// fdatasync probe that measures the file system's own limit — runs for the same time, split into
// short slices taken in turns (the order rotating each round): the disk of a shared machine
// changes its fsync rate by 30× from one few-second stretch to the next, so each engine gets
// its share of every stretch. In a slice the writers commit one-put transactions of new random
// keys until the slice's time is up, each timing its own commits; the rate counts the commits
// that ended within the slice's time, and the commits still waiting then finish uncounted (their
// latencies and syncs still count).
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CSyncCount
import Synchronization

/// How the writers of a phase run.
enum WriterDriver: String, CaseIterable, Sendable {
    /// One OS thread per writer (`BenchThread`), each calling its engine's blocking commit; a
    /// waiting writer blocks its thread (Larch: `Environment.write`).
    case threads
    /// One Swift task per writer on the default executor, each calling its engine's async commit
    /// (Larch: `try await env.write { txn in ... }`, which suspends — never blocks a pool thread —
    /// while another writer commits or the sync runs). Engines without an async API are skipped.
    case tasks

    var title: String {
        switch self {
        case .threads: return "threads"
        case .tasks: return "tasks"
        }
    }
}

/// One row of workload 12's table: a driver and a writer count.
struct WritersKey: Hashable, Comparable, Sendable {
    var driver: WriterDriver
    var writers: Int
    static func < (a: WritersKey, b: WritersKey) -> Bool {
        (a.driver.rawValue, a.writers) < (b.driver.rawValue, b.writers)
    }
}

/// The sync calls of a phase (differences of `larch_sync_counts()`).
struct SyncCounts: Sendable {
    var fsync = 0, fdatasync = 0, syncFileRange = 0, msync = 0, dsyncWrites = 0

    static func now() -> SyncCounts {
        let c = larch_sync_counts()
        return SyncCounts(fsync: c.fsync, fdatasync: c.fdatasync, syncFileRange: c.syncFileRange, msync: c.msync, dsyncWrites: c.dsyncWrites)
    }

    static func + (a: SyncCounts, b: SyncCounts) -> SyncCounts {
        SyncCounts(fsync: a.fsync + b.fsync, fdatasync: a.fdatasync + b.fdatasync, syncFileRange: a.syncFileRange + b.syncFileRange,
                   msync: a.msync + b.msync, dsyncWrites: a.dsyncWrites + b.dsyncWrites)
    }

    static func - (a: SyncCounts, b: SyncCounts) -> SyncCounts {
        SyncCounts(fsync: a.fsync - b.fsync, fdatasync: a.fdatasync - b.fdatasync, syncFileRange: a.syncFileRange - b.syncFileRange,
                   msync: a.msync - b.msync, dsyncWrites: a.dsyncWrites - b.dsyncWrites)
    }

    /// Calls that wait until data is on stable storage: fsync, fdatasync, msync(MS_SYNC) and
    /// writes through O_DSYNC descriptors (LMDB and Larch write their meta page that way).
    var durable: Int { fsync + fdatasync + msync + dsyncWrites }
    var flushCalls: Int { fsync + fdatasync + msync }
}

/// One engine at one writer count in one repetition: the sum of its slices.
struct WritersSample: Sendable {
    /// The slices' time, and the commits that ended within it.
    var seconds = 0.0
    var commits = 0
    /// Every commit, with those that ended after the slices' time (the ones waiting at its end):
    /// what syncs and bytes are divided by.
    var allCommits = 0
    var p50 = Double.nan
    var p99 = Double.nan
    /// nil when the process's sync calls cannot be counted (see `larch_sync_interposed`).
    var syncs: SyncCounts? = SyncCounts()
    /// Deltas of /proc/self/io: `write_bytes` (bytes the process sent towards the disk, counted
    /// as it dirties page-cache pages) and `wchar` (bytes passed to write(2) and friends).
    var writeBytes: Int? = 0
    var wchar: Int? = 0
    var commitsPerSecond: Double { Double(commits) / max(seconds, 1e-12) }
}

struct WritersResults {
    var samples: [WritersKey: [EngineKind: [WritersSample]]] = [:]
    /// fdatasyncs per second of the directory's file system, one per repetition (its probe's slices
    /// taken in turns with the engines').
    var physical: [Double] = []
    var engines: [EngineKind] = []
    var preloadKeys = 0
    /// Each engine's time at each writer count in a repetition, and the slices it is cut into.
    var seconds = 0.0
    var slices = 0
    var reps = 0
    var dir = ""
    var date = ""
    var syncCounting = false

    func median(_ key: WritersKey, _ e: EngineKind, _ f: (WritersSample) -> Double?) -> Double? {
        let xs = (samples[key]?[e] ?? []).compactMap(f)
        return xs.isEmpty ? nil : larchBenchMedian(xs)
    }

    func rate(_ e: EngineKind, _ writers: Int, _ driver: WriterDriver = .threads) -> Double? {
        median(WritersKey(driver: driver, writers: writers), e) { $0.commitsPerSecond }
    }
}

/// `median` under another name, for use inside types that have a `median` method of their own.
func larchBenchMedian(_ xs: [Double]) -> Double { median(xs) }

enum WritersWorkload {
    static let writerCounts = [1, 4, 16]

    /// Runs every repetition of workload 12.
    static func run(_ c: Config, ctx: Context) throws -> WritersResults {
        var r = WritersResults()
        r.engines = c.engines.filter { $0.supports(.writers) }
        r.preloadKeys = ctx.p.keys
        r.seconds = c.writerSeconds ?? (c.quick ? 0.1 : 1.0)
        r.slices = c.quick ? 2 : 4
        r.reps = c.reps
        r.dir = c.dir
        r.date = today()
        r.syncCounting = larch_sync_interposed() == 1
        if !r.syncCounting { log("  sync calls cannot be counted here (CSyncCount's functions are not the ones libraries call): the report shows n/a") }
        let drivers: [WriterDriver] = [.threads, .tasks]
        let keySeed = ctx.keys.seed ^ 0x7772_6974_6572_7321
        let slice = r.seconds / Double(r.slices)

        for rep in 0..<c.reps {
            var open: [EngineKind: (engine: any Engine, dir: String)] = [:]
            let probe = try FdatasyncProbe(dir: c.dir)
            defer {
                probe.close()
                for (_, o) in open {
                    try? o.engine.close()
                    removeDir(o.dir)
                }
            }
            for e in r.engines { open[e] = try preload(e, ctx: ctx) }

            // Every engine's writers take new keys from its own count, so all see the same keys.
            var nextKey: [EngineKind: Int] = [:]
            var probeSyncs = 0, probeSeconds = 0.0
            let participants: [EngineKind?] = r.engines.map { $0 } + [nil]   // nil: the probe
            for driver in drivers {
                for writers in writerCounts {
                    var acc: [EngineKind: WritersSample] = [:]
                    var latencies: [EngineKind: [Double]] = [:]
                    for round in 0..<r.slices {
                        let shift = rep + round
                        for k in 0..<participants.count {
                            flushFileSystems()
                            guard let e = participants[(k + shift) % participants.count] else {
                                let (n, t, counted) = try probe.run(seconds: slice)
                                probeSyncs += n
                                probeSeconds += t
                                if !counted && r.syncCounting {
                                    r.syncCounting = false
                                    log("  the sync counter missed the probe's fdatasyncs: the report shows n/a")
                                }
                                continue
                            }
                            if driver == .tasks && !e.hasAsyncWriters { continue }
                            let s = try runWritersSlice(open[e]!.engine, driver: driver, writers: writers, seconds: slice,
                                                        firstKey: nextKey[e, default: 0], keySeed: keySeed, values: ctx.keys,
                                                        counting: r.syncCounting)
                            nextKey[e, default: 0] += s.allCommits
                            latencies[e, default: []] += s.latencies
                            acc[e, default: WritersSample()].add(s)
                        }
                    }
                    for e in r.engines {
                        guard var s = acc[e] else { continue }
                        var l = latencies[e] ?? []
                        l.sort()
                        s.p50 = percentile(l, 0.50)
                        s.p99 = percentile(l, 0.99)
                        r.samples[WritersKey(driver: driver, writers: writers), default: [:]][e, default: []].append(s)
                        let syncs = s.syncs.map { fixed(Double($0.durable) / Double(max(s.allCommits, 1)), 2) } ?? "n/a"
                        log("  rep \(rep + 1) \(e.rawValue) \(writers) writer\(writers == 1 ? "" : "s") (\(driver.title)): " +
                            "\(compact(s.commitsPerSecond)) commits/s (\(s.commits) in \(fixed(s.seconds, 2)) s), p50 \(latencyString(s.p50)), " +
                            "p99 \(latencyString(s.p99)), \(syncs) syncs/commit")
                    }
                }
            }
            let rate = Double(probeSyncs) / max(probeSeconds, 1e-12)
            r.physical.append(rate)
            log("  rep \(rep + 1) physical limit: \(compact(rate)) fdatasyncs/s (\(probeSyncs) in \(fixed(probeSeconds, 2)) s)")
            // Every commit is there: the preloaded keys and every slice's new ones.
            for e in r.engines {
                let found = try open[e]!.engine.scan().found
                let expected = ctx.p.keys + nextKey[e, default: 0]
                guard found == expected else {
                    throw BenchError("\(e.displayName): \(found) entries after workload 12, expected \(expected)")
                }
            }
        }
        return r
    }

    /// A new database of `kind` with the N keys (in key order, transactions of 10,000, unsynced),
    /// closed, synced to disk, and reopened durable.
    static func preload(_ kind: EngineKind, ctx: Context) throws -> (engine: any Engine, dir: String) {
        let dir = try makeTempDir(in: ctx.baseDir, prefix: "larch-bench-writers-\(kind.rawValue)")
        do {
            let loader = try kind.open(dir: dir, durable: false, keys: ctx.keys)
            do {
                try chunks(ctx.sequential, ctx.p.keys, size: 10_000) {
                    try loader.putBatch($0, round: 0, valueSize: KeySet.valueSize, append: true)
                }
                if let rocks = loader as? RocksDBEngine { try rocks.flush() }
            } catch {
                try? loader.close()
                throw error
            }
            try loader.close()
            flushFileSystems()
            let engine = try kind.open(dir: dir, durable: true, keys: ctx.keys)
            let found = try engine.scan().found   // also brings the pages into the cache
            guard found == ctx.p.keys else {
                try? engine.close()
                throw BenchError("\(kind.displayName): preload scan found \(found) of \(ctx.p.keys) entries")
            }
            return (engine, dir)
        } catch {
            removeDir(dir)
            throw error
        }
    }
}

extension WritersSample {
    mutating func add(_ s: WritersSlice) {
        seconds += s.seconds
        commits += s.commits
        allCommits += s.allCommits
        syncs = syncs.flatMap { a in s.syncs.map { a + $0 } }
        writeBytes = writeBytes.flatMap { a in s.writeBytes.map { a + $0 } }
        wchar = wchar.flatMap { a in s.wchar.map { a + $0 } }
    }
}

/// One slice of one engine.
struct WritersSlice {
    var seconds: Double
    var commits: Int
    var allCommits: Int
    var latencies: [Double]
    var syncs: SyncCounts?
    var writeBytes: Int?
    var wchar: Int?
}

private final class SliceState: Sendable {
    let tickets = Atomic<Int>(0)
    let ready = Atomic<Int>(0)
    let go = Atomic<Bool>(false)
    let stop = Atomic<Bool>(false)
}

private struct WriterOutcome: Sendable {
    var latencies: [Double] = []
    var ends: [Double] = []
    var error: String?
}

/// One slice: `writers` writers commit one put each transaction, of the new keys numbered from
/// `firstKey` on (taken by ticket), until `seconds` have passed. The commits that ended by then
/// make the rate; those still waiting then finish, and count for latency, syncs and bytes.
func runWritersSlice(_ engine: any Engine, driver: WriterDriver, writers: Int, seconds: Double, firstKey: Int, keySeed: UInt64,
                     values: KeySet, counting: Bool) throws -> WritersSlice {
    let handles = try (0..<writers).map { _ in try engine.makeDurableWriter() }
    defer { for h in handles { h.close() } }
    let state = SliceState()
    let outcomes = (0..<writers).map { _ in ThreadResult<WriterOutcome>() }

    var spawned: [BenchThread] = []
    let tasksDone = DispatchGroup()
    switch driver {
    case .threads:
        for t in 0..<writers {
            let writer = handles[t], result = outcomes[t]
            spawned.append(try BenchThread {
                var o = WriterOutcome()
                o.latencies.reserveCapacity(4_096)
                o.ends.reserveCapacity(4_096)
                let key = UnsafeMutableRawBufferPointer.allocate(byteCount: KeySet.keySize, alignment: 8)
                defer { key.deallocate() }
                let keyBytes = UnsafeBufferPointer(key.bindMemory(to: UInt8.self))
                state.ready.add(1, ordering: .releasing)
                while !state.go.load(ordering: .acquiring) { sleepSeconds(0.000_05) }
                while !state.stop.load(ordering: .relaxed) {
                    let i = firstKey + state.tickets.add(1, ordering: .relaxed).oldValue
                    KeySet.streamKey(i, seed: keySeed, into: key.baseAddress!)
                    let value = values.value(i, round: 12)
                    let t0 = now()
                    do { try writer.put(key: keyBytes, value: value) } catch {
                        o.error = "\(error)"
                        state.stop.store(true, ordering: .relaxed)   // the others stop too
                        break
                    }
                    let t1 = now()
                    o.latencies.append(t1 - t0)
                    o.ends.append(t1)
                }
                result.set(o)
            })
        }
    case .tasks:
        for t in 0..<writers {
            guard let writer = handles[t] as? any AsyncDurableWriter else { throw BenchError("no async writer for this engine") }
            let result = outcomes[t]
            tasksDone.enter()
            Task.detached {
                var o = WriterOutcome()
                o.latencies.reserveCapacity(4_096)
                o.ends.reserveCapacity(4_096)
                var key = [UInt8](repeating: 0, count: KeySet.keySize)
                state.ready.add(1, ordering: .releasing)
                while !state.go.load(ordering: .acquiring) { try? await Task.sleep(for: .microseconds(50)) }
                while !state.stop.load(ordering: .relaxed) {
                    let i = firstKey + state.tickets.add(1, ordering: .relaxed).oldValue
                    key.withUnsafeMutableBytes { KeySet.streamKey(i, seed: keySeed, into: $0.baseAddress!) }
                    let value = Array(values.value(i, round: 12))
                    let t0 = now()
                    do { try await writer.putAsync(key: key, value: value) } catch {
                        o.error = "\(error)"
                        state.stop.store(true, ordering: .relaxed)
                        break
                    }
                    let t1 = now()
                    o.latencies.append(t1 - t0)
                    o.ends.append(t1)
                }
                result.set(o)
                tasksDone.leave()
            }
        }
    }
    while state.ready.load(ordering: .acquiring) < writers { sleepSeconds(0.000_1) }

    let io0 = processIOCounters(), s0 = SyncCounts.now()
    larch_sync_watch_writes(1)
    let t0 = now()
    state.go.store(true, ordering: .releasing)
    sleepSeconds(seconds)
    let end = now()
    state.stop.store(true, ordering: .relaxed)
    for t in spawned { t.join() }
    tasksDone.wait()
    larch_sync_watch_writes(0)
    let io1 = processIOCounters(), s1 = SyncCounts.now()

    var latencies: [Double] = []
    var inTime = 0
    for o in outcomes {
        guard let v = o.value else { throw BenchError("a writer thread reported nothing") }
        if let e = v.error { throw BenchError("writer: \(e)") }
        latencies += v.latencies
        inTime += v.ends.reduce(0) { $0 + ($1 <= end ? 1 : 0) }
    }
    var s = WritersSlice(seconds: end - t0, commits: inTime, allCommits: latencies.count, latencies: latencies)
    // An engine that commits durably syncs at least once; zero means the calls were not seen.
    let syncs = s1 - s0
    s.syncs = counting && (syncs.durable > 0 || s.allCommits == 0) ? syncs : nil
    if let a = io0, let b = io1 {
        s.writeBytes = b.writeBytes - a.writeBytes
        s.wchar = b.wchar - a.wchar
    }
    return s
}

/// The nearest-rank percentile of sorted values.
func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let rank = Int((p * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

/// The file system's rate of durable 4 KiB overwrites: pwrite of 4 KiB at a random page of a
/// 16 MiB file, then fdatasync, in a loop. The file is written in full and synced first, so the
/// loop overwrites allocated blocks (a fallocated file would have unwritten extents, and each first
/// write into one would add a journal commit).
final class FdatasyncProbe {
    let dir: String
    let path: String
    let fd: Int32
    let buffer: UnsafeMutableRawBufferPointer
    var rng = SplitMix64(seed: 0xF5_11C)
    static let size = 16 << 20

    init(dir base: String) throws {
        dir = try makeTempDir(in: base, prefix: "larch-bench-fdatasync")
        path = dir + "/probe"
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0o644)
        guard fd >= 0 else {
            removeDir(dir)
            throw BenchError("open \(path): errno \(errno)")
        }
        let chunk = 1 << 20
        buffer = .allocate(byteCount: chunk, alignment: 4096)
        for i in stride(from: 0, to: chunk, by: 8) { buffer.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self) }
        for off in stride(from: 0, to: Self.size, by: chunk) where pwrite(fd, buffer.baseAddress, chunk, off_t(off)) != chunk {
            close()
            throw BenchError("pwrite \(path): errno \(errno)")
        }
        guard fsync(fd) == 0 else {
            close()
            throw BenchError("fsync \(path): errno \(errno)")
        }
    }

    /// Durable 4 KiB overwrites for `seconds`: how many, in how long, and whether the sync counter
    /// saw every fdatasync.
    func run(seconds: Double) throws -> (count: Int, seconds: Double, counted: Bool) {
        let s0 = SyncCounts.now()
        var n = 0
        let t0 = now()
        var elapsed = 0.0
        repeat {
            let page = rng.below(Self.size / 4096)
            buffer.storeBytes(of: rng.next(), as: UInt64.self)
            guard pwrite(fd, buffer.baseAddress, 4096, off_t(page * 4096)) == 4096 else { throw BenchError("pwrite \(path): errno \(errno)") }
            guard fdatasync(fd) == 0 else { throw BenchError("fdatasync \(path): errno \(errno)") }
            n += 1
            elapsed = now() - t0
        } while elapsed < seconds
        return (n, elapsed, (SyncCounts.now() - s0).fdatasync == n)
    }

    private var closed = false
    func close() {
        guard !closed else { return }
        closed = true
        closeDescriptor(fd)
        buffer.deallocate()
        removeDir(dir)
    }
}

private func closeDescriptor(_ fd: Int32) { _ = close(fd) }

/// Today's date (UTC), YYYY-MM-DD.
func today() -> String {
    var t = time(nil)
    var parts = tm()
    gmtime_r(&t, &parts)
    func two(_ x: Int32) -> String { x < 10 ? "0\(x)" : "\(x)" }
    return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))"
}

/// 0.000_213 → "213 µs", 0.004_5 → "4.50 ms".
func latencyString(_ s: Double) -> String {
    guard s.isFinite else { return "n/a" }
    if s < 0.001 { return fixed(s * 1e6, 0) + " µs" }
    if s < 0.1 { return fixed(s * 1e3, 2) + " ms" }
    return fixed(s * 1e3, 0) + " ms"
}

// MARK: Report

extension WritersResults {
    /// Workload 12's section of the report: the table, the ratios and the targets.
    func report() -> String {
        var out = ""
        func line(_ s: String = "") { out += s + "\n" }
        let phys = physical.isEmpty ? Double.nan : larchBenchMedian(physical)
        let physRange = physical.isEmpty ? "" : " (\(compact(physical.min()!))–\(compact(physical.max()!)) over \(physical.count) measurement\(physical.count == 1 ? "" : "s"))"
        line("### 12 durable one-put commits from many writers (\(date))")
        line()
        line("**physical limit: \(compact(phys)) fdatasyncs/s**\(physRange): 4 KiB pwrite at a random offset of a written 16 MiB file " +
             "in \(dir), then fdatasync, in a loop; timed in slices taken in turns with the engines', \(fixed(seconds, 2)) s per writer count")
        line()
        line("- N = \(grouped(preloadKeys)) keys preloaded (unsynced, in key order), then each database closed, synced and reopened durable: " +
             "Larch `durability: .full`; LMDB default flags; SQLite WAL, `synchronous=FULL`, a connection per writer, `BEGIN IMMEDIATE`, " +
             "busy timeout 60 s; RocksDB default options, `rocksdb_put` with `sync = 1`")
        line("- each engine runs \(fixed(seconds, 2)) s per writer count and repetition, in \(slices) slices of \(fixed(seconds / Double(slices), 3)) s " +
             "taken in turns with the other engines and the fdatasync probe (the order rotating each round; sync(2) before each slice), " +
             "because this disk's fsync rate changes by up to 30× from one few-second stretch to the next")
        line("- in a slice, 1, 4 or 16 writer threads commit one-put transactions (a new random 16-byte key, 100-byte value) until its time is up; " +
             "commits/s = the commits that ended within the slices' time ÷ that time. The writers still waiting then finish their commits: " +
             "those count for latency (each writer's own clock around its commit call; p50/p99 over all the repetition's commits), syncs and bytes")
        line("- medians of \(reps) repetition\(reps == 1 ? "" : "s"), each with new databases")
        line("- syncs/commit: the process's flushes (fsync, fdatasync, msync(MS_SYNC) calls) and its writes through O_DSYNC descriptors, " +
             "counted by wrappers of those libc functions in the executable (Benchmarks/Sources/CSyncCount), ÷ commits" +
             (syncCounting ? "" : " — **not measurable in this run (n/a)**"))
        line("- write(2) bytes/commit: the process's `wchar` (/proc/self/io) ÷ commits, the bytes it asked the kernel to write. " +
             "dirtied/commit: its `write_bytes` ÷ commits, the page-cache memory it made dirty, counted a whole folio at a time: " +
             "a 100-byte log append that rewrites a 4 KiB block counts 4 KiB (so it is the truer figure for logs), " +
             "but on kernels with large folios (ext4 since Linux 6.16) a 4 KiB overwrite inside a larger folio counts the whole folio, " +
             "so it overstates the random page writes of Larch and LMDB")
        line()
        line("| engine | writers | commits/s | min–max | p50 latency | p99 latency | syncs/commit | = flushes + O_DSYNC writes | write(2) bytes/commit | dirtied/commit |")
        line("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
        for key in samples.keys.sorted() {
            for e in engines {
                guard let ss = samples[key]?[e], !ss.isEmpty else { continue }
                let rates = ss.map(\.commitsPerSecond)
                let perCommit = { (f: (WritersSample) -> Int?) in self.median(key, e) { s in f(s).map { Double($0) / Double(max(s.allCommits, 1)) } } }
                let syncs = perCommit { $0.syncs?.durable }
                let flushes = perCommit { $0.syncs?.flushCalls }
                let dsync = perCommit { $0.syncs?.dsyncWrites }
                let split = flushes.flatMap { f in dsync.map { "\(fixed(f, 2)) + \(fixed($0, 2))" } } ?? "n/a"
                let wb = perCommit { s in s.writeBytes.flatMap { $0 > 0 ? $0 : nil } }
                let wc = perCommit { $0.wchar }
                let writers = key.driver == .threads ? "\(key.writers)" : "\(key.writers) \(key.driver.title)"
                line("| \(e.displayName) | \(writers) | \(compact(larchBenchMedian(rates))) | \(compact(rates.min()!))–\(compact(rates.max()!)) | " +
                     "\(latencyString(median(key, e) { $0.p50 } ?? .nan)) | \(latencyString(median(key, e) { $0.p99 } ?? .nan)) | " +
                     "\(syncs.map { fixed($0, 2) } ?? "n/a") | \(split) | \(wc.map(bytesString) ?? "n/a") | \(wb.map(bytesString) ?? "n/a") |")
            }
        }
        let rangeSyncs = samples.values.flatMap { $0.values.flatMap { $0 } }.compactMap { $0.syncs?.syncFileRange }.reduce(0, +)
        if rangeSyncs > 0 {
            line()
            line("(sync_file_range calls, which start writeback without a cache flush and are not counted as syncs: \(rangeSyncs) in all phases)")
        }

        // Ratios: Larch against itself at 1 writer and against each other engine, per writer count.
        guard engines.contains(.larch) else { return out }
        let others = engines.filter { $0 != .larch }
        line()
        line("Ratios of commits/s (medians): Larch ÷ Larch with 1 writer, and Larch ÷ each engine at the same writer count.")
        line()
        line("| writers | Larch commits/s | ÷ Larch, 1 writer | " + others.map { "÷ \($0.displayName)" }.joined(separator: " | ") + " |")
        line("|--:|--:|--:|" + others.map { _ in "--:|" }.joined())
        for w in WritersWorkload.writerCounts {
            guard let l = rate(.larch, w) else { continue }
            let vs = others.map { e in rate(e, w).map { fixed(l / $0, 2) + "×" } ?? "n/a" }
            line("| \(w) | \(compact(l)) | \(rate(.larch, 1).map { fixed(l / $0, 2) + "×" } ?? "n/a") | " + vs.joined(separator: " | ") + " |")
        }

        var targets: [(String, Double, Double)] = []   // name, measured, minimum
        if let l1 = rate(.larch, 1) {
            let best = [EngineKind.sqlite, .rocksdb].compactMap { e in rate(e, 1).map { (e, $0) } }.max { $0.1 < $1.1 }
            if let (e, b) = best {
                targets.append(("Larch, 1 writer ≥ 1.0× the best of SQLite and RocksDB (\(e.displayName))", l1 / b, 1.0))
            }
            if let l16 = rate(.larch, 16) { targets.append(("Larch, 16 writers ≥ 5× Larch, 1 writer", l16 / l1, 5.0)) }
        }
        if let l16 = rate(.larch, 16) {
            for (e, m) in [(EngineKind.sqlite, 2.0), (.lmdb, 2.0), (.rocksdb, 1.0)] {
                if let o = rate(e, 16) { targets.append(("Larch, 16 writers ≥ \(fixed(m, 1))× \(e.displayName), 16 writers", l16 / o, m)) }
            }
        }
        if !targets.isEmpty {
            line()
            line("| target (workload 12, issue 12) | measured | holds |")
            line("|---|--:|:-:|")
            for (name, value, minimum) in targets { line("| \(name) | \(fixed(value, 2))× | \(value >= minimum ? "yes" : "**no**") |") }
        }
        return out
    }

    /// Every phase of every repetition (with --verbose).
    func verboseLines() -> [String] {
        var out: [String] = []
        for key in samples.keys.sorted() {
            for e in engines {
                guard let ss = samples[key]?[e] else { continue }
                let parts = ss.map { s in
                    "\(compact(s.commitsPerSecond)) [p50 \(latencyString(s.p50)), p99 \(latencyString(s.p99)), " +
                    "fsync \(s.syncs.map { "\($0.fsync)" } ?? "-"), fdatasync \(s.syncs.map { "\($0.fdatasync)" } ?? "-"), " +
                    "O_DSYNC writes \(s.syncs.map { "\($0.dsyncWrites)" } ?? "-"), sync_file_range \(s.syncs.map { "\($0.syncFileRange)" } ?? "-"), " +
                    "write_bytes \(s.writeBytes.map { bytesString(Double($0)) } ?? "-"), wchar \(s.wchar.map { bytesString(Double($0)) } ?? "-")]"
                }
                out.append("- writers-\(key.writers) (\(key.driver.title)) \(e.rawValue): \(parts.joined(separator: ", "))")
            }
        }
        out.append("- physical limit, each repetition: \(physical.map { compact($0) }.joined(separator: ", ")) fdatasyncs/s")
        return out
    }
}
