import Foundation
import Testing
@testable import Larch

/// Property-based tests of the order-preserving key encodings (`OrderedKey`): for random pairs of
/// every supported type and of composite keys, the encodings compare bytewise exactly as the values
/// do, decoding gives the value back, and malformed bytes throw instead of trapping.
@Suite("Key encoding")
struct KeyEncodingTests {
    /// Random pairs per type (`LARCH_TEST_SCALE` multiplies it).
    static let pairCount = 100_000 * TestEnvironment.scale

    // MARK: Orders of the values

    /// -1, 0 or 1 as `a` sorts before, equal to or after `b` bytewise (a proper prefix first).
    static func byteOrder(_ a: [UInt8], _ b: [UInt8]) -> Int {
        a == b ? 0 : (a.lexicographicallyPrecedes(b) ? -1 : 1)
    }

    static func order<T: Comparable>(_ a: T, _ b: T) -> Int { a < b ? -1 : (a == b ? 0 : 1) }

    static func order(_ a: Bool, _ b: Bool) -> Int { order(a ? 1 : 0, b ? 1 : 0) }

    /// The documented key order of strings: Unicode scalar values, lexicographically.
    static func order(_ a: String, _ b: String) -> Int {
        let x = a.unicodeScalars.map(\.value), y = b.unicodeScalars.map(\.value)
        return x == y ? 0 : (x.lexicographicallyPrecedes(y) ? -1 : 1)
    }

    static func order(_ a: [UInt8], _ b: [UInt8]) -> Int { byteOrder(a, b) }

    /// The documented key order of floating-point numbers: `<` and `==` (so -0.0 == +0.0), with every
    /// NaN equal to every other and after +infinity.
    static func order<F: BinaryFloatingPoint>(_ a: F, _ b: F) -> Int {
        switch (a.isNaN, b.isNaN) {
        case (true, true): return 0
        case (true, false): return 1
        case (false, true): return -1
        case (false, false): return a < b ? -1 : (a == b ? 0 : 1)
        }
    }

    /// Whether `decoded` is what decoding `original`'s encoding must give: the same bits, except
    /// -0.0 comes back as +0.0 and every NaN as the canonical `.nan`.
    static func floatRoundTrip<F: BinaryFloatingPoint>(_ original: F, _ decoded: F) -> Bool {
        if original.isNaN { return decoded.isNaN && decoded.sign == .plus && decoded.significandBitPattern == F.nan.significandBitPattern }
        if original == 0 { return decoded == 0 && decoded.sign == .plus }
        return decoded == original && decoded.sign == original.sign
    }

    /// Compares two composite keys element by element with the elements' orders.
    static func lexicographic(_ orders: [Int]) -> Int { orders.first { $0 != 0 } ?? 0 }

    // MARK: The property check

    /// Checks `pairCount` random pairs and every pair of `edges` (and each edge against random
    /// values): encodings order exactly as `order` says, every value round-trips (`roundTrip`), and
    /// two encodings concatenated decode back as the two values. Prints the seed and the time.
    func checkPairs<K: OrderedKey>(
        _ name: String, seed defaultSeed: UInt64, edges: [K],
        order: (K, K) -> Int, roundTrip: (K, K) -> Bool, random: (inout SeededGenerator) -> K
    ) {
        let seed = TestEnvironment.seed(default: defaultSeed)
        var rng = SeededGenerator(seed: seed)
        let clock = ContinuousClock()
        let start = clock.now
        var failures: [String] = []
        var outcomes = [0, 0, 0]
        var checked = 0

        func check(_ a: K, _ b: K) {
            checked += 1
            let ea = a.encodedKey, eb = b.encodedKey
            let expected = order(a, b), found = Self.byteOrder(ea, eb)
            outcomes[expected + 1] += 1
            if expected != found {
                failures.append("\(name): order(\(a), \(b)) is \(expected) but the encodings \(ea) and \(eb) compare \(found)")
            }
            do {
                let da = try K(encodedKey: ea)
                if !roundTrip(a, da) { failures.append("\(name): \(a) encoded as \(ea) decodes as \(da)") }
                var reader = KeyReader(ea + eb)
                let first = try K.decodeKey(from: &reader)
                let second = try K.decodeKey(from: &reader)
                if reader.position != ea.count + eb.count || !roundTrip(a, first) || !roundTrip(b, second) {
                    failures.append("\(name): \(ea + eb) does not decode as \(a) then \(b)")
                }
            } catch {
                failures.append("\(name): decoding \(ea) or \(ea + eb) threw \(error)")
            }
        }

        for a in edges {
            for b in edges { check(a, b) }
        }
        for _ in 0..<Self.pairCount {
            let a = random(&rng)
            let b: K
            switch rng.next() % 10 {
            case 0: b = a
            case 1: b = edges[Int(rng.next() % UInt64(edges.count))]
            default: b = random(&rng)
            }
            if rng.next() % 2 == 0 { check(a, b) } else { check(b, a) }
            if failures.count > 10 { break }
        }
        let elapsed = clock.now - start
        print("KeyEncodingTests \(name): seed \(seed) (LARCH_SEED), \(checked) pairs, \(elapsed); before/equal/after \(outcomes)")
        let passed = failures.isEmpty
        #expect(passed, "\(name), seed \(seed), \(failures.count) failures:\n\(failures.prefix(10).joined(separator: "\n"))")
        // The generators must exercise every outcome, or the check proves little.
        #expect(outcomes.allSatisfy { $0 > Self.pairCount / 100 }, "\(name): outcomes \(outcomes)")
    }

