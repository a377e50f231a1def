import Synchronization

enum Workload: String, CaseIterable, Sendable {
    case seqfill, randfill, durable, randread, scan, overwrite, delete, large, readers, growth, readerprocs, writers, typed, dupsort

    var summary: String {
        switch self {
        case .seqfill: return "sequential fill: N keys in key order, transactions of 10,000 (LMDB: MDB_APPEND)"
        case .randfill: return "random fill: N keys in random order, transactions of 1,000"
        case .durable: return "durable puts: random keys into an empty database, one fully synced transaction per put"
        case .randread: return "random point reads: all N keys in random order in one read transaction"
        case .scan: return "sequential scan: every entry in key order, zero-copy"
        case .overwrite: return "random overwrites: all N keys in random order with new values, transactions of 1,000"
        case .delete: return "random deletes: all N keys in random order, transactions of 1,000"
        case .large: return "large values: 100 KiB values put in transactions of 10, then read back once in random order"
        case .readers: return "concurrent readers: 1 then 2 threads of random point reads (1,000 per read transaction) while a writer commits 100 overwrites every 5 ms"
        case .readerprocs: return "reader processes: 1 then 2 other processes of random point reads (1,000 per read transaction) on the same file while this process commits 100 overwrites every 5 ms"
        case .typed: return "typed data: N Codable records put (transactions of 10,000) and got through Larch's typed API, as raw bytes on Larch, and as GRDB Codable records on SQLite"
        case .writers: return "durable one-put commits from 1, 4 and 16 writer threads at once into N preloaded keys, beside the file system's fdatasync rate"
        case .dupsort: return "sorted duplicates: N 16-byte values under 100 keys in random order (transactions of 10,000), then every pair scanned in order; Larch's duplicates: .sorted against LMDB's MDB_DUPSORT"
        case .growth: return "file growth after a long reader: 1,000 keys (50-byte values); commits of 4 overwrites: 2,000, then 100 while one read transaction stays open, then 10,000 more; the file size is the result"
        }
    }
}

/// One measured run of one workload phase on one engine.
struct Sample {
    var seconds: Double
    var ops: Int
    var commits = 0
    /// Bytes written during the phase: the engine's own count (Larch) or the process's write(2) bytes.
    var bytes: Int?
    /// The process's write(2) bytes, for every engine (a cross-check of Larch's own count).
    var processBytes: Int?
    /// Bytes of keys and values the phase asked to store.
    var logicalBytes = 0
    var fileSize: Int?
    /// CPU seconds the process used during the phase (workload 9: the reader threads' only).
    var cpuSeconds: Double?
    /// Reader CPU seconds per second of wall time: the cores the readers actually got.
    var cpuShare: Double?
    var opsPerSecond: Double { Double(ops) / max(seconds, 1e-12) }
}

/// The rows of the report, in order; a workload produces one or two.
enum Row: String, CaseIterable {
    case seqfill, randfill, durable, randread, scan, overwrite, delete
    case largePut = "large-put", largeGet = "large-get"
    case readers1 = "readers-1", readers2 = "readers-2"
    case growth
    case readerProcs1 = "readerprocs-1", readerProcs2 = "readerprocs-2"

    var workload: Workload {
        switch self {
        case .seqfill: return .seqfill
        case .randfill: return .randfill
        case .durable: return .durable
        case .randread: return .randread
        case .scan: return .scan
        case .overwrite: return .overwrite
        case .delete: return .delete
        case .largePut, .largeGet: return .large
        case .readers1, .readers2: return .readers
        case .growth: return .growth
        case .readerProcs1, .readerProcs2: return .readerprocs
        }
    }

    func title(_ p: Parameters) -> String {
        switch self {
        case .seqfill: return "1 sequential fill"
        case .randfill: return "2 random fill, txn of 1,000"
        case .durable: return "3 durable put, 1 per txn (\(grouped(p.durableCount)))"
        case .randread: return "4 random point read"
        case .scan: return "5 sequential scan"
        case .overwrite: return "6 random overwrite, txn of 1,000"
        case .delete: return "7 random delete, txn of 1,000"
        case .largePut: return "8 large value put (\(grouped(p.largeCount)) × 100 KiB)"
        case .largeGet: return "8 large value read back"
        case .readers1: return "9 reads, 1 reader thread + writer"
        case .readers2: return "9 reads, 2 reader threads + writer"
        case .growth: return "10 commits after a long reader (file size)"
        case .readerProcs1: return "11 reads, 1 reader process + writer"
        case .readerProcs2: return "11 reads, 2 reader processes + writer"
        }
    }
}

