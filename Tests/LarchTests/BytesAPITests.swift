import Foundation
import Larch
import Testing

/// Bytes in and out: every key and value parameter takes `String`, `[UInt8]`, `Data`,
/// `ArraySlice<UInt8>` and literals in any mix, and reads return the type asked for.
@Suite("Bytes API: String, [UInt8], Data, slices")
struct BytesAPITests {
    private func withEnvironment(_ body: (Environment) throws -> Void) throws {
        let dir = try TemporaryDirectory("larch-bytes")
        defer { dir.remove() }
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try body(env)
    }

    @Test("put and get in every combination of key and value types")
    func putGetCombinations() throws {
        try withEnvironment { env in
            let sKey = "user:1"
            let bKey: [UInt8] = Array("user:2".utf8)
            let dKey = Data("user:3".utf8)
            let slice = Array("xxuser:4yy".utf8)[2..<8]           // "user:4", a slice not starting at 0
            let data = Data([0x00, 0xFF, 0x10])
            try env.write { txn throws in
                try txn.put(data, forKey: "user:1")                 // the example: Data value, literal key
                try txn.put("two", forKey: bKey)                      // String value, bytes key
                try txn.put(data, forKey: dKey)                       // Data, Data
                try txn.put([4, 4], forKey: slice)                    // array literal, slice key
                try txn.put("five", forKey: "user:5")                 // literals: the String overload
                try txn.put(Array("six".utf8)[...], forKey: Data("user:6".utf8))
                try txn.put(Data("seven".utf8), forKey: ContiguousArray("user:7".utf8))
                #expect(try txn.get(sKey, as: Data.self) == data)     // a write transaction reads its changes
            }
            try env.read { txn throws in
                #expect(try txn.get(sKey, as: Data.self) == data)
                #expect(try txn.get(sKey, as: [UInt8].self) == [0x00, 0xFF, 0x10])
                #expect(try txn.get(sKey) == [0x00, 0xFF, 0x10])
                #expect(try txn.get(bKey, as: String.self) == "two")
                #expect(try txn.get("user:2", as: String.self) == "two")
                #expect(try txn.get(Data("user:2".utf8), as: String.self) == "two")
                #expect(try txn.get(dKey, as: Data.self) == data)
                #expect(try txn.get("user:3", as: ArraySlice<UInt8>.self) == ArraySlice(data))
                #expect(try txn.get(slice, as: [UInt8].self) == [4, 4])
                #expect(try txn.get("user:4", as: ContiguousArray<UInt8>.self) == [4, 4])
                #expect(try txn.get("user:5", as: String.self) == "five")
                #expect(try txn.getString("user:6") == "six")
                #expect(try txn.get("user:7", as: String.self) == "seven")
                #expect(try txn.get("missing", as: String.self) == nil)
                #expect(try txn.get(Data("missing".utf8), as: Data.self) == nil)
                #expect(try txn.contains(dKey) && txn.contains(slice) && txn.contains("user:1"))
                let n = try txn.withValue(forKey: "user:1") { $0.byteCount }
                #expect(n == 3)
                let m = try txn.withValue(forKey: dKey) { $0.byteCount }
                #expect(m == 3)
            }
            try env.write { txn throws in
                #expect(try txn.delete(Data("user:1".utf8)))
                #expect(try txn.delete(slice))
                #expect(try txn.delete("user:5"))
                #expect(try !txn.delete(bKey[...].dropLast()))         // "user:" is absent
            }
            try env.read { txn throws in
                #expect(try !txn.contains("user:1"))
                #expect(try txn.contains(dKey))
            }
        }
    }

    @Test("a value stored as one type reads back as every other")
    func roundTripAcrossTypes() throws {
        try withEnvironment { env in
            let text = "héllo, wörld ✓"
            try env.write { txn throws in try txn.put(text, forKey: "k") }
            try env.read { txn throws in
                let bytes = try #require(try txn.get("k", as: [UInt8].self))
                let data = try #require(try txn.get("k", as: Data.self))
                #expect(bytes == Array(text.utf8))
                #expect(data == Data(text.utf8))
                #expect(String(decoding: data, as: UTF8.self) == text)
                #expect(try txn.get(bytes, as: String.self) == nil)  // the value is not a key
                #expect(try txn.get(Data("k".utf8), as: String.self) == text)
            }
        }
    }