    // MARK: Generators

    /// Full-range values, small values around zero, and values near the minimum and maximum.
    static func randomInteger<T: FixedWidthInteger>(_ rng: inout SeededGenerator) -> T {
        let small = Int64(rng.next() % 9) - 4
        switch rng.next() % 4 {
        case 0: return T(truncatingIfNeeded: rng.next())
        case 1: return T(truncatingIfNeeded: small)
        case 2: return T.min &+ T(truncatingIfNeeded: small + 4)
        default: return T.max &- T(truncatingIfNeeded: small + 4)
        }
    }

    static func integerEdges<T: FixedWidthInteger>(_: T.Type) -> [T] {
        [T.min, T.min &+ 1, T(truncatingIfNeeded: -2), T(truncatingIfNeeded: -1), 0, 1, 2, 0x7F, 0x80, 0xFF,
         T.max &- 1, T.max, T(truncatingIfNeeded: 0x100), T(truncatingIfNeeded: 0x7FFF_FFFF)]
    }

    func checkInteger<T: FixedWidthInteger & OrderedKey>(_ type: T.Type, seed: UInt64) {
        checkPairs("\(T.self)", seed: seed, edges: Self.integerEdges(T.self),
                   order: { Self.order($0, $1) }, roundTrip: { $0 == $1 }, random: { Self.randomInteger(&$0) })
    }

    /// Scalars chosen to cover every UTF-8 length and the bytes around NUL and the top of each range.
    static let scalars: [Unicode.Scalar] = [
        "\0", "\u{1}", "a", "b", "z", "\u{7F}", "\u{80}", "\u{E9}", "\u{FF}", "\u{301}", "\u{7FF}", "\u{800}",
        "\u{20AC}", "\u{FFFF}", "\u{10000}", "\u{1D11E}", "\u{10FFFF}",
    ]

    static let stringEdges: [String] = [
        "", "\0", "\0\0", "\0a", "a", "a\0", "a\0\0", "a\0b", "a\u{1}", "ab", "b", "\u{7F}", "\u{80}", "\u{E9}",
        "e\u{301}", "\u{FFFF}", "\u{10000}", "\u{10FFFF}", "\u{10FFFF}\0",
    ]

    /// Short strings over `scalars`, often a prefix, an extension or a one-scalar change of another.
    static func randomString(_ rng: inout SeededGenerator, maxLength: Int = 6) -> String {
        var s = String.UnicodeScalarView()
        for _ in 0..<Int(rng.next() % UInt64(maxLength + 1)) { s.append(scalars[Int(rng.next() % UInt64(scalars.count))]) }
        return String(s)
    }

    static let byteAlphabet: [UInt8] = [0x00, 0x00, 0x01, 0x02, 0x7F, 0x80, 0xFE, 0xFF, 0xFF]

    static let bytesEdges: [[UInt8]] = [
        [], [0], [0, 0], [0, 0xFF], [0, 1], [0xFF], [0xFF, 0], [0xFF, 0xFF], [1], [1, 0], [1, 0, 0], [0xFE, 0xFF],
    ]

