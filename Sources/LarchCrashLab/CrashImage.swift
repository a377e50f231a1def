/// How the writes that were not yet synced fare in a crash.
package enum CrashPolicy: Sendable, Hashable, CustomStringConvertible {
    /// None of them reached the disk.
    case allLost
    /// All of them did, in order (a process crash: the page cache survives).
    case allKept
    /// Each reached the disk or not, independently.
    case randomSubset(seed: UInt64)
    /// A random subset, applied in a random order (overlapping writes may land oldest-last).
    case reordered(seed: UInt64)
    /// All but the last reached the disk; the last is torn: a random set of its 512-byte sectors landed.
    case lastTorn(seed: UInt64)
    /// Writes before the `index`-th unsynced meta-page write landed; that one is torn; later ones did not land.
    case metaTorn(index: Int, seed: UInt64)
    /// Every unsynced meta-page write landed whole, but some of the other writes (the commit's
    /// pages) did not: at least one is lost when there are any.
    case metaWithoutSomeData(seed: UInt64)

    package var description: String {
        switch self {
        case .allLost: return "all unsynced writes lost"
        case .allKept: return "all unsynced writes kept"
        case .randomSubset: return "random subset kept"
        case .reordered: return "random subset, reordered"
        case .lastTorn: return "last write torn"
        case .metaTorn: return "unsynced meta write torn"
        case .metaWithoutSomeData: return "meta lands, some data not"
        }
    }

    /// The policy's family, for summary tables.
    package var family: String { description }
}

/// Builds the disk image a crash right after a given operation leaves, under a policy.
package struct CrashImageBuilder {
    package static let sectorSize = 512
    let log: [SimulatedDisk.Operation]
    let base: [UInt8]
    let pageSize: Int
    /// The durable image as of operation `durableCache.index` (after applying it), reused while
    /// crash points advance so each image costs only its pending writes.
    private var durableCache: (index: Int, image: [UInt8])
    /// The same for the "all kept" images, whose crash points advance one operation at a time.
    private var keptCache: (index: Int, image: [UInt8])

    /// `base` is the image the log started from.
    package init(log: [SimulatedDisk.Operation], base: [UInt8], pageSize: Int) {
        self.log = log
        self.base = base
        self.pageSize = pageSize
        durableCache = (-1, base)
        keptCache = (-1, base)
    }

    /// The image with every operation up to and including `index` applied.
    private mutating func durableImage(through index: Int) -> [UInt8] {
        advance(&durableCache, to: index)
    }

    private func advance(_ cache: inout (index: Int, image: [UInt8]), to index: Int) -> [UInt8] {
        if index < cache.index { cache = (-1, base) }
        var image = cache.image
        cache.image = []   // keep a single owner so appends do not copy
        if cache.index < index {
            for i in (cache.index + 1)...index { apply(log[i], to: &image) }
        }
        cache = (index, image)
        return image
    }

    /// Indexes into `log` of the operations not yet synced when a crash follows operation `k`.
    package func pending(after k: Int) -> (durableUpTo: Int, pending: [Int]) {
        var lastSync = -1
        for i in stride(from: k, through: 0, by: -1) { if case .sync = log[i] { lastSync = i; break } }
        return (lastSync, Array((lastSync + 1)..<(k + 1)).filter { if case .sync = log[$0] { return false } else { return true } })
    }

    /// How many meta-page writes are among the pending operations after `k`.
    package func pendingMetaWrites(after k: Int) -> Int {
        pending(after: k).pending.filter { isMetaWrite(log[$0]) }.count
    }

    func isMetaWrite(_ op: SimulatedDisk.Operation) -> Bool {
        if case .write(let offset, let bytes) = op { return offset < 2 * pageSize && !bytes.isEmpty }
        return false
    }

    /// The image after a crash right after operation `k` (0-based) under `policy`.
    package mutating func image(crashAfter k: Int, policy: CrashPolicy) -> [UInt8] {
        if case .allKept = policy { return advance(&keptCache, to: k) }
        let (durable, pending) = pending(after: k)
        var image = durableImage(through: durable)
        switch policy {
        case .allLost:
            break
        case .allKept:
            break   // handled above
        case .randomSubset(let seed):
            var g = SplitMix(seed: seed ^ UInt64(k))
            for i in pending where g.next() & 1 == 0 { apply(log[i], to: &image) }
        case .reordered(let seed):
            var g = SplitMix(seed: seed ^ UInt64(k) &* 31)
            var chosen = pending.filter { _ in g.next() % 3 != 0 }
            chosen.shuffle(using: &g)
            for i in chosen { apply(log[i], to: &image) }
        case .lastTorn(let seed):
            var g = SplitMix(seed: seed ^ UInt64(k) &* 17)
            for i in pending.dropLast() { apply(log[i], to: &image) }
            if let last = pending.last { applyTorn(log[last], to: &image, using: &g) }
        case .metaWithoutSomeData(let seed):
            var g = SplitMix(seed: seed ^ UInt64(k) &* 7)
            let data = pending.filter { !isMetaWrite(log[$0]) }
            let lost = data.isEmpty ? -1 : data[Int(g.next() % UInt64(data.count))]
            for i in pending where i != lost && (isMetaWrite(log[i]) || g.next() & 1 == 0) { apply(log[i], to: &image) }
        case let .metaTorn(index, seed):
            var g = SplitMix(seed: seed ^ UInt64(k) &* 13 ^ UInt64(index))
            var seen = 0
            for i in pending {
                if isMetaWrite(log[i]) {
                    if seen == index { applyTorn(log[i], to: &image, using: &g); break }
                    seen += 1
                }
                apply(log[i], to: &image)
            }
        }
        return image
    }

    private func apply(_ op: SimulatedDisk.Operation, to image: inout [UInt8]) {
        switch op {
        case let .write(offset, bytes):
            if image.count < offset + bytes.count { image.append(contentsOf: repeatElement(0, count: offset + bytes.count - image.count)) }
            image.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
        case .resize(let size):
            if size < image.count { image.removeSubrange(size...) } else { image.append(contentsOf: repeatElement(0, count: size - image.count)) }
        case .sync:
            break
        }
    }

    /// Applies a random, non-empty, non-complete set of the write's sectors (when it has two or more).
    private func applyTorn(_ op: SimulatedDisk.Operation, to image: inout [UInt8], using g: inout SplitMix) {
        guard case let .write(offset, bytes) = op else { apply(op, to: &image); return }
        if image.count < offset + bytes.count { image.append(contentsOf: repeatElement(0, count: offset + bytes.count - image.count)) }
        let sectors = (bytes.count + Self.sectorSize - 1) / Self.sectorSize
        var mask = (0..<sectors).map { _ in g.next() & 1 == 0 }
        if sectors >= 2 {
            if mask.allSatisfy({ $0 }) { mask[Int(g.next() % UInt64(sectors))] = false }
            if mask.allSatisfy({ !$0 }) { mask[Int(g.next() % UInt64(sectors))] = true }
        }
        for s in 0..<sectors where mask[s] {
            let lo = s * Self.sectorSize, hi = min(bytes.count, lo + Self.sectorSize)
            image.replaceSubrange((offset + lo)..<(offset + hi), with: bytes[lo..<hi])
        }
    }
}

/// SplitMix64: small, seeded, reproducible.
package struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    package init(seed: UInt64) { state = seed }
    package mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
