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
        var v = Double(Int64(n))
        var u = 0
        while v >= 1024 && u < units.count - 1 { v /= 1024; u += 1 }
        return u == 0 ? "\(Int64(n)) bytes" : fixed(v, 1) + " " + units[u]
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