    static func randomBytes(_ rng: inout SeededGenerator, maxLength: Int = 6) -> [UInt8] {
        (0..<Int(rng.next() % UInt64(maxLength + 1))).map { _ in
            rng.next() % 4 == 0 ? UInt8(truncatingIfNeeded: rng.next()) : byteAlphabet[Int(rng.next() % UInt64(byteAlphabet.count))]
        }
    }

    static func doubleEdges() -> [Double] {
        [-.infinity, -.greatestFiniteMagnitude, -1e300, -1, -.leastNormalMagnitude, -.leastNonzeroMagnitude, -0.0, 0.0,
         .leastNonzeroMagnitude, .leastNormalMagnitude, 1, 1.5, 1e300, .greatestFiniteMagnitude, .infinity,
         .nan, -.nan, .signalingNaN, Double(bitPattern: 0x7FF0_0000_0000_0001), Double(bitPattern: 0xFFFF_FFFF_FFFF_FFFF)]
    }

    static func floatEdges() -> [Float] {
        [-.infinity, -.greatestFiniteMagnitude, -1, -.leastNormalMagnitude, -.leastNonzeroMagnitude, -0.0, 0.0,
         .leastNonzeroMagnitude, .leastNormalMagnitude, 1, .greatestFiniteMagnitude, .infinity,
         .nan, -.nan, .signalingNaN, Float(bitPattern: 0xFFFF_FFFF)]
    }

    /// Random bit patterns (every class: subnormal, infinite, NaN), small integers, and edges.
    static func randomDouble(_ rng: inout SeededGenerator) -> Double {
        switch rng.next() % 4 {
        case 0: return Double(bitPattern: rng.next())
        case 1: return Double(Int64(rng.next() % 9) - 4) / 2
        case 2: let e = doubleEdges(); return e[Int(rng.next() % UInt64(e.count))]
        default: return Double.random(in: -1e6...1e6, using: &rng)
        }
    }

    static func randomFloat(_ rng: inout SeededGenerator) -> Float {
        switch rng.next() % 4 {
        case 0: return Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
        case 1: return Float(Int64(rng.next() % 9) - 4) / 2
        case 2: let e = floatEdges(); return e[Int(rng.next() % UInt64(e.count))]
        default: return Float.random(in: -1e6...1e6, using: &rng)
        }
    }

    // MARK: Scalar types

    @Test func signedIntegers() {
        checkInteger(Int8.self, seed: 0x1508)
        checkInteger(Int16.self, seed: 0x1516)
        checkInteger(Int32.self, seed: 0x1532)
        checkInteger(Int64.self, seed: 0x1564)
        checkInteger(Int.self, seed: 0x1500)
    }

    @Test func unsignedIntegers() {
        checkInteger(UInt8.self, seed: 0x2508)
        checkInteger(UInt16.self, seed: 0x2516)
        checkInteger(UInt32.self, seed: 0x2532)
        checkInteger(UInt64.self, seed: 0x2564)
        checkInteger(UInt.self, seed: 0x2500)
    }

    @Test func integerBytes() {
        #expect(Int8(-128).encodedKey == [0x00])
        #expect(Int8(-1).encodedKey == [0x7F])
        #expect(Int8(0).encodedKey == [0x80])
        #expect(Int32(1).encodedKey == [0x80, 0, 0, 1])
        #expect(UInt16(0x1234).encodedKey == [0x12, 0x34])
        #expect(Int(-1).encodedKey == Int64(-1).encodedKey)
        #expect(UInt(7).encodedKey == UInt64(7).encodedKey)
    }

    @Test func bools() {
        checkPairs("Bool", seed: 0x3501, edges: [false, true], order: { Self.order($0, $1) }, roundTrip: { $0 == $1 },
                   random: { $0.next() % 2 == 0 })
        #expect(false.encodedKey == [0] && true.encodedKey == [1])
    }

    @Test func doubles() {
        checkPairs("Double", seed: 0x4564, edges: Self.doubleEdges(), order: { Self.order($0, $1) },
                   roundTrip: { Self.floatRoundTrip($0, $1) }, random: { Self.randomDouble(&$0) })
        // The documented rules: -0.0 is +0.0, every NaN is one key after +infinity.
        #expect((-0.0 as Double).encodedKey == (0.0 as Double).encodedKey)
        #expect(Double.signalingNaN.encodedKey == Double.nan.encodedKey)
        #expect((-Double.nan).encodedKey == Double.nan.encodedKey)
        #expect(Self.byteOrder(Double.infinity.encodedKey, Double.nan.encodedKey) == -1)
    }