/// Sizes derived from N.
struct Parameters {
    var keys: Int
    var readerSeconds: Double
    /// Read phases (workloads 4, 5 and 8's read back) repeat whole passes until they have run this
    /// long, so that a pass of a few milliseconds is not timed alone: a tenth of `readerSeconds`.
    var minimumReadSeconds: Double { readerSeconds / 10 }
    var durableCount: Int { min(10_000, max(100, keys / 10)) }
    var largeCount: Int { min(1_000, max(10, keys / 100)) }
    static let largeSize = 100 * 1024
    static let entryBytes = KeySet.keySize + KeySet.valueSize
}

/// The data and orders shared by every run (same seed → same keys, values and orders for every engine).
final class Context {
    let keys: KeySet
    let p: Parameters
    let baseDir: String
    let sequential: [Int]
    let fillOrder: [Int]
    let readOrder: [Int]
    let overwriteOrder: [Int]
    let deleteOrder: [Int]
    let perf: PerfControl?

    init(p: Parameters, seed: UInt64, baseDir: String, perf: PerfControl?) {
        self.p = p
        self.perf = perf
        self.baseDir = baseDir
        keys = KeySet(count: p.keys, seed: seed, maxValueSize: Parameters.largeSize)
        sequential = Array(0..<p.keys)
        fillOrder = keys.shuffled(stream: 1)
        readOrder = keys.shuffled(stream: 2)
        overwriteOrder = keys.shuffled(stream: 3)
        deleteOrder = keys.shuffled(stream: 4)
    }
}

/// `body` on each consecutive chunk of `order` of at most `size` elements.
func chunks(_ order: [Int], _ count: Int, size: Int, _ body: (ArraySlice<Int>) throws -> Void) rethrows {
    var i = 0
    while i < count {
        let end = min(i + size, count)
        try body(order[i..<end])
        i = end
    }
}

private final class StopFlag: Sendable {
    let stop = Atomic<Bool>(false)
}

private struct ReaderOutcome: Sendable {
    var reads = 0
    var seconds = 0.0
    var cpuSeconds = 0.0
    var error: String?
}

