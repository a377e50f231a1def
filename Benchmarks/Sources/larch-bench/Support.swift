#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

// MARK: Time

/// Monotonic seconds.
@inline(__always)
func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU seconds used by the calling thread.
func threadCPUTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// CPU seconds used by the whole process (every thread, user and system).
func processCPUTime() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Runs `body` and returns its wall-clock seconds.
@inline(__always)
func timed(_ body: () throws -> Void) rethrows -> Double {
    let t0 = now()
    try body()
    return now() - t0
}

// MARK: Process I/O counters

/// Bytes this process has passed to write(2)-family calls (`wchar` in /proc/self/io). Counts every
/// thread; nil where /proc is missing. It is what an engine asked the kernel to write, the measure
/// of write amplification that works the same for all three engines (none writes through a
/// writable memory map in this configuration).
func processBytesWritten() -> Int? {
    guard let f = fopen("/proc/self/io", "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        if s.hasPrefix("wchar:") {
            return Int(s.dropFirst(6).trimmingCharacters(in: " \n"))
        }
    }
    return nil
}

/// The process's `wchar` and `write_bytes` from /proc/self/io (all threads): bytes passed to
/// write(2) and friends, and bytes of page-cache pages it dirtied (what is sent towards the disk).
func processIOCounters() -> (wchar: Int, writeBytes: Int)? {
    var wchar: Int?, writeBytes: Int?
    for line in readLines("/proc/self/io") {
        let parts = line.split(separator: ":", maxSplits: 1)
        guard parts.count == 2 else { continue }
        let value = Int(parts[1].trimmingCharacters(in: " \n"))
        if parts[0] == "wchar" { wchar = value } else if parts[0] == "write_bytes" { writeBytes = value }
    }
    guard let wchar, let writeBytes else { return nil }
    return (wchar, writeBytes)
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let c = s.first, set.contains(c) { s = s.dropFirst() }
        while let c = s.last, set.contains(c) { s = s.dropLast() }
        return String(s)
    }
}

// MARK: Files

func fileSize(_ path: String) -> Int {
    var st = stat()
    return stat(path, &st) == 0 ? Int(st.st_size) : 0
}

func makeTempDir(in base: String, prefix: String) throws -> String {
    var template = Array("\(base)/\(prefix)-XXXXXX".utf8CString)
    guard let p = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
        throw BenchError("cannot create a temporary directory in \(base): errno \(errno)")
    }
    return String(cString: p)
}

/// Removes `dir` and the files directly in it (the engines create no subdirectories).
/// Writes back every dirty page on the machine (sync(2)) before a run, so that no run pays for
/// the writeback of the run before it.
func flushFileSystems() {
    sync()
}

func removeDir(_ dir: String) {
    if let d = opendir(dir) {
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name == "." || name == ".." { continue }
            unlink(dir + "/" + name)
        }
        closedir(d)
    }
    rmdir(dir)
}