    @Test("prefix scans with a String, bytes or Data prefix")
    func prefixScans() throws {
        try withEnvironment { env in
            try env.write { txn throws in
                for i in 0..<5 { try txn.put("u\(i)", forKey: "user:\(i)") }
                for i in 0..<3 { try txn.put(Data([UInt8(i)]), forKey: "group:\(i)") }
                try txn.put("z", forKey: "zeta")
            }
            try env.read { txn throws in
                let users = try txn.entries(in: .main, .prefix("user:")).collect()
                #expect(users.map { String(decoding: $0.key, as: UTF8.self) } == (0..<5).map { "user:\($0)" })
                let groups = try txn.entries(in: .main, .prefix(Array("group:".utf8))).collect()
                #expect(groups.map(\.value) == [[0], [1], [2]])
                let viaData = try txn.entries(in: .main, .prefix(Data("user:".utf8))).collect()
                #expect(viaData.count == 5)
                let sub = "user:3 and more".prefix(6)                    // a Substring
                let one = try txn.entries(in: .main, .prefix(String(sub))).collect()
                #expect(one.count == 1)
                var count = 0
                try txn.forEach(in: .main, .prefix("group:")) { _, _ in count += 1; return true }
                #expect(count == 3)
            }
        }
    }

    @Test("range ends mix String, bytes, Data and literals")
    func mixedRanges() throws {
        try withEnvironment { env in
            try env.write { txn throws in for c in "abcdefg" { try txn.put("v", forKey: String(c)) } }
            try env.read { txn throws in
                let b: [UInt8] = Array("e".utf8)
                let s = "b"
                #expect(try Self.keys(txn, KeyRange(from: s, upTo: b)) == "bcd")
                #expect(try Self.keys(txn, KeyRange(from: b, through: "f")) == "ef")
                #expect(try Self.keys(txn, KeyRange(from: Array("f".utf8)[...])) == "fg")
                #expect(try Self.keys(txn, KeyRange(from: "c"[...], upTo: ByteKey(Data("e".utf8)))) == "cd")
                #expect(try Self.keys(txn, KeyRange(ByteKey(s)..<ByteKey(b))) == "bcd")
                #expect(try Self.keys(txn, KeyRange("b"...[0x64])) == "bcd")           // literals mix in ranges
                #expect(ByteKey("b") == ByteKey(Array("b".utf8)))          // a literal picks the String init
                #expect(ByteKey("xbx".dropFirst().prefix(1)) == "b")         // a Substring
                #expect(ByteKey(Array("b".utf8)[...]) == [0x62])
                #expect(try Self.keys(txn, .prefix([0x61])).count == 1)
                let r = try txn.entries(in: .main, ByteKey(Data("f".utf8))...).collect()
                #expect(r.count == 2)
            }
        }
    }

    /// The keys of `r`, each a letter, joined.
    private static func keys(_ txn: borrowing ReadTransaction, _ r: KeyRange) throws -> String {
        try txn.entries(in: .main, r).collect().map { String(decoding: $0.key, as: UTF8.self) }.joined()
    }

    @Test("cursors seek and read with String and bytes, and put any mix")
    func cursors() throws {
        try withEnvironment { env in
            try env.write { txn throws in
                let c = try txn.cursor()
                try c.put("1", forKey: "a")
                try c.put(Data([2]), forKey: "b")
                try c.put("3", forKey: Data("c".utf8))
                try c.put([4], forKey: [0x64])
                #expect(try c.key(as: String.self) == "d")
            }
            try env.read { txn throws in
                let c = try txn.cursor()
                #expect(try c.seek(to: "b"))
                #expect(try c.value(as: Data.self) == Data([2]))
                #expect(try c.key(as: Data.self) == Data("b".utf8))
                #expect(try c.seek(atLeast: "bb"))                       // lands on "c"
                #expect(try c.key(as: String.self) == "c")
                #expect(try c.value(as: String.self) == "3")
                #expect(try c.seek(to: Data("a".utf8)))
                #expect(try c.value(as: [UInt8].self) == Array("1".utf8))
            }
        }
    }
}