    @Test func floats() {
        checkPairs("Float", seed: 0x4532, edges: Self.floatEdges(), order: { Self.order($0, $1) },
                   roundTrip: { Self.floatRoundTrip($0, $1) }, random: { Self.randomFloat(&$0) })
        #expect((-0.0 as Float).encodedKey == (0.0 as Float).encodedKey)
        #expect(Self.byteOrder(Float.infinity.encodedKey, Float.nan.encodedKey) == -1)
    }

    @Test func strings() {
        checkPairs("String", seed: 0x5501, edges: Self.stringEdges, order: { Self.order($0, $1) },
                   roundTrip: { $0.unicodeScalars.elementsEqual($1.unicodeScalars) }, random: { Self.randomString(&$0) })
        #expect("a\0b".encodedKey == [0x61, 0x00, 0xFF, 0x62, 0x00, 0x00])
        // Scalar order, not Swift's canonical equivalence: "é" precomposed and decomposed are two keys.
        #expect("\u{E9}" == "e\u{301}")
        #expect("\u{E9}".encodedKey != "e\u{301}".encodedKey)
    }

    @Test func byteArrays() {
        checkPairs("[UInt8]", seed: 0x6501, edges: Self.bytesEdges, order: { Self.order($0, $1) },
                   roundTrip: { $0 == $1 }, random: { Self.randomBytes(&$0) })
    }

    // MARK: Composite keys

    @Test func pairs() {
        typealias K = KeyTuple2<Int32, String>
        checkPairs("KeyTuple2<Int32, String>", seed: 0x7502,
                   edges: [K(.min, ""), K(-1, "\0"), K(-1, ""), K(0, ""), K(0, "\0"), K(0, "a"), K(0, "a\0"), K(1, ""), K(.max, "\u{10FFFF}")],
                   order: { Self.lexicographic([Self.order($0.first, $1.first), Self.order($0.second, $1.second)]) },
                   roundTrip: { $0.first == $1.first && $0.second.unicodeScalars.elementsEqual($1.second.unicodeScalars) },
                   random: { K(Int32(truncatingIfNeeded: Int64($0.next() % 5) - 2), Self.randomString(&$0, maxLength: 3)) })
    }

    typealias Triple = KeyTuple3<String, Int, Bool>

    static func order(_ a: Triple, _ b: Triple) -> Int {
        let o1 = order(a.first, b.first), o2 = order(a.second, b.second), o3 = order(a.third, b.third)
        return lexicographic([o1, o2, o3])
    }

    static func sameTriple(_ a: Triple, _ b: Triple) -> Bool {
        order(a.first, b.first) == 0 && a.second == b.second && a.third == b.third
    }

    static func randomTriple(_ rng: inout SeededGenerator) -> Triple {
        let s = randomString(&rng, maxLength: 2)
        let i = Int(Int64(rng.next() % 5) - 2)
        return Triple(s, i, rng.next() % 2 == 0)
    }

    @Test func triples() {
        let edges = [Triple("", .min, false), Triple("", 0, true), Triple("\0", -1, false), Triple("a", .max, true), Triple("a\0", .min, false)]
        checkPairs("KeyTuple3<String, Int, Bool>", seed: 0x7503, edges: edges, order: { Self.order($0, $1) },
                   roundTrip: { Self.sameTriple($0, $1) }, random: { Self.randomTriple(&$0) })
    }

    typealias Quad = KeyTuple4<[UInt8], Double, UInt16, String>

    static func order(_ a: Quad, _ b: Quad) -> Int {
        let o1 = order(a.first, b.first), o2 = order(a.second, b.second)
        let o3 = order(a.third, b.third), o4 = order(a.fourth, b.fourth)
        return lexicographic([o1, o2, o3, o4])
    }

    static func sameQuad(_ a: Quad, _ b: Quad) -> Bool {
        a.first == b.first && floatRoundTrip(a.second, b.second) && a.third == b.third && order(a.fourth, b.fourth) == 0
    }

