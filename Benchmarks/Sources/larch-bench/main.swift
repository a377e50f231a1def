// larch-bench: the same workloads on Larch, LMDB, SQLite (and, for the durable workloads, RocksDB)
// in one process, printed as one Markdown report (progress goes to standard error). See docs/BENCHMARKS.md.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

struct Config {
    var keys = 100_000
    var reps = 3
    var workloads = Workload.allCases
    var engines = EngineKind.allCases
    var dir = "/tmp"
    var seed: UInt64 = 42
    var readerSeconds = 2.0
    var quick = false
    var verbose = false
    var perfControl: String?
    /// Workload 12: each engine's time per writer count and repetition (nil: 1 s, --quick 0.1 s),
    /// and where its chart goes.
    var writerSeconds: Double?
    var chartPath: String? = "Benchmarks/results/writers.svg"

    /// Repetitions of workload `w`: the sequential fill, which lasts milliseconds below a million
    /// keys, runs up to ten times as often, so that its median is not one moment of a busy host.
    /// The engines in the order repetition `rep` runs them: Larch and LMDB alternate first and
    /// second, and SQLite runs last. Whichever engine runs right after SQLite runs 20–30% slower
    /// (seen on the sequential fill at 100,000 keys, with or without sync(2) and malloc_trim in
    /// between); with SQLite last, that is the first engine of the next repetition, Larch and LMDB
    /// in turn. Rotating all three by one each repetition had put Larch after SQLite two times in three.
    func engineOrder(repetition rep: Int) -> [EngineKind] {
        var pair = engines.filter { $0 != .sqlite }
        if rep % 2 == 1 { pair.reverse() }
        return pair + engines.filter { $0 == .sqlite }
    }

    func repetitions(of w: Workload) -> Int {
        w == .seqfill ? reps * min(10, max(1, 1_000_000 / keys)) : reps
    }
}

let usage = """
    usage: larch-bench [options]

      --keys N             keys per workload (default 100000; 1000000 and 10000000 work too)
      --reps R             repetitions; the report shows the median and the min–max (default 3)
      --only a,b,...       workloads to run (default all but typed and dupsort; --quick: all): \(Workload.allCases.map(\.rawValue).joined(separator: ","))
      --skip a,b,...       workloads not to run
      --engines a,b,...    engines to run (default all): \(EngineKind.allCases.map(\.rawValue).joined(separator: ","))
      --quick              1,000 keys, 1 repetition, 0.2 s reader phases: a smoke run (CI)
      --dir PATH           where the temporary databases go (default /tmp; use a real disk, not tmpfs)
      --seed S             key and value seed (default 42)
      --reader-seconds T   length of each concurrent-reader phase (default 2)
      --writer-seconds T   workload 12 (writers): each engine's time per writer count (default 1; --quick 0.1)
      --chart PATH         workload 12: where its SVG chart goes (default Benchmarks/results/writers.svg,
                           written when that directory exists); --no-chart: none
      --perf-control C,A   enable perf sampling only around timed parts, through the FIFOs of
                           `perf record -D -1 --control fifo:C,A` (scripts/bench.sh profile does this)
      --verbose            also print each repetition, and Larch's write(2) byte count next to CommitStats'
      --help               this text

    Keys are 16 bytes, values 100 bytes (workload 8: 100 KiB). Every run uses a new database in a
    new directory under --dir. Batched workloads run without per-commit sync on every engine; the
    durable workloads (3, 12) sync every commit on every engine. RocksDB runs only workloads 3 and 12
    (the others skip it, with a note in the report).
    """

