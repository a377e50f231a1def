import Larch

/// Larch through its public API only: explicit write transactions, `put`/`delete` with contiguous
/// key and value buffers, zero-copy `withValue` and `forEach`.
final class LarchEngine: Engine, @unchecked Sendable {
    let env: Environment
    let path: String
    let keys: KeySet
    private var statsBytes = 0

    init(dir: String, durable: Bool, keys: KeySet) throws {
        path = dir + "/bench.larch"
        self.keys = keys
        env = try Environment(path: path, options: Options(durability: durable ? .full : .noSync))
    }

    func putBatch(_ indices: ArraySlice<Int>, round: Int, valueSize: Int, append: Bool) throws {
        // Larch has no append flag: its split already leaves the left page full when a key goes
        // past the end of the rightmost leaf.
        var txn = try env.beginWrite()   // aborted if a put throws (dropped)
        for i in indices {
            try txn.put(keys.value(i, round: round, size: valueSize), forKey: keys.key(i))
        }
        statsBytes += try txn.commit().bytesWritten
    }

    func deleteBatch(_ indices: ArraySlice<Int>) throws -> Int {
        var txn = try env.beginWrite()
        var n = 0
        for i in indices where try txn.delete(keys.key(i)) { n += 1 }
        statsBytes += try txn.commit().bytesWritten
        return n
    }

    func get(_ indices: ArraySlice<Int>, full: Bool) throws -> ReadResult {
        let txn = try env.beginRead()
        return try Self.read(txn, keys: keys, indices, full: full)
    }

    static func read(_ txn: borrowing ReadTransaction, keys: KeySet, _ indices: ArraySlice<Int>, full: Bool) throws -> ReadResult {
        var r = ReadResult()
        for i in indices {
            let d = try txn.withValue(forKey: keys.key(i)) { v in
                v.withUnsafeBytes { b in b.baseAddress.map { digest($0, b.count, full: full) } ?? 0 }
            }
            if let d { r.found += 1; r.digest &+= d }
        }
        return r
    }

    func scan() throws -> ReadResult {
        let txn = try env.beginRead()
        var r = ReadResult()
        try txn.forEach { k, v in
            r.found += 1
            r.digest &+= k.withUnsafeBytes { keyDigest($0.baseAddress!, $0.count) }
            r.digest &+= v.withUnsafeBytes { b in b.baseAddress.map { digest($0, b.count, full: false) } ?? 0 }
            return true
        }
        return r
    }

    func makeReader() throws -> any EngineReader { LarchReader(env: env, keys: keys) }

    func makeDurableWriter() throws -> any DurableWriter { LarchDurableWriter(env: env) }

    var ownBytesWritten: Int? { statsBytes }
    var dataFiles: [String] { [path] }

    func close() throws { env.close() }
}

final class LarchReader: EngineReader, @unchecked Sendable {
    let env: Environment
    let keys: KeySet
    init(env: Environment, keys: KeySet) { self.env = env; self.keys = keys }

    func readRandom(count: Int, rng: inout SplitMix64) throws -> ReadResult {
        let txn = try env.beginRead()
        var r = ReadResult()
        for _ in 0..<count {
            let d = try txn.withValue(forKey: keys.key(rng.below(keys.count))) { v in
                v.withUnsafeBytes { b in b.baseAddress.map { digest($0, b.count, full: false) } ?? 0 }
            }
            if let d { r.found += 1; r.digest &+= d }
        }
        return r
    }

    private var held: ReadTransaction?

    func hold(key: UnsafeBufferPointer<UInt8>) throws {
        let txn = try env.beginRead()
        _ = try txn.get(key)
        held = consume txn
    }

    func release() throws {
        held = nil   // ends the transaction
    }

    func close() { held = nil }
}

/// Workload 12's writer: `Environment.write`, which blocks the thread while another writer holds
/// the writer lock (the environment is opened with `durability: .full`).
final class LarchDurableWriter: AsyncDurableWriter, @unchecked Sendable {
    let env: Environment
    init(env: Environment) { self.env = env }

    func putAsync(key: [UInt8], value: [UInt8]) async throws {
        try await env.write { txn in try txn.put(value, forKey: key) }
    }

    func put(key: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) throws {
        try env.write { txn in try txn.put(value, forKey: key) }
    }

    func close() {}
}