    static func randomQuad(_ rng: inout SeededGenerator) -> Quad {
        let first = randomBytes(&rng, maxLength: 2)
        let second = rng.next() % 2 == 0 ? Double(Int64(rng.next() % 3) - 1) : randomDouble(&rng)
        let third = UInt16(rng.next() % 3)
        return Quad(first, second, third, randomString(&rng, maxLength: 2))
    }

    @Test func quadruples() {
        let edges = [Quad([], -.infinity, 0, ""), Quad([0], -0.0, 1, "\0"), Quad([0], 0, 1, ""), Quad([0xFF], .nan, .max, "a")]
        checkPairs("KeyTuple4<[UInt8], Double, UInt16, String>", seed: 0x7504, edges: edges, order: { Self.order($0, $1) },
                   roundTrip: { Self.sameQuad($0, $1) }, random: { Self.randomQuad(&$0) })
    }

    @Test func tuplePrefixes() {
        let k = KeyTuple4(Int8(3), "ab", false, [UInt8]([0, 1]))
        #expect(k.encodedPrefix(count: 0) == [])
        #expect(k.encodedPrefix(count: 1) == Int8(3).encodedKey)
        #expect(k.encodedPrefix(count: 2) == Int8(3).encodedKey + "ab".encodedKey)
        #expect(k.encodedPrefix(count: 4) == k.encodedKey)
        #expect(k.encodedPrefix(count: 9) == k.encodedKey)
        #expect(KeyTuple4<Int8, String, Bool, [UInt8]>.prefix(3, "ab") == KeyRange.prefix(k.encodedPrefix(count: 2)))
        #expect(KeyTuple2<String, Int>.prefix("a") == KeyRange.prefix("a".encodedKey))
        #expect(k.values.1 == "ab")
        // A string ends with two bytes so that what follows it in a composite key cannot reorder it:
        // ("a", 0xFF) sorts before ("a\0", 0x00) although 0xFF would beat the 0xFF of an escaped NUL.
        #expect(Self.byteOrder(KeyTuple2("a", UInt8(0xFF)).encodedKey, KeyTuple2("a\0", UInt8(0)).encodedKey) == -1)
        #expect(Self.byteOrder(KeyTuple2([UInt8](), UInt8(0xFF)).encodedKey, KeyTuple2([UInt8]([0]), UInt8(0)).encodedKey) == -1)
    }

    // MARK: Conformances of one's own

    /// An application's identifier type, encoded as its one field.
    struct UserID: OrderedKey, Hashable {
        var raw: UInt64
        func encodeKey(into bytes: inout [UInt8]) { raw.encodeKey(into: &bytes) }
        static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> UserID {
            UserID(raw: try UInt64.decodeKey(from: &reader))
        }
    }

    /// A Foundation `Date` as a key (the library does not import Foundation): its
    /// `timeIntervalSinceReferenceDate`, encoded as a `Double`.
    struct Timestamp: OrderedKey, Hashable {
        var date: Date
        func encodeKey(into bytes: inout [UInt8]) { date.timeIntervalSinceReferenceDate.encodeKey(into: &bytes) }
        static func decodeKey(from reader: inout KeyReader) throws(LarchError) -> Timestamp {
            Timestamp(date: Date(timeIntervalSinceReferenceDate: try Double.decodeKey(from: &reader)))
        }
    }

    @Test func customConformancesCompose() {
        typealias K = KeyTuple2<UserID, Timestamp>
        let edges = [K(UserID(raw: 0), Timestamp(date: .distantPast)), K(UserID(raw: 0), Timestamp(date: .distantFuture)),
                     K(UserID(raw: 1), Timestamp(date: Date(timeIntervalSinceReferenceDate: -1))),
                     K(UserID(raw: .max), Timestamp(date: Date(timeIntervalSinceReferenceDate: 0)))]
        checkPairs("KeyTuple2<UserID, Timestamp>", seed: 0x7505, edges: edges,
                   order: { Self.lexicographic([Self.order($0.first.raw, $1.first.raw), Self.order($0.second.date, $1.second.date)]) },
                   roundTrip: { $0 == $1 },
                   random: { rng in
                       let seconds = Double(Int64(rng.next() % 2_000_001) - 1_000_000) / 8
                       return K(UserID(raw: rng.next() % 4), Timestamp(date: Date(timeIntervalSinceReferenceDate: seconds)))
                   })
    }

