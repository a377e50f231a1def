#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A reader in another process (workload 11): this executable run as
/// `larch-bench --reader-process KIND DIR KEYS SEED READER-SEED SECONDS OUT`, which opens the same
/// database, reads random keys in read transactions of 1,000 for SECONDS, and writes
/// "READS SECONDS CPU-SECONDS" to OUT.
struct ReaderProcess {
    let pid: pid_t
    let output: String

    /// What a reader process reports.
    struct Result {
        var reads: Int
        var seconds: Double
        var cpuSeconds: Double
    }

    static func spawn(kind: EngineKind, dir: String, keys: Int, seed: UInt64, readerSeed: UInt64, seconds: Double) throws -> ReaderProcess {
        let output = "\(dir)/reader-\(readerSeed).out"
        let args = [executablePath(), "--reader-process", kind.rawValue, dir, String(keys), String(seed), String(readerSeed),
                    String(seconds + 0.2), output]
        var argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, args[0], nil, nil, &argv, environ)
        guard rc == 0 else { throw BenchError("posix_spawn \(args[0]): errno \(rc)") }
        return ReaderProcess(pid: pid, output: output)
    }

    /// Waits for the process and reads its report.
    func wait() throws -> Result {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        guard let f = fopen(output, "r") else { throw BenchError("reader process \(pid) wrote no report (status \(status))") }
        defer { fclose(f) }
        var buffer = [CChar](repeating: 0, count: 256)
        guard fgets(&buffer, 256, f) != nil else { throw BenchError("reader process \(pid): empty report") }
        let line = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\n" })
        if fields.first == "error" { throw BenchError("reader process \(pid): \(line)") }
        guard fields.count == 3, let reads = Int(fields[0]), let s = Double(fields[1]), let cpu = Double(fields[2]) else {
            throw BenchError("reader process \(pid): bad report \(line)")
        }
        return Result(reads: reads, seconds: s, cpuSeconds: cpu)
    }

    /// This executable's path.
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if n > 0 { return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        return CommandLine.arguments[0]
    }

    /// The child's side: runs the reads and writes the report; returns the exit status.
    static func runChild(_ args: [String]) -> Int32 {
        guard args.count == 7, let kind = EngineKind(rawValue: args[0]), let keys = Int(args[2]), let seed = UInt64(args[3]),
              let readerSeed = UInt64(args[4]), let seconds = Double(args[5]) else {
            log("larch-bench: usage: --reader-process KIND DIR KEYS SEED READER-SEED SECONDS OUT")
            return 2
        }
        let out = args[6]
        func report(_ line: String) {
            guard let f = fopen(out, "w") else { return }
            fputs(line + "\n", f)
            fclose(f)
        }
        do {
            let keySet = KeySet(count: keys, seed: seed, maxValueSize: Parameters.largeSize)
            let engine = try kind.open(dir: args[1], durable: false, keys: keySet)
            let reader = try engine.makeReader()
            var rng = SplitMix64(seed: readerSeed)
            var reads = 0
            let t0 = now(), c0 = processCPUTime()
            repeat {
                let r = try reader.readRandom(count: 1_000, rng: &rng)
                guard r.found == 1_000 else { report("error a reader found \(r.found) of 1,000 keys"); return 1 }
                reads += 1_000
            } while now() - t0 < seconds
            let elapsed = now() - t0, cpu = processCPUTime() - c0
            reader.close()
            try engine.close()
            report("\(reads) \(elapsed) \(cpu)")
            return 0
        } catch {
            report("error \(error)")
            return 1
        }
    }
}
