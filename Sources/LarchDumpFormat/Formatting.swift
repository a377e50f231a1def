#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Number formatting for human-readable output.
package enum Formatting {
    /// `1234567` → `1,234,567`.
    package static func grouped(_ n: some BinaryInteger) -> String {
        let digits = String(n.magnitude)
        var out = ""
        for (i, c) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (n < 0 ? "-" : "") + out
    }

    /// `12582912` → `12.0 MiB`.
    package static func bytes(_ n: some BinaryInteger) -> String {
        let units = ["bytes", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(n)   // any size, a forged one too, without a trap
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(n) bytes" : fixed(v, 1) + " " + units[u]
    }

    /// `x` with `places` decimals.
    package static func fixed(_ x: Double, _ places: Int) -> String {
        guard x.isFinite else { return "\(x)" }
        var scale = 1.0
        for _ in 0..<places { scale *= 10 }
        let r = (x * scale).rounded() / scale
        var s = String(r)
        if let dot = s.firstIndex(of: ".") {
            let decimals = s.distance(from: dot, to: s.endIndex) - 1
            if decimals < places { s += String(repeating: "0", count: places - decimals) }
            if places == 0 { s = String(s[..<dot]) }
        } else if places > 0 {
            s += "." + String(repeating: "0", count: places)
        }
        return s
    }

    /// Operations per second, grouped.
    package static func rate(_ count: Int, seconds: Double) -> String {
        grouped(Int((Double(count) / max(seconds, 1e-9)).rounded())) + "/s"
    }

    /// Seconds of a duration.
    package static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}

extension Formatting {
    /// `nanoseconds` since 1970 as an ISO 8601 UTC time to the second: `2026-11-30T21:55:27Z`.
    package static func utcTimestamp(nanoseconds: UInt64) -> String {
        var t = time_t(nanoseconds / 1_000_000_000)
        var parts = tm()
        guard gmtime_r(&t, &parts) != nil else { return "\(nanoseconds / 1_000_000_000) s after 1970" }
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))Z"
    }
}