    // MARK: Malformed bytes

    /// Expects `body` to throw `LarchError.invalidKeyEncoding` with a message.
    func expectInvalid<T>(_ what: String, _ body: () throws -> T) {
        do {
            let value = try body()
            Issue.record("\(what): decoded \(value) instead of throwing")
        } catch {
            guard let error = error as? LarchError, case .invalidKeyEncoding(let reason) = error, !reason.isEmpty else {
                Issue.record("\(what): threw \(error), not invalidKeyEncoding")
                return
            }
            #expect(error.description.hasPrefix("invalid key encoding: "))
        }
    }

    @Test func malformedBytesThrow() {
        expectInvalid("empty Int32") { try Int32(encodedKey: []) }
        expectInvalid("short Int64") { try Int64(encodedKey: [0x80, 0, 0]) }
        expectInvalid("long UInt16") { try UInt16(encodedKey: [0, 0, 0]) }
        expectInvalid("Bool 2") { try Bool(encodedKey: [2]) }
        expectInvalid("Bool empty") { try Bool(encodedKey: []) }
        expectInvalid("unterminated string") { try String(encodedKey: [0x61, 0x62]) }
        expectInvalid("half terminator") { try String(encodedKey: [0x61, 0x00]) }
        expectInvalid("bad escape") { try String(encodedKey: [0x61, 0x00, 0x01, 0x00, 0x00]) }
        expectInvalid("invalid UTF-8") { try String(encodedKey: [0xC3, 0x28, 0x00, 0x00]) }
        expectInvalid("surrogate") { try String(encodedKey: [0xED, 0xA0, 0x80, 0x00, 0x00]) }
        expectInvalid("trailing bytes") { try [UInt8](encodedKey: [0x61, 0x00, 0x00, 0x01]) }
        expectInvalid("-0.0") { try Double(encodedKey: [0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]) }
        expectInvalid("negative NaN") { try Double(encodedKey: [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]) }
        expectInvalid("signalling NaN") { try Double(encodedKey: [0xFF, 0xF0, 0, 0, 0, 0, 0, 0x01]) }
        expectInvalid("Float -0.0") { try Float(encodedKey: [0x7F, 0xFF, 0xFF, 0xFF]) }
        expectInvalid("tuple cut short") { try KeyTuple2<String, Int32>(encodedKey: "a".encodedKey + [0x80]) }
        expectInvalid("reader past end") { var r = KeyReader([1, 2]); return try r.read(count: 3) }
        expectInvalid("negative count") { var r = KeyReader([1, 2]); return try r.read(count: -1) }
    }

    /// Pieces of encodings (an end marker, an escaped zero, UTF-8 of one to four bytes, a bad
    /// escape, a lone continuation byte), so that random inputs often decode.
    static let tokens: [[UInt8]] = [[0, 0], [0, 0xFF], [0, 0x01], [0x61], [0xC3, 0xA9], [0xE2, 0x82, 0xAC],
                                    [0xF0, 0x9D, 0x84, 0x9E], [0x80], [0x01], [0xFF], [0x7F]]

    static func randomTokens(_ rng: inout SeededGenerator) -> [UInt8] {
        let body = (0..<Int(rng.next() % 6)).flatMap { _ in tokens[Int(rng.next() % UInt64(tokens.count))] }
        return rng.next() % 2 == 0 ? body + [0, 0] : body
    }