func readFirstLine(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var line = [CChar](repeating: 0, count: 512)
    guard fgets(&line, Int32(line.count), f) != nil else { return nil }
    return String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Lines of a small text file (for /proc files).
func readLines(_ path: String) -> [String] {
    guard let f = fopen(path, "r") else { return [] }
    defer { fclose(f) }
    var out: [String] = []
    var line = [CChar](repeating: 0, count: 4096)
    while fgets(&line, Int32(line.count), f) != nil {
        out.append(String(decoding: line.prefix { $0 != 0 && $0 != 10 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
    return out
}

// MARK: Threads

/// A started thread; `join()` waits for it.
final class BenchThread: @unchecked Sendable {
    private var thread = pthread_t()
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) throws {
        self.body = body
        let ctx = Unmanaged.passRetained(self).toOpaque()
        let rc = pthread_create(&thread, nil, { arg in
            let me = Unmanaged<BenchThread>.fromOpaque(arg!).takeRetainedValue()
            me.body()
            return nil
        }, ctx)
        if rc != 0 {
            Unmanaged<BenchThread>.fromOpaque(ctx).release()
            throw BenchError("pthread_create failed: \(rc)")
        }
    }

    func join() { pthread_join(thread, nil) }
}

/// A value set once by a thread and read after `join()`.
final class ThreadResult<T: Sendable>: Sendable {
    private let box = Mutex<T?>(nil)
    func set(_ v: T) { box.withLock { $0 = v } }
    var value: T? { box.withLock { $0 } }
}

func sleepSeconds(_ s: Double) {
    var ts = timespec(tv_sec: Int(s), tv_nsec: Int((s - Double(Int(s))) * 1e9))
    var left = timespec()
    while nanosleep(&ts, &left) != 0 && errno == EINTR { ts = left }
}

// MARK: Formatting

func grouped(_ n: Int) -> String {
    let s = String(n.magnitude)
    var out = ""
    for (i, c) in s.enumerated() {
        if i > 0 && (s.count - i) % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return (n < 0 ? "-" : "") + out
}

/// 1234567 → "1.23M", 12345 → "12.3k", 123 → "123".
func compact(_ x: Double) -> String {
    let a = abs(x)
    if a >= 1e9 { return fixed(x / 1e9, a >= 1e11 ? 0 : a >= 1e10 ? 1 : 2) + "G" }
    if a >= 1e6 { return fixed(x / 1e6, a >= 1e8 ? 0 : a >= 1e7 ? 1 : 2) + "M" }
    if a >= 1e3 { return fixed(x / 1e3, a >= 1e5 ? 0 : a >= 1e4 ? 1 : 2) + "k" }
    if a >= 10 { return fixed(x, 0) }
    return fixed(x, 1)
}

func fixed(_ x: Double, _ digits: Int) -> String {
    guard x.isFinite else { return "n/a" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let r = (abs(x) * scale).rounded()
    let whole = Int(r / scale)
    let frac = Int(r - Double(whole) * scale)
    var f = String(frac)
    while f.count < digits { f = "0" + f }
    return (x < 0 && r != 0 ? "-" : "") + String(whole) + (digits > 0 ? "." + f : "")
}

func bytesString(_ b: Double) -> String {
    let a = abs(b)
    let kib = 1024.0, mib = kib * 1024, gib = mib * 1024
    if a >= gib { return fixed(b / gib, 2) + " GiB" }
    if a >= mib { return fixed(b / mib, a >= 100 * mib ? 0 : 1) + " MiB" }
    if a >= kib { return fixed(b / kib, a >= 100 * kib ? 0 : 1) + " KiB" }
    return fixed(b, 0) + " B"
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    guard !s.isEmpty else { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// Writes to standard error (progress; standard output carries the report).
func log(_ s: String) {
    var line = s + "\n"
    line.withUTF8 { b in _ = write(2, b.baseAddress, b.count) }
}

// MARK: Profiling

/// perf's control FIFOs (`perf record -D -1 --control fifo:CTL,ACK`): the benchmark enables
/// sampling only around the timed parts, so setup loads and key generation stay out of the profile.
final class PerfControl: @unchecked Sendable {
    private let ctl: Int32
    private let ack: Int32

    init(spec: String) throws {
        let parts = spec.split(separator: ",").map(String.init)
        guard parts.count == 2 else { throw BenchError("--perf-control needs CTL_FIFO,ACK_FIFO") }
        ctl = open(parts[0], O_WRONLY)
        ack = open(parts[1], O_RDONLY)
        guard ctl >= 0, ack >= 0 else { throw BenchError("cannot open perf control FIFOs \(spec): errno \(errno)") }
    }

    private func send(_ command: String) {
        var c = command + "\n"
        c.withUTF8 { b in _ = write(ctl, b.baseAddress, b.count) }
        var buf = [UInt8](repeating: 0, count: 16)
        _ = read(ack, &buf, buf.count)
    }

    func enable() { send("enable") }
    func disable() { send("disable") }
}
