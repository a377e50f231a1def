/// The pages and cell indexes from a tree's root down to a leaf, as a modification walks them.
/// After copy-on-write (`touchPath`) every page on it is dirty and may be changed in place.
///
/// Operations nest (a put may take a free-tree record, which deletes from the free tree): each
/// operation works in its own frame (`beginOperation`/`endOperation`), stacked in one buffer, so a
/// nested operation leaves the outer one's path intact. The buffer is kept for the whole write
/// transaction and grows only for a tree deeper than any before, so walking a path neither
/// allocates nor pays for an `Array`'s uniqueness checks. A noncopyable owner: its `deinit` frees
/// the buffer. Every access checks its level against the frame's `count`.
struct TreePath: ~Copyable {
    struct Level {
        var page: PageNumber
        var index: Int
    }

    private var levels: UnsafeMutablePointer<Level>
    private var capacity: Int
    /// Where the current frame starts in `levels`.
    private var base = 0
    /// Levels on the current frame's path: 0 is the root.
    private(set) var count = 0
    /// Operations under way: 1 for a top-level one, more while one is nested in another.
    private var nesting = 0
    /// The frames of the operations the current one is nested in (empty at the top level, so
    /// that a top-level operation does not touch the array).
    private var outer: [(base: Int, count: Int)] = []

    init() {
        capacity = 32
        levels = .allocate(capacity: capacity)
        outer.reserveCapacity(4)
    }

    deinit { levels.deallocate() }

    /// Starts a frame for an operation, above the frame of the one it is nested in.
    @inline(__always)
    mutating func beginOperation() {
        if nesting > 0 {
            outer.append((base, count))
            base += count
        }
        count = 0
        nesting += 1
    }

    /// Returns to the frame of the enclosing operation.
    @inline(__always)
    mutating func endOperation() {
        nesting -= 1
        if nesting > 0 { (base, count) = outer.removeLast() }
    }

    @inline(__always)
    mutating func reset() { count = 0 }

    @inline(__always)
    mutating func push(_ page: PageNumber, _ index: Int) {
        if base + count == capacity { grow() }
        (levels + base + count).initialize(to: Level(page: page, index: index))
        count += 1
    }

    private mutating func grow() {
        let bigger = UnsafeMutablePointer<Level>.allocate(capacity: capacity * 2)
        bigger.moveInitialize(from: levels, count: base + count)
        levels.deallocate()
        levels = bigger
        capacity *= 2
    }

    /// The page at `level`.
    @inline(__always)
    func page(_ level: Int) -> PageNumber {
        precondition(level >= 0 && level < count)
        return levels[base + level].page
    }

    /// The cell index at `level`.
    @inline(__always)
    func index(_ level: Int) -> Int {
        precondition(level >= 0 && level < count)
        return levels[base + level].index
    }

    @inline(__always)
    mutating func setPage(_ level: Int, _ page: PageNumber) {
        precondition(level >= 0 && level < count)
        levels[base + level].page = page
    }

    @inline(__always)
    mutating func setIndex(_ level: Int, _ index: Int) {
        precondition(level >= 0 && level < count)
        levels[base + level].index = index
    }

    /// Makes the current frame's path a copy of `other`'s current one.
    mutating func copy(from other: borrowing TreePath) {
        reset()
        for l in 0..<other.count { push(other.page(l), other.index(l)) }
    }

    /// The leaf at the bottom of the path.
    var leaf: PageNumber { page(count - 1) }
}
