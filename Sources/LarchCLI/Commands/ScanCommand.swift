import ArgumentParser
import Larch
import LarchDumpFormat

/// `larch scan`: list entries in key order.
struct ScanCommand: LarchSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "List entries in key order: all, a prefix, or a range.",
        discussion: """
            Prints one entry per line: the key, a tab, the value. Bytes outside printable ASCII are \
            shown as a backslash and two hex digits, a backslash as two backslashes (mdb_dump's print \
            format), so every line is unambiguous; --hex shows hex instead. In a database with \
            sorted duplicates, each (key, value) pair is one entry: a key is listed once per value, \
            values in order (reversed with --reverse).

            Examples:
              larch scan app.larch
              larch scan app.larch --prefix user: --limit 10
              larch scan app.larch --from user:100 --to user:200     from inclusive, to exclusive
              larch scan app.larch --reverse --limit 1                the last entry
              larch scan app.larch --db tags --keys-only
              larch scan app.larch --count --prefix user:
              larch scan app.larch --json --limit 100
            """)

    @OptionGroup var file: FileArgument
    @OptionGroup var snapshot: SnapshotOption
    @OptionGroup var database: DatabaseOption
    @Option(name: .long, help: ArgumentHelp("Only keys starting with this.", valueName: "prefix"))
    var prefix: String?
    @Option(name: .long, help: ArgumentHelp("Start at this key (inclusive).", valueName: "key"))
    var from: String?
    @Option(name: .long, help: ArgumentHelp("Stop before this key (exclusive).", valueName: "key"))
    var to: String?
    @Flag(name: .long, help: "Descending key order.")
    var reverse = false
    @Option(name: .long, help: ArgumentHelp("At most this many entries.", valueName: "n"))
    var limit: Int?
    @Flag(name: .long, help: "Print keys only.")
    var keysOnly = false
    @Flag(name: .long, help: "Print only the number of entries.")
    var count = false
    @Flag(name: .long, help: "Print a JSON array of {key, value} (strings in the same encoding as the text output).")
    var json = false
    @OptionGroup var encoding: EncodingOption

    func validate() throws {
        if prefix != nil && (from != nil || to != nil) { throw ValidationError("give --prefix or --from/--to, not both") }
        if let limit, limit < 0 { throw ValidationError("--limit must not be negative") }
        if count && json { throw ValidationError("give --count or --json, not both") }
    }

    /// Calls `visit` with each (key, value) pair of a sorted-duplicates database whose key is in
    /// `range`, in order (or reverse), until it returns false.
    /// Scans the pairs of a sorted-duplicates database in `range`. Its bounds need not be keys (an
    /// empty bound, or one longer than `maxKeySize`, is fine, as for other databases); the cursor
    /// seeks only to keys, so such a bound is first replaced by one that selects the same keys.
    static func scanDuplicates(_ c: DuplicateCursor<ReadOnly>, _ range: KeyRange, reverse: Bool, maxKeySize: Int,
                               _ visit: (RawSpan, RawSpan) throws -> Bool) throws {
        func compare(_ a: [UInt8], _ b: [UInt8]) -> Int {
            a.lexicographicallyPrecedes(b) ? -1 : a == b ? 0 : 1
        }
        func aboveLower(_ k: [UInt8]) -> Bool {
            switch range.lower {
            case .unbounded: return true
            case .included(let b): return compare(k, b) >= 0
            case .excluded(let b): return compare(k, b) > 0
            }
        }
        func belowUpper(_ k: [UInt8]) -> Bool {
            switch range.upper {
            case .unbounded: return true
            case .included(let b): return compare(k, b) <= 0
            case .excluded(let b): return compare(k, b) < 0
            }
        }
        func bytes(_ b: KeyRange.Bound) -> [UInt8]? {
            switch b {
            case .unbounded: return nil
            case .included(let k), .excluded(let k): return k
            }
        }
        var on: Bool
        if reverse {
            if let b = bytes(range.upper) {
                if b.isEmpty {
                    on = false   // no key is below the empty one
                } else if b.count > maxKeySize {
                    // No key is that long: those up to it are those up to its first maxKeySize bytes.
                    let p = Array(b.prefix(maxKeySize))
                    on = try c.seek(toKey: p) ? try c.lastDuplicate() : try c.seek(atLeastKey: p) ? try c.previousKey() : try c.last()
                } else if case .included = range.upper, try c.seek(toKey: b) {
                    // The last pair below (or at) the bound: from the first key at or after it, step back.
                    on = try c.lastDuplicate()
                } else if try c.seek(atLeastKey: b) {
                    on = try c.previousKey()
                } else {
                    on = try c.last()
                }
            } else {
                on = try c.last()
            }
        } else {
            if let b = bytes(range.lower), !b.isEmpty {   // every key is above the empty one
                if b.count > maxKeySize {
                    // The first key after its first maxKeySize bytes (a key equal to those is below it).
                    let p = Array(b.prefix(maxKeySize))
                    on = try c.seek(atLeastKey: p)
                    if on, try c.key == p { on = try c.nextKey() }
                } else {
                    on = try c.seek(atLeastKey: b)
                }
            } else {
                on = try c.first()
            }
        }
        while on, let k = try c.key, let v = try c.value {
            guard reverse ? aboveLower(k) : belowUpper(k) else { return }
            if reverse ? belowUpper(k) : aboveLower(k) {
                let more = try k.withUnsafeBytes { kb in try v.withUnsafeBytes { vb in try visit(kb.bytes, vb.bytes) } }
                guard more else { return }
            }
            on = reverse ? try c.previous() : try c.next()
        }
    }

    /// One entry of the JSON output.
    struct Entry: Encodable {
        var key: String
        var value: String?
    }

    func execute() throws {
        let range: KeyRange
        if let prefix {
            range = .prefix(try encoding.decode(prefix, what: "prefix"))
        } else {
            range = KeyRange(lower: try from.map { .included(try encoding.decode($0, what: "--from key")) } ?? .unbounded,
                             upper: try to.map { .excluded(try encoding.decode($0, what: "--to key")) } ?? .unbounded)
        }
        let env = try file.openForReading()
        let out = BufferedOutput()
        var seen = 0
        var entries: [Entry] = []
        let hex = encoding.hex
        let keysOnly = keysOnly, count = count, json = json, limit = limit
        try snapshot.read(env) { txn in
            let db = try database.database(in: txn)
            let visit = { (key: RawSpan, value: RawSpan) throws -> Bool in
                if let limit, seen >= limit { return false }
                seen += 1
                if count { return true }
                if json {
                    let k = key.withUnsafeBytes { hex ? ByteEncoding.hex($0) : ByteEncoding.printable($0) }
                    let v = keysOnly ? nil : value.withUnsafeBytes { hex ? ByteEncoding.hex($0) : ByteEncoding.printable($0) }
                    entries.append(Entry(key: k, value: v))
                    return true
                }
                try out.append { buf in
                    key.withUnsafeBytes { hex ? ByteEncoding.hex($0, into: &buf) : ByteEncoding.printable($0, into: &buf) }
                    if !keysOnly {
                        buf.append(UInt8(ascii: "\t"))
                        value.withUnsafeBytes { hex ? ByteEncoding.hex($0, into: &buf) : ByteEncoding.printable($0, into: &buf) }
                    }
                    buf.append(UInt8(ascii: "\n"))
                }
                return true
            }
            if try txn.stats(db).hasSortedDuplicates {
                try Self.scanDuplicates(txn.duplicateCursor(db), range, reverse: reverse, maxKeySize: env.maxKeySize, visit)
            } else {
                try txn.forEach(in: db, range, reverse: reverse, visit)
            }
        }
        if json {
            try printJSON(entries)
        } else {
            if count { try out.write("\(seen)\n") }
            try out.flush()
        }
    }
}
