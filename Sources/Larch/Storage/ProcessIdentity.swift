import SystemPackage
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A process as the lock file records it: its id and its start time, so that a reader slot left by
/// a dead process is recognized even after the id was given to another process.
struct ProcessIdentity: Equatable, Sendable {
    let pid: UInt64
    /// When the process started (Linux: clock ticks since boot, /proc/PID/stat field 22;
    /// macOS: microseconds since the epoch); 0 when unknown.
    let startTime: UInt64

    /// This process.
    static let current = ProcessIdentity(pid: UInt64(getpid()), startTime: startTime(of: getpid()))

    /// Whether the process `pid` that started at `startTime` (0: unknown) is still running.
    static func isAlive(pid: UInt64, startTime recorded: UInt64) -> Bool {
        guard pid > 0, pid <= UInt64(Int32.max) else { return false }
        let p = pid_t(pid)
        if kill(p, 0) != 0 && errno != EPERM { return false }
        guard recorded != 0 else { return true }
        let now = startTime(of: p)
        return now == 0 || now == recorded
    }

    /// Nanoseconds since the epoch.
    static func wallClockNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
    }

    /// The start time of process `pid`, or 0 when it cannot be read.
    static func startTime(of pid: pid_t) -> UInt64 {
        #if os(Linux)
        guard let stat = try? readSmallFile("/proc/\(pid)/stat") else { return 0 }
        // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
        guard let close = stat.lastIndex(of: UInt8(ascii: ")")) else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: UInt8(ascii: " "))
        // After ')' come fields 3, 4, ...: the start time is field 22, the 20th of them.
        guard fields.count >= 20 else { return 0 }
        return UInt64(String(decoding: fields[19], as: UTF8.self)) ?? 0
        #elseif canImport(Darwin)
        var info = kinfo_proc()
        var size = MemoryLayout<kinfo_proc>.stride
        var mib: [Int32] = [CTL_KERN, KERN_PROC, KERN_PROC_PID, pid]
        guard sysctl(&mib, 4, &info, &size, nil, 0) == 0, size > 0 else { return 0 }
        let t = info.kp_proc.p_un.__p_starttime
        return UInt64(t.tv_sec) &* 1_000_000 &+ UInt64(t.tv_usec)
        #else
        return 0
        #endif
    }

    /// An identifier of the current boot of the machine (Linux: a hash of the kernel's boot id;
    /// macOS: the boot time in microseconds); 0 when unknown. The lock file keeps its published
    /// transaction across its rebuilds only within one boot: a crash of the machine loses the page
    /// cache, and with it what made that transaction whole.
    static let bootID: UInt64 = {
        #if os(Linux)
        guard let bytes = try? readSmallFile("/proc/sys/kernel/random/boot_id") else { return 0 }
        var h: UInt64 = 0xCBF2_9CE4_8422_2325   // FNV-1a
        for b in bytes where b != UInt8(ascii: "\n") { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h == 0 ? 1 : h
        #elseif canImport(Darwin)
        var t = timeval()
        var size = MemoryLayout<timeval>.stride
        guard sysctlbyname("kern.boottime", &t, &size, nil, 0) == 0 else { return 0 }
        return UInt64(t.tv_sec) &* 1_000_000 &+ UInt64(t.tv_usec)
        #else
        return 0
        #endif
    }()

    #if os(Linux)
    private static func readSmallFile(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw Errno(rawValue: errno) }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: 1024)
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { throw Errno(rawValue: errno) }
        return Array(bytes[0..<n])
    }
    #endif
}