/// Runs one workload on one engine in a new directory, and returns a sample per row it produces.
func run(_ w: Workload, on kind: EngineKind, ctx: Context) throws -> [(Row, Sample)] {
    flushFileSystems()
    let dir = try makeTempDir(in: ctx.baseDir, prefix: "larch-bench-\(kind.rawValue)")
    defer { removeDir(dir) }
    let engine = try kind.open(dir: dir, durable: w == .durable, keys: ctx.keys)
    var open = true
    defer { if open { try? engine.close() } }
    let n = ctx.p.keys
    let entry = Parameters.entryBytes

    /// Times `body`, with the bytes written from its start through `close` when `closing`.
    func measure(ops: Int, commits: Int, logical: Int, closing: Bool, _ body: () throws -> Void) throws -> Sample {
        let w0 = processBytesWritten()
        let own0 = engine.ownBytesWritten
        ctx.perf?.enable()
        defer { ctx.perf?.disable() }
        let c0 = processCPUTime()
        let t = try timed(body)
        let cpu = processCPUTime() - c0
        if closing { try engine.close(); open = false }
        let w1 = processBytesWritten()
        let own1 = engine.ownBytesWritten
        let process = w0.flatMap { a in w1.map { $0 - a } }
        let own = own0.flatMap { a in own1.map { $0 - a } }
        var s = Sample(seconds: t, ops: ops, commits: commits, bytes: own ?? process, processBytes: process, logicalBytes: logical)
        s.cpuSeconds = cpu
        if closing { s.fileSize = engine.dataFiles.reduce(0) { $0 + fileSize($1) } }
        return s
    }

    /// Loads all N keys in key order (untimed), then reads every entry once so that each engine
    /// starts the timed part with its pages mapped or cached.
    func preload() throws {
        try chunks(ctx.sequential, n, size: 10_000) { try engine.putBatch($0, round: 0, valueSize: KeySet.valueSize, append: true) }
        let r = try engine.scan()
        guard r.found == n else { throw BenchError("\(kind.displayName): preload scan found \(r.found) of \(n) entries") }
    }

    func closeAndMeasure(_ s: inout Sample) throws {
        try engine.close()
        open = false
        s.fileSize = engine.dataFiles.reduce(0) { $0 + fileSize($1) }
    }

    func batches(_ count: Int, _ size: Int) -> Int { (count + size - 1) / size }

    /// Runs `pass` at least once and until `minimumReadSeconds` have passed; returns the count.
    func repeatPasses(_ pass: () throws -> Void) throws -> Int {
        let start = now()
        var passes = 0
        repeat {
            try pass()
            passes += 1
        } while now() - start < ctx.p.minimumReadSeconds
        return passes
    }

    switch w {
    case .writers:
        throw BenchError("workload 12 runs through WritersWorkload.run")
    case .typed:
        throw BenchError("workload typed runs through TypedWorkload.run")
    case .dupsort:
        throw BenchError("workload dupsort runs through DupsortWorkload.run")

    case .seqfill:
        let s = try measure(ops: n, commits: batches(n, 10_000), logical: n * entry, closing: true) {
            try chunks(ctx.sequential, n, size: 10_000) { try engine.putBatch($0, round: 0, valueSize: KeySet.valueSize, append: true) }
        }
        return [(.seqfill, s)]

    case .randfill:
        let s = try measure(ops: n, commits: batches(n, 1_000), logical: n * entry, closing: true) {
            try chunks(ctx.fillOrder, n, size: 1_000) { try engine.putBatch($0, round: 0, valueSize: KeySet.valueSize, append: false) }
        }
        return [(.randfill, s)]

    case .durable:
        let d = ctx.p.durableCount
        let s = try measure(ops: d, commits: d, logical: d * entry, closing: true) {
            try chunks(ctx.fillOrder, d, size: 1) { try engine.putBatch($0, round: 0, valueSize: KeySet.valueSize, append: false) }
        }
        return [(.durable, s)]

    case .randread:
        try preload()
        var passes = 0
        var s = try measure(ops: n, commits: 0, logical: 0, closing: false) {
            passes = try repeatPasses {
                let r = try engine.get(ctx.readOrder[...], full: false)
                guard r.found == n else { throw BenchError("\(kind.displayName): random reads found \(r.found) of \(n) keys") }
            }
        }
        s.ops = n * passes
        s.bytes = nil
        try closeAndMeasure(&s)
        return [(.randread, s)]

    case .scan:
        try preload()
        var passes = 0
        var s = try measure(ops: n, commits: 0, logical: 0, closing: false) {
            passes = try repeatPasses {
                let r = try engine.scan()
                guard r.found == n else { throw BenchError("\(kind.displayName): scan found \(r.found) of \(n) entries") }
            }
        }
        s.ops = n * passes
        s.bytes = nil
        try closeAndMeasure(&s)
        return [(.scan, s)]

    case .overwrite:
        try preload()
        let s = try measure(ops: n, commits: batches(n, 1_000), logical: n * entry, closing: true) {
            try chunks(ctx.overwriteOrder, n, size: 1_000) { try engine.putBatch($0, round: 1, valueSize: KeySet.valueSize, append: false) }
        }
        return [(.overwrite, s)]

    case .delete:
        try preload()
        var deleted = 0
        let s = try measure(ops: n, commits: batches(n, 1_000), logical: n * KeySet.keySize, closing: true) {
            try chunks(ctx.deleteOrder, n, size: 1_000) { deleted += try engine.deleteBatch($0) }
        }
        guard deleted == n else { throw BenchError("\(kind.displayName): deleted \(deleted) of \(n) keys") }
        return [(.delete, s)]

    case .large:
        let l = ctx.p.largeCount
        let size = Parameters.largeSize
        var put = try measure(ops: l, commits: batches(l, 10), logical: l * (KeySet.keySize + size), closing: false) {
            try chunks(ctx.fillOrder, l, size: 10) { try engine.putBatch($0, round: 0, valueSize: size, append: false) }
        }
        // Read back in an order of their own: the large keys, shuffled by the read order.
        let chosen = Set(ctx.fillOrder[0..<l])
        let readBack = ctx.readOrder.filter { chosen.contains($0) }
        var passes = 0
        var get = try measure(ops: l, commits: 0, logical: 0, closing: false) {
            passes = try repeatPasses {
                let r = try engine.get(readBack[...], full: true)
                guard r.found == l else { throw BenchError("\(kind.displayName): large reads found \(r.found) of \(l) values") }
            }
        }
        get.ops = l * passes
        get.bytes = nil
        try closeAndMeasure(&put)
        get.fileSize = put.fileSize
        return [(.largePut, put), (.largeGet, get)]

    case .readerprocs:
        try preload()
        var out: [(Row, Sample)] = []
        for (procs, row) in [(1, Row.readerProcs1), (2, Row.readerProcs2)] {
            // Each reader process opens the same file and reads for the writer's time, plus a
            // little so that it outlasts the writer.
            let children = try (0..<procs).map { t in
                try ReaderProcess.spawn(kind: kind, dir: dir, keys: n, seed: ctx.keys.seed,
                                        readerSeed: ctx.keys.seed &+ UInt64(1_000 * procs + t), seconds: ctx.p.readerSeconds)
            }
            var rng = SplitMix64(seed: ctx.keys.seed ^ 0xB0B)
            var commits = 0
            let deadline = now() + ctx.p.readerSeconds
            while now() < deadline {
                let batch = (0..<100).map { _ in rng.below(n) }
                try engine.putBatch(batch[...], round: 2 + commits, valueSize: KeySet.valueSize, append: false)
                commits += 1
                sleepSeconds(0.005)
            }
            var reads = 0
            var rate = 0.0
            var cpu = 0.0
            for c in children {
                let r = try c.wait()
                reads += r.reads
                rate += Double(r.reads) / max(r.seconds, 1e-12)
                cpu += r.cpuSeconds
            }
            var s = Sample(seconds: Double(reads) / rate, ops: reads, commits: commits)
            s.cpuSeconds = cpu
            out.append((row, s))
        }
        return out

    case .readers:
        try preload()
        var out: [(Row, Sample)] = []
        for (threads, row) in [(1, Row.readers1), (2, Row.readers2)] {
            let flag = StopFlag()
            let outcomes = (0..<threads).map { _ in ThreadResult<ReaderOutcome>() }
            let readers = try (0..<threads).map { _ in try engine.makeReader() }
            var spawned: [BenchThread] = []
            ctx.perf?.enable()
            defer { ctx.perf?.disable() }
            for t in 0..<threads {
                let reader = readers[t], result = outcomes[t]
                let seed = ctx.keys.seed &+ UInt64(100 * threads + t)
                spawned.append(try BenchThread {
                    var rng = SplitMix64(seed: seed)
                    var o = ReaderOutcome()
                    let t0 = now(), c0 = threadCPUTime()
                    do {
                        repeat {
                            let r = try reader.readRandom(count: 1_000, rng: &rng)
                            o.reads += 1_000
                            if r.found != 1_000 { o.error = "a reader found \(r.found) of 1,000 keys"; break }
                        } while !flag.stop.load(ordering: .relaxed)
                    } catch {
                        o.error = "\(error)"
                    }
                    o.seconds = now() - t0
                    o.cpuSeconds = threadCPUTime() - c0
                    result.set(o)
                })
            }
            // The writer: 100 random overwrites per commit, then 5 ms of sleep, until time is up.
            var rng = SplitMix64(seed: ctx.keys.seed ^ 0xA11CE)
            var commits = 0
            var writerError: Error?
            let deadline = now() + ctx.p.readerSeconds
            while now() < deadline {
                let batch = (0..<100).map { _ in rng.below(n) }
                do { try engine.putBatch(batch[...], round: 2 + commits, valueSize: KeySet.valueSize, append: false) } catch {
                    writerError = error
                    break
                }
                commits += 1
                sleepSeconds(0.005)
            }
            flag.stop.store(true, ordering: .relaxed)
            for t in spawned { t.join() }
            for r in readers { r.close() }
            if let writerError { throw writerError }
            var reads = 0
            var rate = 0.0
            var cpu = 0.0, wall = 0.0
            for o in outcomes {
                guard let v = o.value else { throw BenchError("a reader thread reported nothing") }
                if let e = v.error { throw BenchError("\(kind.displayName) reader: \(e)") }
                reads += v.reads
                rate += Double(v.reads) / max(v.seconds, 1e-12)
                cpu += v.cpuSeconds
                wall = max(wall, v.seconds)
            }
            var s = Sample(seconds: Double(reads) / rate, ops: reads, commits: commits)
            s.cpuSeconds = cpu
            s.cpuShare = cpu / max(wall, 1e-12)
            out.append((row, s))
        }
        var last = out[out.count - 1].1
        try closeAndMeasure(&last)
        for i in out.indices { out[i].1.fileSize = last.fileSize }
        return out

    case .growth:
        // Issue 9's reproduction: after one reader held across 100 commits, freed pages must go
        // back into use, so the file stays at the size the reader left it.
        let keyCount = min(1_000, n)
        let valueSize = 50
        try engine.putBatch(ctx.sequential[0..<keyCount], round: 0, valueSize: valueSize, append: false)
        var commit = 0
        func commits(_ count: Int) throws {
            for _ in 0..<count {
                commit += 1
                let batch = (0..<4).map { j in (commit * 7 + j * 331) % keyCount }
                try engine.putBatch(batch[...], round: commit, valueSize: valueSize, append: false)
            }
        }
        let reader = try engine.makeReader()
        defer { reader.close() }
        let total = 2_000 + 100 + 10_000
        let s = try measure(ops: total, commits: total, logical: total * 4 * (KeySet.keySize + valueSize), closing: true) {
            try commits(2_000)
            try reader.hold(key: ctx.keys.key(0))
            try commits(100)
            try reader.release()
            try commits(10_000)
        }
        return [(.growth, s)]
    }
}
