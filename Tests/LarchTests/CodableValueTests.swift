import Foundation
import Testing
@testable import Larch

// MARK: - Types under test

private struct Address: Codable, Equatable {
    var street: String
    var zip: Int32?
}

private final class Person: Codable, Equatable {
    var name: String
    var friends: [Person]
    var address: Address?
    init(name: String, friends: [Person] = [], address: Address? = nil) {
        self.name = name
        self.friends = friends
        self.address = address
    }
    static func == (a: Person, b: Person) -> Bool { a.name == b.name && a.friends == b.friends && a.address == b.address }
}

private enum Color: String, Codable, Equatable { case red, green }

private enum Shape: Codable, Equatable {
    case point
    case circle(radius: Double)
    case rect(w: Int, h: Int)
    case labeled(String, Int?)
    case nested(Address, [Color])
}

private struct Scalars: Codable, Equatable {
    var i: Int, i8: Int8, i16: Int16, i32: Int32, i64: Int64
    var u: UInt, u8: UInt8, u16: UInt16, u32: UInt32, u64: UInt64
    var b: Bool, s: String, bytes: [UInt8]
    var f: Float, d: Double

    /// Floating-point fields compare by bits, so NaN payloads and -0.0 count.
    static func == (x: Scalars, y: Scalars) -> Bool {
        x.i == y.i && x.i8 == y.i8 && x.i16 == y.i16 && x.i32 == y.i32 && x.i64 == y.i64
            && x.u == y.u && x.u8 == y.u8 && x.u16 == y.u16 && x.u32 == y.u32 && x.u64 == y.u64
            && x.b == y.b && x.s == y.s && x.bytes == y.bytes
            && x.f.bitPattern == y.f.bitPattern && x.d.bitPattern == y.d.bitPattern
    }
}

private struct Optionals: Codable, Equatable {
    var a: Int?
    var b: Int??
    var c: String???
    var list: [Int?]
    var nestedList: [Int??]
    var shape: Shape?
}

private struct Collections: Codable, Equatable {
    var strings: [String: Int]
    var ints: [Int: String]
    var small: [Int8: [Double]]      // not String/Int keys: Swift's unkeyed fallback
    var matrix: [[UInt16]]
    var blobs: [[UInt8]]
    var sets: Set<String>
}

/// A random value of every shape the encoding has, for the property tests.
private indirect enum Tree: Codable, Equatable {
    case int(Int64), uint(UInt64), small(Int8), double(Double), float(Float), string(String), bytes([UInt8])
    case bool(Bool), none, opt(Int??), list([Tree]), map([String: Tree]), intMap([Int: Tree]), record(Record)
}

private struct Record: Codable, Equatable {
    var name: String
    var tags: [String]
    var child: Tree?
    var score: Double?
}

private struct Nothing: Codable, Equatable {}

// MARK: - Helpers

private func roundTrip<T: Codable>(_ value: T) throws -> (T, [UInt8]) {
    let bytes = try LarchBinaryEncoder().encode(value)
    return (try LarchBinaryDecoder().decode(T.self, from: bytes), bytes)
}

private func isInvalidValueEncoding(_ body: () throws -> Void) -> Bool {
    do { try body(); return false } catch let e as LarchError {
        if case .invalidValueEncoding = e { return true }
        return false
    } catch { return false }
}