func parse(_ args: [String]) throws -> Config {
    var c = Config()
    var explicitKeys = false, explicitReps = false, explicitSeconds = false, explicitWorkloads = false
    var skipped: Set<String> = []
    var i = 0
    func value() throws -> String {
        i += 1
        guard i < args.count else { throw BenchError("\(args[i - 1]) needs a value\n\n\(usage)") }
        return args[i]
    }
    func int(_ s: String, _ name: String) throws -> Int {
        guard let v = Int(s.replacingUnderscores()), v > 0 else { throw BenchError("\(name) needs a positive integer, got \(s)") }
        return v
    }
    while i < args.count {
        let a = args[i]
        switch a {
        case "--keys": c.keys = try int(try value(), a); explicitKeys = true
        case "--reps": c.reps = try int(try value(), a); explicitReps = true
        case "--only":
            explicitWorkloads = true
            c.workloads = try value().split(separator: ",").map { s in
                guard let w = Workload(rawValue: String(s)) else {
                    throw BenchError("unknown workload \(s); known: \(Workload.allCases.map(\.rawValue).joined(separator: ","))")
                }
                return w
            }
        case "--engines":
            c.engines = try value().split(separator: ",").map { s in
                guard let e = EngineKind(rawValue: String(s)) else {
                    throw BenchError("unknown engine \(s); known: \(EngineKind.allCases.map(\.rawValue).joined(separator: ","))")
                }
                return e
            }
        case "--skip":
            let names = try value().split(separator: ",").map(String.init)
            for n in names where Workload(rawValue: n) == nil {
                throw BenchError("unknown workload \(n); known: \(Workload.allCases.map(\.rawValue).joined(separator: ","))")
            }
            skipped.formUnion(names)
        case "--writer-seconds":
            let s = try value()
            guard let t = Double(s), t > 0 else { throw BenchError("--writer-seconds needs a positive number, got \(s)") }
            c.writerSeconds = t
        case "--chart": c.chartPath = try value()
        case "--no-chart": c.chartPath = nil
        case "--quick": c.quick = true
        case "--dir": c.dir = try value()
        case "--seed": c.seed = UInt64(try int(try value(), a))
        case "--reader-seconds":
            let s = try value()
            guard let t = Double(s), t > 0 else { throw BenchError("--reader-seconds needs a positive number, got \(s)") }
            c.readerSeconds = t
            explicitSeconds = true
        case "--verbose": c.verbose = true
        case "--perf-control": c.perfControl = try value()
        case "--help", "-h": print(usage); exit(0)
        default: throw BenchError("unknown argument \(a)\n\n\(usage)")
        }
        i += 1
    }
    if c.quick {
        if !explicitKeys { c.keys = 1_000 }
        if !explicitReps { c.reps = 1 }
        if !explicitSeconds { c.readerSeconds = 0.2 }
    }
    // Keep the workload and engine order canonical whatever order they were named in.
    // `typed` and `dupsort` run only when named, or in a smoke run (--quick), which runs everything.
    if !explicitWorkloads && !c.quick { c.workloads.removeAll { $0 == .typed || $0 == .dupsort } }
    c.workloads = Workload.allCases.filter { c.workloads.contains($0) && !skipped.contains($0.rawValue) }
    c.engines = EngineKind.allCases.filter(c.engines.contains)
    if c.engines.isEmpty || c.workloads.isEmpty { throw BenchError("nothing to run") }
    return c
}

extension String {
    func replacingUnderscores() -> String { String(filter { $0 != "_" && $0 != "," }) }
}

func machineDescription() -> [String] {
    let cpu = readLines("/proc/cpuinfo").first { $0.hasPrefix("model name") }
        .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingPrefixSpaces() } ?? "unknown CPU"
    let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
    let mem = readLines("/proc/meminfo").first { $0.hasPrefix("MemTotal:") }
        .flatMap { Int($0.split(separator: " ").dropFirst().first ?? "") }.map { bytesString(Double($0) * 1024) } ?? "unknown"
    var u = utsname()
    uname(&u)
    let kernel = withUnsafeBytes(of: u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    let machine = withUnsafeBytes(of: u.machine) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    return ["\(cpu), \(online) CPUs online, \(mem) memory, Linux \(kernel) \(machine)"]
}

extension String {
    func trimmingPrefixSpaces() -> String { String(drop { $0 == " " || $0 == "\t" }) }
}

