#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes workload 12's chart — commits/s against writer threads, one line per engine, and the
/// file system's fdatasync rate as a dashed line — as an SVG file at `path`, when its directory exists.
func writeChart(_ r: WritersResults, to path: String) {
    let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
    var st = stat()
    guard stat(directory, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
        log("larch-bench: chart not written: no directory \(directory) (pass --chart PATH, or run from the repository root)")
        return
    }
    let svg = writersChartSVG(r)
    guard let f = fopen(path, "w") else {
        log("larch-bench: cannot write \(path): errno \(errno)")
        return
    }
    fputs(svg, f)
    fclose(f)
    log("larch-bench: chart written to \(path)")
}

/// The chart as SVG text: log-scaled axes (writer counts 1, 4, 16 fall evenly; a ratio is a
/// distance, so "5× one writer" reads the same at any height).
func writersChartSVG(_ r: WritersResults) -> String {
    let width = 780.0, height = 480.0
    let left = 86.0, right = 570.0, top = 78.0, bottom = 400.0
    let counts = WritersWorkload.writerCounts
    let colors: [EngineKind: String] = [.larch: "#d1495b", .lmdb: "#00798c", .sqlite: "#edae49", .rocksdb: "#66468c"]

    // The series: median commits/s per writer count.
    let series: [(EngineKind, [(Int, Double)])] = r.engines.map { e in (e, counts.compactMap { w in r.rate(e, w).map { (w, $0) } }) }
    let physical = r.physical.isEmpty ? nil : larchBenchMedian(r.physical)
    var values = series.flatMap { $0.1.map(\.1) }
    if let physical { values.append(physical) }
    values = values.filter { $0 > 0 && $0.isFinite }
    let lo = values.min() ?? 1, hi = values.max() ?? 10

    // Y: log scale from a 1-2-5 step below the smallest value to one above the largest.
    let steps = niceSteps(from: lo / 1.3, to: hi * 1.3)
    let yMin = steps.first!, yMax = steps.last!
    func y(_ v: Double) -> Double { bottom - (log10(v) - log10(yMin)) / (log10(yMax) - log10(yMin)) * (bottom - top) }
    // X: log2 of the writer count, with a margin either side.
    let x0 = log2(Double(counts.first!)) - 0.35, x1 = log2(Double(counts.last!)) + 0.35
    func x(_ w: Int) -> Double { left + (log2(Double(w)) - x0) / (x1 - x0) * (right - left) }

    var s = ""
    func add(_ t: String) { s += t + "\n" }
    // A white outline under the text, so that labels stay legible where they cross a line.
    let halo = "stroke=\"#ffffff\" stroke-width=\"3\" stroke-linejoin=\"round\" paint-order=\"stroke\""
    func num(_ v: Double) -> String { fixed(v, 1) }
    add("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
    add("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(width))\" height=\"\(Int(height))\" viewBox=\"0 0 \(Int(width)) \(Int(height))\" " +
        "font-family=\"Helvetica, Arial, sans-serif\" font-size=\"12\">")
    add("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>")
    add("<text x=\"\(num(width / 2))\" y=\"28\" text-anchor=\"middle\" font-size=\"17\" font-weight=\"bold\">" +
        "Durable one-put commits from many writers (larch-bench workload 12)</text>")
    add("<text x=\"\(num(width / 2))\" y=\"50\" text-anchor=\"middle\" font-size=\"12\" fill=\"#444444\">" +
        xmlEscape("N = \(grouped(r.preloadKeys)) keys preloaded, 1 put per durable commit, writer threads, median of \(r.reps) × \(fixed(r.seconds, 1)) s; \(r.date)") +
        "</text>")

    // Grid and y labels.
    for v in steps {
        let yy = num(y(v))
        let major = isPowerOfTen(v)
        add("<line x1=\"\(num(left))\" y1=\"\(yy)\" x2=\"\(num(right))\" y2=\"\(yy)\" stroke=\"\(major ? "#cccccc" : "#eeeeee")\" stroke-width=\"1\"/>")
        add("<text x=\"\(num(left - 8))\" y=\"\(num(y(v) + 4))\" text-anchor=\"end\" fill=\"#333333\">\(tickLabel(v))</text>")
    }
    for w in counts {
        let xx = num(x(w))
        add("<line x1=\"\(xx)\" y1=\"\(num(top))\" x2=\"\(xx)\" y2=\"\(num(bottom))\" stroke=\"#eeeeee\" stroke-width=\"1\"/>")
        add("<text x=\"\(xx)\" y=\"\(num(bottom + 20))\" text-anchor=\"middle\" fill=\"#333333\">\(w)</text>")
    }
    // Axes and their titles.
    add("<line x1=\"\(num(left))\" y1=\"\(num(bottom))\" x2=\"\(num(right))\" y2=\"\(num(bottom))\" stroke=\"#333333\" stroke-width=\"1.2\"/>")
    add("<line x1=\"\(num(left))\" y1=\"\(num(top))\" x2=\"\(num(left))\" y2=\"\(num(bottom))\" stroke=\"#333333\" stroke-width=\"1.2\"/>")
    add("<text x=\"\(num((left + right) / 2))\" y=\"\(num(bottom + 44))\" text-anchor=\"middle\" font-size=\"13\">writer threads (log scale)</text>")
    add("<text x=\"22\" y=\"\(num((top + bottom) / 2))\" text-anchor=\"middle\" font-size=\"13\" " +
        "transform=\"rotate(-90 22 \(num((top + bottom) / 2)))\">commits per second (log scale)</text>")

    // The physical limit.
    if let physical {
        let yy = num(y(physical))
        add("<line x1=\"\(num(left))\" y1=\"\(yy)\" x2=\"\(num(right))\" y2=\"\(yy)\" stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>")
    }

    // One line per engine (Larch drawn last, on top).
    let ordered = series.filter { $0.0 != .larch } + series.filter { $0.0 == .larch }
    for (e, points) in ordered where !points.isEmpty {
        let color = colors[e] ?? "#000000"
        let widthStroke = e == .larch ? 3.0 : 2.0
        let coords = points.map { "\(num(x($0.0))),\(num(y($0.1)))" }.joined(separator: " ")
        add("<polyline points=\"\(coords)\" fill=\"none\" stroke=\"\(color)\" stroke-width=\"\(num(widthStroke))\" stroke-linejoin=\"round\"/>")
        for (w, v) in points {
            add("<circle cx=\"\(num(x(w)))\" cy=\"\(num(y(v)))\" r=\"\(e == .larch ? 4.5 : 3.5)\" fill=\"\(color)\"/>")
        }
    }
    // The values beside their points (left of the first writer count, where no line goes; right of
    // the others), moved apart where they would overlap (13 px at least).
    for w in counts {
        let leftSide = w == counts.first
        // Beside a middle point, the label goes on the side of the line away from its next segment.
        var labels: [(EngineKind, Double, Double)] = series.compactMap { (e, points) in
            guard let i = points.firstIndex(where: { $0.0 == w }) else { return nil }
            let v = points[i].1
            guard !leftSide, i + 1 < points.count else { return (e, v, y(v) + 4) }
            return (e, v, points[i + 1].1 < v ? y(v) - 7 : y(v) + 16)
        }
        labels.sort { $0.2 < $1.2 }
        for i in labels.indices.dropFirst() where labels[i].2 - labels[i - 1].2 < 13 { labels[i].2 = labels[i - 1].2 + 13 }
        for (e, v, ly) in labels {
            add("<text x=\"\(num(x(w) + (leftSide ? -8 : 8)))\" y=\"\(num(ly))\" text-anchor=\"\(leftSide ? "end" : "start")\" " +
                "fill=\"\(colors[e] ?? "#000000")\" font-size=\"11\" \(halo)>\(compact(v))</text>")
        }
    }


    // Legend.
    var ly = top + 10
    add("<text x=\"\(num(right + 24))\" y=\"\(num(ly))\" font-weight=\"bold\">engine</text>")
    for (e, points) in series where !points.isEmpty {
        ly += 22
        let color = colors[e] ?? "#000000"
        add("<line x1=\"\(num(right + 24))\" y1=\"\(num(ly - 4))\" x2=\"\(num(right + 52))\" y2=\"\(num(ly - 4))\" stroke=\"\(color)\" stroke-width=\"\(e == .larch ? 3 : 2)\"/>")
        add("<circle cx=\"\(num(right + 38))\" cy=\"\(num(ly - 4))\" r=\"3.5\" fill=\"\(color)\"/>")
        add("<text x=\"\(num(right + 60))\" y=\"\(num(ly))\">\(xmlEscape(e.displayName))</text>")
    }
    if let physical {
        ly += 22
        add("<line x1=\"\(num(right + 24))\" y1=\"\(num(ly - 4))\" x2=\"\(num(right + 52))\" y2=\"\(num(ly - 4))\" stroke=\"#555555\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>")
        add("<text x=\"\(num(right + 60))\" y=\"\(num(ly))\">physical limit:</text>")
        ly += 15
        add("<text x=\"\(num(right + 60))\" y=\"\(num(ly))\">\(compact(physical)) fdatasyncs/s</text>")
    }
    ly += 34
    for note in ["each commit: 1 put, synced", "Larch .full, LMDB defaults,", "SQLite WAL synchronous=FULL,", "RocksDB sync = 1"] {
        add("<text x=\"\(num(right + 24))\" y=\"\(num(ly))\" font-size=\"10.5\" fill=\"#555555\">\(xmlEscape(note))</text>")
        ly += 15
    }
    add("</svg>")
    return s
}

/// 1-2-5 steps times powers of ten covering `from...to`.
func niceSteps(from lo: Double, to hi: Double) -> [Double] {
    var decade = pow(10, floor(log10(max(lo, 1e-9))))
    var out: [Double] = []
    while out.last.map({ $0 < hi }) ?? true {
        for m in [1.0, 2.0, 5.0] {
            let v = m * decade
            if v <= lo { out = [v] } else if out.last.map({ $0 < hi }) ?? true { out.append(v) }
        }
        decade *= 10
    }
    return out
}

func isPowerOfTen(_ v: Double) -> Bool {
    let l = log10(v)
    return abs(l - l.rounded()) < 1e-9
}

func xmlEscape(_ s: String) -> String {
    var out = ""
    for c in s {
        switch c {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        default: out.append(c)
        }
    }
    return out
}

/// An axis label: 500, 2k, 10k, 1.5M.
func tickLabel(_ v: Double) -> String {
    if v >= 1e6 { return trimmedNumber(v / 1e6) + "M" }
    if v >= 1e3 { return trimmedNumber(v / 1e3) + "k" }
    return trimmedNumber(v)
}

func trimmedNumber(_ v: Double) -> String {
    v == v.rounded() ? String(Int(v)) : fixed(v, 1)
}