extension SeededGenerator {
    fileprivate mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &self) }

    fileprivate mutating func string() -> String {
        let alphabet: [Character] = ["a", "b", "z", "é", "\u{0}", "😀", " ", "\u{7F}", "中"]
        return String((0..<int(0...6)).map { _ in alphabet[int(0...alphabet.count - 1)] })
    }

    fileprivate mutating func tree(depth: Int) -> Tree {
        let leafOnly = depth >= 4
        switch int(0...(leafOnly ? 9 : 13)) {
        case 0: return .int(Int64(bitPattern: next()) >> UInt64(int(0...63)))
        case 1: return .uint(next() >> UInt64(int(0...63)))
        case 2: return .small(Int8(truncatingIfNeeded: next()))
        case 3:
            let d = Double(bitPattern: next()) * (next() & 1 == 0 ? 1 : 0x1p-1000)
            return .double(d.isNaN ? -0.0 : d)   // Tree compares with ==; NaNs are covered by scalarsAtTheirEdges
        case 4: return .float([Float.infinity, -1.5, 0, .leastNonzeroMagnitude, .greatestFiniteMagnitude][int(0...4)])
        case 5: return .string(string())
        case 6: return .bytes(bytes(int(0...9)))
        case 7: return .bool(next() & 1 == 0)
        case 8: return .none
        case 9: return .opt([nil, .some(nil), .some(.some(int(-300...300)))][int(0...2)])
        case 10: return .list((0..<int(0...4)).map { _ in tree(depth: depth + 1) })
        case 11: return .map(Dictionary((0..<int(0...4)).map { _ in (string(), tree(depth: depth + 1)) }, uniquingKeysWith: { a, _ in a }))
        case 12: return .intMap(Dictionary((0..<int(0...4)).map { _ in (int(-1000...1000), tree(depth: depth + 1)) }, uniquingKeysWith: { a, _ in a }))
        default:
            return .record(Record(name: string(), tags: (0..<int(0...3)).map { _ in string() },
                                  child: next() & 1 == 0 ? nil : tree(depth: depth + 1),
                                  score: next() & 1 == 0 ? nil : Double(int(-9...9)) / 4))
        }
    }
}

// MARK: - Tests

@Suite("Codable values")
struct CodableValueTests {
    @Test func nestedStructsAndClasses() throws {
        let ada = Person(name: "Ada", friends: [Person(name: "Charles", address: Address(street: "Dorset St", zip: nil))],
                         address: Address(street: "St James's Sq", zip: 12))
        let (back, bytes) = try roundTrip(ada)
        #expect(back == ada)
        // Field names are stored, as in JSON, but numbers, lengths and structure take a byte or two.
        let json = try JSONEncoder().encode(ada)
        #expect(bytes.count < json.count, "\(bytes.count) bytes, JSON \(json.count)")
        #expect(try roundTrip(Address(street: "", zip: -1)).0 == Address(street: "", zip: -1))
        #expect(try roundTrip(Nothing()).0 == Nothing())
    }