func loadAverage() -> String {
    (readFirstLine("/proc/loadavg") ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
}

// MARK: Report

struct Cell {
    var samples: [Sample] = []
    var rates: [Double] { samples.map(\.opsPerSecond) }
    var medianRate: Double { median(rates) }
    /// Operations per CPU-second of the process: steadier than ops/s on a busy machine, since
    /// time spent waiting for a core does not count (nor does time waiting for the disk).
    var medianCPURate: Double? { medianOf { s in s.cpuSeconds.map { Double(s.ops) / max($0, 1e-12) } } }
    func medianOf(_ f: (Sample) -> Double?) -> Double? {
        let xs = samples.compactMap(f)
        return xs.isEmpty ? nil : median(xs)
    }
}

func report(_ c: Config, _ p: Parameters, results: [Row: [EngineKind: Cell]], writers: WritersResults?, typed: TypedResults?,
            dupsort: DupsortResults? = nil, load0: String, elapsed: Double) {
    var out = ""
    func line(_ s: String = "") { out += s + "\n" }
    line("## larch-bench: N = \(grouped(c.keys)) keys, median of \(c.reps) repetition\(c.reps == 1 ? "" : "s")")
    line()
    line("- machine: \(machineDescription().joined(separator: "; "))")
    line("- load average (1, 5, 15 min): \(load0) at start, \(loadAverage()) at end; \(fixed(elapsed, 0)) s in all")
    if results.isEmpty && writers == nil && typed == nil && dupsort != nil {
        line("- engines: Larch (this repository, release build), \(lmdbVersion())")
    } else if results.isEmpty && writers == nil {
        line("- engines: Larch (this repository, release build), GRDB \(grdbVersion) on SQLite \(sqliteVersion())")
    } else {
        line("- engines: Larch (this repository, release build), \(lmdbVersion()), SQLite \(sqliteVersion())" +
             (c.engines.contains(.rocksdb) ? ", \(rocksDBVersion()) (Debian's librocksdb, C API, default options)" : ""))
    }
    if !results.isEmpty || writers != nil {
        line("- data: 16-byte random keys, 100-byte values (workload 8: 100 KiB), seed \(c.seed); a new database in a new directory under \(c.dir) for every run")
        line("- durability: workloads 3 and 12 sync every commit on every engine (Larch `.full`; LMDB default flags; SQLite WAL `synchronous=FULL`; RocksDB synced writes); " +
             "all other workloads commit without syncing on every engine (Larch `.noSync`; LMDB `MDB_NOSYNC|MDB_NOMETASYNC`; SQLite WAL `synchronous=OFF`)")
    }
    if !results.isEmpty {
        line("- SQLite: `kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID`, WAL, prepared statements, UPSERT for puts, 256 MiB page cache per connection")
        line("- workloads 4–7 and 9 first load the N keys in key order (transactions of 10,000) and scan them once, untimed")
        if c.repetitions(of: .seqfill) != c.reps {
            line("- workload 1 is repeated \(c.repetitions(of: .seqfill)) times (a fill of N keys takes milliseconds); its median is of those")
        }
        line("- each repetition runs the engines other than SQLite in turns (their order reversed every other repetition), then SQLite; sync(2) before every run")
        line("- read phases (4, 5, and 8's read back) repeat whole passes over their keys until \(fixed(c.readerSeconds / 10, 2)) s have passed; ops/s counts every pass")
        line("- bytes written: Larch from `CommitStats.bytesWritten` (pages + meta page); LMDB and SQLite from the process's write(2) bytes " +
             "(`wchar` in /proc/self/io), through closing the database. Per logical byte: bytes written ÷ (key + value bytes stored; key bytes for deletes)")
    }
    for e in c.engines {
        let skipped = c.workloads.filter { !e.supports($0) }
        if !skipped.isEmpty {
            line("- not run: \(e.displayName) on \(skipped.map(\.rawValue).joined(separator: ", ")) (the \(e.displayName) engine implements only " +
                 "\(Workload.allCases.filter(e.supports).map(\.rawValue).joined(separator: " and ")))")
        }
    }
    if !results.isEmpty {
        line()
        line("| workload | engine | ops/s | min–max | vs LMDB | ops/CPU-s | vs LMDB (CPU) | bytes/commit | bytes/logical byte | file size |")
        line("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
    }
    for row in Row.allCases {
        guard let byEngine = results[row] else { continue }
        let lmdb = byEngine[.lmdb]?.medianRate
        let lmdbCPU = byEngine[.lmdb]?.medianCPURate
        for e in c.engines {
            guard let cell = byEngine[e], !cell.samples.isEmpty else { continue }
            let rates = cell.rates
            let m = cell.medianRate
            let ratio = lmdb.map { fixed(m / $0, 2) + "×" } ?? "n/a"
            let perCommit = cell.medianOf { s in s.bytes.flatMap { s.commits > 0 ? Double($0) / Double(s.commits) : nil } }
            let perLogical = cell.medianOf { s in s.bytes.flatMap { s.logicalBytes > 0 ? Double($0) / Double(s.logicalBytes) : nil } }
            let size = cell.medianOf { s in s.fileSize.map(Double.init) }
            let cpuRate = cell.medianCPURate
            let cpuRatio = cpuRate.flatMap { r in lmdbCPU.map { fixed(r / $0, 2) + "×" } } ?? "n/a"
            line("| \(row.title(p)) | \(e.displayName) | \(compact(m)) | \(compact(rates.min()!))–\(compact(rates.max()!)) | \(ratio) | " +
                 "\(cpuRate.map(compact) ?? "n/a") | \(cpuRatio) | " +
                 "\(perCommit.map(bytesString) ?? "n/a") | \(perLogical.map { fixed($0, 2) } ?? "n/a") | \(size.map(bytesString) ?? "n/a") |")
        }
    }
    if let r1 = results[.readers1], let r2 = results[.readers2] {
        line()
        line("Reader scaling (workload 9): reads/s of 2 reader threads ÷ 1 reader thread, each beside the same paced writer. " +
             "'cores used' is the readers' CPU time ÷ wall time (2.0 would be both cores all the time); " +
             "'reads per CPU-second' stays level across 1 and 2 readers when the engine itself scales, whatever else the machine runs.")
        line()
        line("| engine | 1 reader | 2 readers | scaling | cores used (1 / 2 readers) | reads per CPU-second (1 / 2 readers) | writer commits (1 / 2 readers) |")
        line("|---|--:|--:|--:|--:|--:|--:|")
        for e in c.engines {
            guard let a = r1[e], let b = r2[e] else { continue }
            let wc1 = a.medianOf { Double($0.commits) } ?? 0, wc2 = b.medianOf { Double($0.commits) } ?? 0
            let share1 = a.medianOf { $0.cpuShare } ?? .nan, share2 = b.medianOf { $0.cpuShare } ?? .nan
            let eff1 = a.medianOf { s in s.cpuSeconds.map { Double(s.ops) / $0 } } ?? .nan
            let eff2 = b.medianOf { s in s.cpuSeconds.map { Double(s.ops) / $0 } } ?? .nan
            line("| \(e.displayName) | \(compact(a.medianRate)) | \(compact(b.medianRate)) | \(fixed(b.medianRate / a.medianRate, 2))× | " +
                 "\(fixed(share1, 2)) / \(fixed(share2, 2)) | \(compact(eff1)) / \(compact(eff2)) | \(Int(wc1)) / \(Int(wc2)) |")
        }
    }

    // Targets.
    var targets: [(String, String, Bool, String)] = []
    func cells(_ row: Row) -> (Cell, Cell)? {
        guard let l = results[row]?[.larch], let m = results[row]?[.lmdb], !l.samples.isEmpty, !m.samples.isEmpty else { return nil }
        return (l, m)
    }
    func speed(_ row: Row, _ name: String, _ min: Double) {
        guard let (l, m) = cells(row) else { return }
        let r = l.medianRate / m.medianRate
        let byCPU = l.medianCPURate.flatMap { a in m.medianCPURate.map { fixed(a / $0, 2) + "×" } } ?? "n/a"
        targets.append(("\(name) ≥ \(fixed(min, 1))× LMDB", fixed(r, 2) + "×", r >= min, byCPU))
    }
    speed(.randread, "random reads", 1.0)
    speed(.scan, "sequential scan", 1.0)
    speed(.randfill, "random fill in batches", 1.0)
    speed(.seqfill, "sequential fill", 1.0)
    speed(.durable, "durable commits", 0.9)
    speed(.overwrite, "overwrites", 1.0)
    speed(.delete, "deletes", 1.0)
    for row in [Row.seqfill, .randfill] {
        if let l = results[row]?[.larch]?.medianOf({ $0.fileSize.map(Double.init) }),
           let m = results[row]?[.lmdb]?.medianOf({ $0.fileSize.map(Double.init) }) {
            targets.append(("file size after \(row == .seqfill ? "sequential" : "random") fill ≤ 1.1× LMDB", fixed(l / m, 2) + "×", l <= 1.1 * m, ""))
        }
    }
    if let l = results[.growth]?[.larch]?.medianOf({ $0.fileSize.map(Double.init) }),
       let m = results[.growth]?[.lmdb]?.medianOf({ $0.fileSize.map(Double.init) }) {
        targets.append(("file size after a long reader and 10,000 commits ≤ LMDB", fixed(l / m, 2) + "×", l <= m,
                        "Larch \(bytesString(l)), LMDB \(bytesString(m))"))
    }
    for (one, two, what) in [(Row.readers1, Row.readers2, "threads"), (.readerProcs1, .readerProcs2, "processes")] {
        guard let a = results[one]?[.larch], let b = results[two]?[.larch], !a.samples.isEmpty, !b.samples.isEmpty else { continue }
        let s = b.medianRate / a.medianRate
        let perCPU1 = a.medianOf { s in s.cpuSeconds.map { Double(s.ops) / $0 } }
        let perCPU2 = b.medianOf { s in s.cpuSeconds.map { Double(s.ops) / $0 } }
        let note = perCPU1.flatMap { x in perCPU2.map { "reads per CPU-second, 2 ÷ 1 readers: " + fixed($0 / x, 2) + "×" } } ?? ""
        targets.append(("Larch: 2 reader \(what) ≥ 1.8× one", fixed(s, 2) + "×", s >= 1.8, note))
    }
    if !targets.isEmpty {
        line()
        line("Targets are judged on the medians of ops/s. The last column divides ops per CPU-second instead: " +
             "it leaves out time spent waiting for a core or for the disk, so it shows what a quiet machine would show for CPU-bound workloads.")
        line()
        line("| target | measured (Larch ÷ LMDB) | holds | by CPU time |")
        line("|---|--:|:-:|--:|")
        for (name, value, holds, cpu) in targets { line("| \(name) | \(value) | \(holds ? "yes" : "**no**") | \(cpu) |") }
    }

    if let writers {
        line()
        out += writers.report()
    }

    if let typed {
        line()
        out += typed.report()
    }

    if let dupsort {
        line()
        out += dupsort.report()
    }

    if c.verbose {
        line()
        line("Each repetition (ops/s; bytes: engine count / write(2) count):")
        line()
        for l in writers?.verboseLines() ?? [] { line(l) }
        for row in Row.allCases {
            guard let byEngine = results[row] else { continue }
            for e in c.engines {
                guard let cell = byEngine[e] else { continue }
                let reps = cell.samples.map { s in
                    "\(compact(s.opsPerSecond)) [\(s.bytes.map { bytesString(Double($0)) } ?? "-") / \(s.processBytes.map { bytesString(Double($0)) } ?? "-")]"
                }
                line("- \(row.rawValue) \(e.rawValue): \(reps.joined(separator: ", "))")
            }
        }
    }
    print(out, terminator: "")
}

// MARK: Main

func main() -> Int32 {
    if CommandLine.arguments.dropFirst().first == "--reader-process" {
        return ReaderProcess.runChild(Array(CommandLine.arguments.dropFirst(2)))
    }
    let config: Config
    do { config = try parse(Array(CommandLine.arguments.dropFirst())) } catch {
        log("larch-bench: \(error)")
        return 2
    }
    let p = Parameters(keys: config.keys, readerSeconds: config.readerSeconds)
    let load0 = loadAverage()
    let t0 = now()
    log("larch-bench: N = \(grouped(config.keys)), \(config.reps) rep(s), workloads \(config.workloads.map(\.rawValue).joined(separator: ",")), " +
        "engines \(config.engines.map(\.rawValue).joined(separator: ",")); generating keys…")
    let perf: PerfControl?
    do { perf = try config.perfControl.map { try PerfControl(spec: $0) } } catch {
        log("larch-bench: \(error)")
        return 2
    }
    let ctx = Context(p: p, seed: config.seed, baseDir: config.dir, perf: perf)
    var results: [Row: [EngineKind: Cell]] = [:]
    var writers: WritersResults?
    var typed: TypedResults?
    var dupsort: DupsortResults?
    do {
        for w in config.workloads {
            log("\(w.rawValue): \(w.summary)")
            if w == .typed {
                typed = try TypedWorkload.run(config, ctx: ctx)
                continue
            }
            if w == .dupsort {
                dupsort = try DupsortWorkload.run(config, ctx: ctx)
                continue
            }
            if w == .writers {
                let r = try WritersWorkload.run(config, ctx: ctx)
                writers = r
                if let path = config.chartPath { writeChart(r, to: path) }
                continue
            }
            for rep in 0..<config.repetitions(of: w) {
                let order = config.engineOrder(repetition: rep).filter { $0.supports(w) }
                for e in order {
                    let rows = try run(w, on: e, ctx: ctx)
                    for (row, s) in rows {
                        results[row, default: [:]][e, default: Cell()].samples.append(s)
                        log("  rep \(rep + 1) \(e.rawValue) \(row.rawValue): \(compact(s.opsPerSecond)) ops/s (\(fixed(s.seconds, 3)) s)")
                    }
                }
            }
        }
    } catch {
        log("larch-bench: \(error)")
        return 1
    }
    report(config, p, results: results, writers: writers, typed: typed, dupsort: dupsort, load0: load0, elapsed: now() - t0)
    return 0
}

exit(main())