    /// Decodes random bytes as `K`: it either throws `invalidKeyEncoding` or gives a value whose
    /// encoding is exactly those bytes (one encoding per value), and never traps.
    func fuzzDecode<K: OrderedKey>(_ type: K.Type, _ rng: inout SeededGenerator, count: Int) -> (decoded: Int, failures: [String]) {
        var decoded = 0
        var failures: [String] = []
        for _ in 0..<count {
            let bytes = rng.next() % 2 == 0 ? Self.randomTokens(&rng)
                                            : (0..<Int(rng.next() % 13)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            do {
                let k = try K(encodedKey: bytes)
                decoded += 1
                if k.encodedKey != bytes { failures.append("\(K.self): \(bytes) decodes as \(k), which encodes as \(k.encodedKey)") }
            } catch {
                if case .invalidKeyEncoding = error {} else { failures.append("\(K.self): \(bytes) threw \(error)") }
            }
        }
        return (decoded, failures)
    }

    @Test func randomBytesDecodeCanonicallyOrThrow() {
        let seed = TestEnvironment.seed(default: 0x8501)
        var rng = SeededGenerator(seed: seed)
        let n = 10_000 * TestEnvironment.scale
        var results: [(String, Int, [String])] = []
        func run<K: OrderedKey>(_ t: K.Type) { let r = fuzzDecode(t, &rng, count: n); results.append(("\(K.self)", r.decoded, r.failures)) }
        run(Int8.self); run(Int16.self); run(Int32.self); run(Int64.self); run(Int.self)
        run(UInt8.self); run(UInt16.self); run(UInt32.self); run(UInt64.self); run(UInt.self)
        run(Bool.self); run(Double.self); run(Float.self); run(String.self); run([UInt8].self)
        run(KeyTuple2<Int8, String>.self); run(KeyTuple3<Bool, [UInt8], Float>.self)
        print("KeyEncodingTests random bytes: seed \(seed), \(n) per type; decoded " + results.map { "\($0.0) \($0.1)" }.joined(separator: ", "))
        for (name, decoded, failures) in results {
            let passed = failures.isEmpty
            #expect(passed, "\(name), seed \(seed), \(failures.count) failures:\n\(failures.prefix(5).joined(separator: "\n"))")
            #expect(decoded > 0, "\(name): no random input decoded")
        }
    }

    // MARK: In a database

    @Test func tuplePrefixScanInDatabase() throws {
        typealias Follow = KeyTuple2<Int64, String>
        typealias Event = KeyTuple3<String, Int32, Bool>
        let users: [Int64] = [.min, -300, -1, 0, 1, 255, 256, .max]
        let names = ["", "\0", "a", "a\0", "a\0b", "ab", "b", "\u{E9}", "\u{10000}"]
        var rng = SeededGenerator(seed: TestEnvironment.seed(default: 0x9501))
        let dir = try TemporaryDirectory("larch-keys")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        var follows = users.flatMap { u in names.map { Follow(u, $0) } }
        follows.shuffle(using: &rng)
        var events: [Event] = []
        for s in ["a", "a\0", "b"] { for n in [Int32.min, -1, 0, 7] { for b in [false, true] { events.append(Event(s, n, b)) } } }
        events.shuffle(using: &rng)
        try env.write { txn throws in
            let fdb = try txn.openDatabase("follows", create: true)
            for k in follows { try txn.put(k.second.encodedKey, forKey: k.encodedKey, in: fdb) }
            let edb = try txn.openDatabase("events", create: true)
            for k in events { try txn.put([1], forKey: k.encodedKey, in: edb) }
        }
        let sortedNames = names.sorted { Self.order($0, $1) < 0 }
        try env.read { txn throws in
            let fdb = try txn.openDatabase("follows")
            // The whole database is in (user, name) order: users numerically, names by scalars.
            let all = try txn.entries(in: fdb).collect().map { try Follow(encodedKey: $0.key) }
            #expect(all.map(\.first) == users.flatMap { u in names.map { _ in u } })
            for u in users {
                let found = try txn.entries(in: fdb, Follow.prefix(u)).collect()
                #expect(try found.map { try Follow(encodedKey: $0.key) } == sortedNames.map { Follow(u, $0) }, "user \(u)")
                #expect(try found.map { try String(encodedKey: $0.value) } == sortedNames)
            }
            #expect(try txn.entries(in: fdb, Follow.prefix(2)).collect().isEmpty)

            let edb = try txn.openDatabase("events")
            // Two-element prefixes: ("a", -1, _) holds exactly false then true, and "a" never
            // matches the keys of "a\0".
            let found = try txn.entries(in: edb, Event.prefix("a", -1)).collect().map { try Event(encodedKey: $0.key) }
            #expect(found == [Event("a", -1, false), Event("a", -1, true)])
            let firstA = try txn.entries(in: edb, Event.prefix("a")).collect().map { try Event(encodedKey: $0.key) }
            #expect(firstA.count == 8 && firstA.allSatisfy { $0.first == "a" })
            #expect(firstA.map(\.second) == [Int32.min, .min, -1, -1, 0, 0, 7, 7])
        }
    }
}