    @Test func enumsWithAssociatedValues() throws {
        let shapes: [Shape] = [.point, .circle(radius: 2.5), .rect(w: -3, h: 400), .labeled("x", nil), .labeled("", 7),
                               .nested(Address(street: "a", zip: 1), [.red, .green, .red])]
        for s in shapes { #expect(try roundTrip(s).0 == s) }
        #expect(try roundTrip(shapes).0 == shapes)
        #expect(try roundTrip(Color.green).0 == .green)
    }

    @Test func optionalsIncludingNested() throws {
        let cases = [
            Optionals(a: nil, b: nil, c: nil, list: [], nestedList: [], shape: nil),
            Optionals(a: 1, b: .some(nil), c: .some(.some(nil)), list: [nil, 1, nil], nestedList: [nil, .some(nil), 5], shape: .point),
            Optionals(a: -1, b: 2, c: .some(nil), list: [nil], nestedList: [.some(nil)], shape: .labeled("o", nil)),
            Optionals(a: .max, b: .some(.some(.min)), c: "deep", list: [.min], nestedList: [.some(.some(0))], shape: nil),
        ]
        for o in cases { #expect(try roundTrip(o).0 == o) }
        // Top-level optionals.
        #expect(try roundTrip(Int?.none).0 == nil)
        #expect(try roundTrip(Int??.some(nil)).0 == .some(nil))
        #expect(try roundTrip(String???.some(.some(nil))).0 == .some(.some(nil)))
        #expect(try roundTrip(String???.some(nil)).0 == .some(nil))
    }

    @Test func arraysDictionariesAndEmptyCollections() throws {
        let full = Collections(strings: ["a": 1, "": -2, "\u{0}": 3], ints: [-5: "minus", 0: "", Int.max: "max", Int.min: "min"],
                               small: [-128: [1.5], 127: [], 0: [.infinity]], matrix: [[], [1, 2, .max]],
                               blobs: [[], [0], [0xFF, 0, 7]], sets: ["x", "y"])
        #expect(try roundTrip(full).0 == full)
        let empty = Collections(strings: [:], ints: [:], small: [:], matrix: [], blobs: [], sets: [])
        #expect(try roundTrip(empty).0 == empty)
        // String keys that look like integers stay as written.
        let numeric = ["12": 1, "012": 2, "+5": 3, "-0": 4, "-7": 5, "": 6, "9999999999999999999999": 7]
        #expect(try roundTrip(numeric).0 == numeric)
        #expect(try roundTrip([Int: Int]()).0 == [:])
        #expect(try roundTrip([UInt8]()).0 == [])
        #expect(try roundTrip([String]()).0 == [])
        #expect(try roundTrip([String: [Int]]()).0 == [:])
        // `[UInt8]` is stored as bytes: tag, length, the bytes.
        #expect(try LarchBinaryEncoder().encode([UInt8]([1, 2, 3])) == [0x09, 3, 1, 2, 3])
        // Equal dictionaries encode equally, whatever their insertion order.
        var d1: [String: Int] = [:], d2: [String: Int] = [:]
        for i in 0..<50 { d1["k\(i)"] = i }
        for i in (0..<50).reversed() { d2["k\(i)"] = i }
        #expect(try LarchBinaryEncoder().encode(d1) == LarchBinaryEncoder().encode(d2))
    }

    @Test func scalarsAtTheirEdges() throws {
        let edges: [Scalars] = [
            Scalars(i: .min, i8: .min, i16: .min, i32: .min, i64: .min, u: 0, u8: 0, u16: 0, u32: 0, u64: 0,
                    b: false, s: "", bytes: [], f: -.infinity, d: -.infinity),
            Scalars(i: .max, i8: .max, i16: .max, i32: .max, i64: .max, u: .max, u8: .max, u16: .max, u32: .max, u64: .max,
                    b: true, s: "\u{0}é😀", bytes: [0, 255], f: .nan, d: .signalingNaN),
            Scalars(i: -1, i8: -1, i16: 127, i32: 128, i64: -129, u: 127, u8: 128, u16: 16383, u32: 16384, u64: 1 << 63,
                    b: true, s: String(repeating: "x", count: 300), bytes: Array(repeating: 9, count: 200),
                    f: -0.0, d: -0.0),
            Scalars(i: 0, i8: 0, i16: 0, i32: 0, i64: 0, u: 1, u8: 1, u16: 1, u32: 1, u64: 1,
                    b: false, s: "a", bytes: [1], f: .leastNonzeroMagnitude, d: Double(bitPattern: 0x7FF8_0000_DEAD_BEEF)),
        ]
        for e in edges { #expect(try roundTrip(e).0 == e) }
        // Small integers take one byte; others a tag and a minimal varint.
        #expect(try LarchBinaryEncoder().encode(127) == [0xFF])
        #expect(try LarchBinaryEncoder().encode(128) == [0x04, 0x80, 0x01])
        #expect(try LarchBinaryEncoder().encode(-1) == [0x05, 0x00])
        #expect(try LarchBinaryEncoder().encode(Int64.min) == [0x05] + [UInt8](repeating: 0xFF, count: 8) + [0x7F])
        #expect(try LarchBinaryEncoder().encode(Optional<Int>.none) == [0x00])
        #expect(try LarchBinaryEncoder().encode(Address(street: "a", zip: nil)) == [0x0B, 1, 12] + Array("street".utf8) + [0x08, 1, 0x61])
        // A value that does not fit the type asked for throws.
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Int8.self, from: LarchBinaryEncoder().encode(128)) })
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(UInt.self, from: LarchBinaryEncoder().encode(-1)) })
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(String.self, from: LarchBinaryEncoder().encode(1)) })
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Address.self, from: LarchBinaryEncoder().encode(["street": 1])) })
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Color.self, from: LarchBinaryEncoder().encode("blue")) })
    }

    @Test func randomStructuresRoundTrip() throws {
        let seed = TestEnvironment.seed(default: 0xC0DA_B1E5)
        var rng = SeededGenerator(seed: seed)
        let count = 5_000 * TestEnvironment.scale
        var total = 0
        for i in 0..<count {
            let t = rng.tree(depth: 0)
            let bytes = try LarchBinaryEncoder().encode(t)
            let back = try LarchBinaryDecoder().decode(Tree.self, from: bytes)
            #expect(back == t, "seed \(seed), case \(i)")
            #expect(try LarchBinaryEncoder().encode(back) == bytes, "seed \(seed), case \(i): encoding is not canonical")
            total += bytes.count
            if back != t { return }
        }
        #expect(total > 0)
    }

    @Test func malformedInputAlwaysThrowsInvalidValueEncoding() throws {
        let seed = TestEnvironment.seed(default: 0xBAD_B17E5)
        var rng = SeededGenerator(seed: seed)
        // Every proper prefix of valid encodings.
        for _ in 0..<300 {
            let bytes = try LarchBinaryEncoder().encode(rng.tree(depth: 0))
            for n in 0..<bytes.count {
                #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Tree.self, from: bytes[..<n]) },
                        "seed \(seed): prefix \(n) of \(bytes)")
            }
            // Trailing bytes.
            #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Tree.self, from: bytes + [0x80]) })
        }
        // Random bytes and mutated encodings: either a value or invalidValueEncoding, never a trap.
        var decoded = 0
        for i in 0..<20_000 * TestEnvironment.scale {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = rng.bytes(rng.int(0...40))
            } else {
                bytes = try LarchBinaryEncoder().encode(rng.tree(depth: 1))
                for _ in 0...rng.int(0...2) where !bytes.isEmpty { bytes[rng.int(0...bytes.count - 1)] = UInt8(truncatingIfNeeded: rng.next()) }
            }
            do {
                _ = try LarchBinaryDecoder().decode(Tree.self, from: bytes)
                _ = try? LarchBinaryDecoder().decode(Scalars.self, from: bytes)
                _ = try? LarchBinaryDecoder().decode(Optionals.self, from: bytes)
                decoded += 1
            } catch {
                guard case .invalidValueEncoding = error else {
                    Issue.record("seed \(seed): \(bytes) threw \(error)")
                    return
                }
            }
        }
        #expect(decoded > 0)
        // Counts larger than the input, deep nesting, bad tags, bad UTF-8, unsorted or duplicate keys.
        let bad: [[UInt8]] = [
            [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F],                     // 2^32 elements in 6 bytes
            [0x08, 0x05, 0x61],                                        // a string longer than the input
            [0x0B, 0x01, 0x02],                                        // a key with no value
            Array(repeating: [0x0A, 0x01], count: 10_000).flatMap { $0 } + [0x80],
            Array(repeating: 0x03, count: 10_000) + [0x00],
            [0x0C], [0x7F],                                            // not tags
            [0x08, 0x02, 0xC3, 0x28],                                  // not UTF-8
            [0x04, 0x05],                                              // a small integer in the long form
            [0x04, 0x80, 0x00],                                        // a varint that is not minimal
            [0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02],  // over 64 bits
            [0x0B, 0x02, 0x02, 0x62, 0x80, 0x02, 0x61, 0x80],          // keys "b", "a": unsorted
            [0x0B, 0x02, 0x02, 0x61, 0x80, 0x02, 0x61, 0x80],          // "a" twice
            [0x0B, 0x01, 0x03, 0x80, 0x80],                            // key header 3
        ]
        for b in bad {
            #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Tree.self, from: b) }, "\(b.prefix(12))")
            #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode([[Int]].self, from: b) }, "\(b.prefix(12))")
        }
    }

    @Test func nestingDeeperThanTheLimitThrowsOnBothSides() throws {
        var deep = Tree.none
        for _ in 0..<200 { deep = .list([deep]) }
        #expect(isInvalidValueEncoding { _ = try LarchBinaryEncoder().encode(deep) })
        var encoder = LarchBinaryEncoder()
        encoder.maxDepth = 1_000
        let bytes = try encoder.encode(deep)
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Tree.self, from: bytes) })
        var decoder = LarchBinaryDecoder()
        decoder.maxDepth = 1_000
        #expect(try decoder.decode(Tree.self, from: bytes) == deep)
    }

    private final class Link: Codable {
        var next: Link?
    }

    private struct Refuses: Codable {
        struct Nope: Error {}
        init() {}
        init(from decoder: any Decoder) throws { throw Nope() }
        func encode(to encoder: any Encoder) throws { throw Nope() }
    }

    @Test func valuesThatContainThemselvesOrFailToEncodeThrow() throws {
        let loop = Link()
        loop.next = loop
        #expect(isInvalidValueEncoding { _ = try LarchBinaryEncoder().encode(loop) })
        #expect(isInvalidValueEncoding { _ = try LarchBinaryEncoder().encode([Refuses()]) })
        #expect(isInvalidValueEncoding { _ = try LarchBinaryDecoder().decode(Refuses.self, from: [0x0B, 0x00]) })
    }

    // MARK: Typed databases

    fileprivate struct User: Codable, Equatable {
        var name: String
        var city: String
        var shape: Shape?
    }

    @Test func typedDatabaseWithSecondaryIndex() throws {
        let dir = try TemporaryDirectory("codable")
        let env = try Environment(path: dir.file())
        let people: [(Int64, User)] = [
            (3, User(name: "Ada", city: "London")), (1, User(name: "Blaise", city: "Paris", shape: .point)),
            (-7, User(name: "Émilie", city: "Paris")), (42, User(name: "Grace", city: "New York")),
            (5, User(name: "Marie", city: "Paris", shape: .circle(radius: 1))),
        ]
        try env.write { txn in
            let users = try txn.database("users", of: Int64.self, User.self)
            let byCity = try txn.database("users.city", of: KeyTuple2<String, Int64>.self, Nothing.self)
            for (id, user) in people {
                try txn.put(user, for: id, in: users)
                try txn.put(Nothing(), for: KeyTuple2(user.city, id), in: byCity)
            }
            #expect(try txn[3, in: users] == people[0].1)
            #expect(throws: LarchError.keyExists) { try txn.put(people[0].1, for: 3, in: users, overwrite: false) }
        }
        try env.read { txn in
            let users = try txn.database("users", of: Int64.self, User.self)
            let byCity = try txn.database("users.city", of: KeyTuple2<String, Int64>.self, Nothing.self)
            #expect(try txn.get(42, in: users)?.name == "Grace")
            #expect(try txn[1000, in: users] == nil)
            #expect(try txn.contains(-7, in: users))
            // Integer keys in numeric order, negative first.
            #expect(try txn.entries(in: users).keys() == [-7, 1, 3, 5, 42])
            #expect(try txn.entries(in: users, 1..<5).collect().map(\.value.name) == ["Blaise", "Ada"])
            #expect(try txn.entries(in: users, 3...42, reverse: true).keys() == [42, 5, 3])
            // The secondary index: everyone in Paris, by id, through a prefix scan.
            let paris = try txn.entries(in: byCity, KeyTuple2<String, Int64>.prefix("Paris")).keys().map(\.second)
            #expect(paris == [-7, 1, 5])
            #expect(try paris.map { try txn[$0, in: users]?.name } == ["Émilie", "Blaise", "Marie"])
            // The same bytes opened as the wrong value type: a typed error, not a trap.
            let wrong = TypedDatabase<Int64, [Int]>(users.database)
            #expect(isInvalidValueEncoding { _ = try txn.get(3, in: wrong) })
            #expect(isInvalidValueEncoding { _ = try txn.entries(in: wrong).collect() })
        }
        try env.write { txn in
            let users = try txn.database("users", of: Int64.self, User.self)
            #expect(try txn.delete(1, in: users))
            #expect(try !txn.delete(1, in: users))
        }
        #expect(try env.read { txn in try txn.entries(in: txn.database("users", of: Int64.self, User.self)).keys() } == [-7, 3, 5, 42])
        #expect(throws: LarchError.databaseNotFound(name: "nope")) {
            try env.read { txn in _ = try txn.database("nope", of: Int.self, User.self) }
        }
        #expect(try env.check().isClean)
    }

    private struct JSONValueCoder: ValueCoder {
        func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
            let e = JSONEncoder()
            e.outputFormatting = .sortedKeys
            return Array(try e.encode(value))
        }
        func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
            try JSONDecoder().decode(type, from: Data(bytes))
        }
    }

    @Test func customJSONCoder() throws {
        let dir = try TemporaryDirectory("codable-json")
        let env = try Environment(path: dir.file())
        let user = User(name: "Ada", city: "London", shape: .rect(w: 2, h: 3))
        try env.write { txn in
            let users = try txn.database("users", of: String.self, User.self, coder: JSONValueCoder())
            try txn.put(user, for: "ada", in: users)
        }
        try env.read { txn in
            let users = try txn.database("users", of: String.self, User.self, coder: JSONValueCoder())
            #expect(try txn["ada", in: users] == user)
            let raw = try #require(try txn.get("ada".encodedKey, in: users.database))
            #expect(String(decoding: raw, as: UTF8.self) == #"{"city":"London","name":"Ada","shape":{"rect":{"h":3,"w":2}}}"#)
            // Bytes the coder cannot read are reported as invalidValueEncoding, with its error.
            let binary = TypedDatabase<String, User>(users.database)
            #expect(isInvalidValueEncoding { _ = try txn["ada", in: binary] })
        }
    }
}
