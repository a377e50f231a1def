/// The seeded data every engine sees: N distinct 16-byte keys, kept in sorted order, and 100-byte
/// (or larger) values sliced from a pool of random bytes.

/// SplitMix64: small, fast, seedable.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    @inline(__always)
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        return SplitMix64.mix(state)
    }

    /// The SplitMix64 finalizer: a bijection on UInt64.
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in 0..<n.
    @inline(__always)
    mutating func below(_ n: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(n).multipliedFullWidth(by: next())).high)
    }
}

final class KeySet: @unchecked Sendable {
    static let keySize = 16
    static let valueSize = 100

    let count: Int
    let seed: UInt64
    /// `count` keys of 16 bytes, ascending (byte order = lexicographic = every engine's order).
    let keys: UnsafeMutableRawPointer
    /// Random bytes that values are sliced from.
    let pool: UnsafeMutableRawPointer
    let poolSize: Int

    init(count: Int, seed: UInt64, maxValueSize: Int) {
        self.count = count
        self.seed = seed
        // The high 8 bytes are a bijection of the index, so keys are distinct; the low 8 are random.
        var highs = [UInt64](repeating: 0, count: count)
        for i in 0..<count { highs[i] = SplitMix64.mix(UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ seed) }
        highs.sort()
        keys = .allocate(byteCount: count * KeySet.keySize, alignment: 16)
        for i in 0..<count {
            let p = keys + i * KeySet.keySize
            p.storeBytes(of: highs[i].bigEndian, as: UInt64.self)
            p.storeBytes(of: SplitMix64.mix(highs[i] ^ seed).bigEndian, toByteOffset: 8, as: UInt64.self)
        }
        poolSize = max(1 << 20, 2 * maxValueSize)
        pool = .allocate(byteCount: poolSize, alignment: 16)
        var rng = SplitMix64(seed: seed ^ 0x5EED)
        for i in stride(from: 0, to: poolSize, by: 8) { pool.storeBytes(of: rng.next(), toByteOffset: i, as: UInt64.self) }
    }

    deinit {
        keys.deallocate()
        pool.deallocate()
    }

    /// Key number `i` in sorted order.
    @inline(__always)
    func key(_ i: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: (keys + i &* KeySet.keySize).assumingMemoryBound(to: UInt8.self), count: KeySet.keySize)
    }

    /// The value written for key `i` in round `round` (each round of overwrites gets new bytes).
    @inline(__always)
    func value(_ i: Int, round: Int, size: Int = KeySet.valueSize) -> UnsafeBufferPointer<UInt8> {
        let h = SplitMix64.mix(UInt64(i) ^ (UInt64(round) << 40) ^ seed)
        let offset = Int(h % UInt64(poolSize - size))
        return UnsafeBufferPointer(start: (pool + offset).assumingMemoryBound(to: UInt8.self), count: size)
    }

    /// 0..<count in a seeded random order; different `stream`s give independent orders.
    func shuffled(stream: UInt64) -> [Int] {
        var a = Array(0..<count)
        var rng = SplitMix64(seed: seed ^ (stream &* 0xD1B5_4A32_D192_ED03))
        var i = a.count - 1
        while i > 0 {
            let j = rng.below(i + 1)
            a.swapAt(i, j)
            i -= 1
        }
        return a
    }
}

/// What a read folds a value into, so that no engine's read can be optimized away and every
/// engine touches the same bytes: both ends of a small value, every 8th byte word of a large one.
@inline(__always)
func digest(_ p: UnsafeRawPointer, _ n: Int, full: Bool) -> UInt64 {
    if full {
        var h = UInt64(n)
        var i = 0
        while i + 8 <= n { h = h &+ p.loadUnaligned(fromByteOffset: i, as: UInt64.self); i += 8 }
        return h
    }
    if n >= 8 {
        return UInt64(n) &+ p.loadUnaligned(as: UInt64.self) &+ p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }
    return UInt64(n)
}

@inline(__always)
func keyDigest(_ p: UnsafeRawPointer, _ n: Int) -> UInt64 {
    n >= 8 ? p.loadUnaligned(as: UInt64.self) : UInt64(n)
}

extension KeySet {
    /// Key number `i` of an unbounded stream of keys that are generated, not stored (workload 12's
    /// new keys): built like the stored keys — 8 bytes that are a bijection of the index, so keys
    /// are distinct, then 8 random bytes — from `seed`, so they do not meet the stored keys of
    /// another seed (but for a 2⁻⁶⁴ chance per pair).
    @inline(__always)
    static func streamKey(_ i: Int, seed: UInt64, into p: UnsafeMutableRawPointer) {
        let high = SplitMix64.mix(UInt64(i) &* 0x9E37_79B9_7F4A_7C15 &+ seed)
        p.storeBytes(of: high.bigEndian, as: UInt64.self)
        p.storeBytes(of: SplitMix64.mix(high ^ seed).bigEndian, toByteOffset: 8, as: UInt64.self)
    }
}
