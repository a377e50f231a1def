#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Transactions larger than memory (issue 14): when a write transaction's dirty pages pass
/// `Options.maxDirtyBytes`, some of them are written to their own page numbers in the file before
/// commit ("spilled") and their buffers freed; they are read back through a memory map of the file
/// when needed, and a spilled page that changes again is copied back into a dirty buffer under the
/// same page number and rewritten in place at commit.
///
/// Why this is safe: a dirty page's number was allocated at a free offset — a page that neither the
/// published meta, nor a commit waiting for its sync, nor any live reader reaches, for the whole life
/// of the transaction (the allocator's reuse bound is fixed at begin). Writing it early instead of at
/// commit changes nothing anyone can see: until this transaction's meta is written, no meta points
/// at it, so a crash (or an abort) leaves it a free page with meaningless bytes. The commit's one
/// sync covers the spilled writes, which went to the same file before the meta (docs/CRASH-SAFETY.md,
/// "Transactions larger than memory").
///
/// What is spilled (`WriteState.spillOverBudget`): only pages whose bytes are final until they change
/// again — overflow runs, leaves, and branches none of whose children are still dirty in memory (the
/// cells of their spilled children are given those children's checksums as they are written; a
/// branch with a dirty child is not final: commit fills its cells bottom-up). A leaf of a
/// sorted-duplicates database that holds duplicate trees is treated as a branch: final once the
/// roots of those trees are, whose checksums its cells then record. Never: a tree's root,
/// a page of the put hint's path or of the current operation's path, or a page rewritten in place
/// for a commit still waiting for its meta (group commit, FORMAT.md §14.1: writing it early would
/// change that commit's page before this transaction is known to commit).
///
/// **Nested transactions** (a stack of dirty layers, a child shadow-copying a parent's page under the
/// same number, `WriteState+Nested.swift`): a child spills only pages it made dirty itself that no
/// lower layer holds (`DirtyPages.isSpillable`), and never over a page whose spilled version an outer
/// level still needs — one the child copied back into a buffer or released, all pages of a run
/// (`NestedSave.outerSpills`): spilling writes the page's file offset, which every level shares. Every
/// change a child makes to this table is logged with the entry it replaced (`NestedSave.spillUndo`),
/// so its abort puts the table back as it was, and the file still holds every version it lists;
/// a commit hands the log to the parent when the parent is a child too. While a child is open, the
/// pages of its parents stay in memory: the budget binds the child's own pages.
///
/// A reference, so that reads (non-mutating) can reach it; used only by the writer, like the
/// `WriteState` that holds it.
final class SpilledPages {
    /// A spilled page or overflow run: its checksum (verified on every read back, and recorded in
    /// the parent pointer at commit) and its length in pages.
    struct Entry {
        let checksum: UInt32
        let pageCount: Int
    }

    let device: any StorageDevice
    let options: Options
    let pageSize: Int
    private(set) var table: [PageNumber: Entry] = [:]
    /// The map spilled pages are read through (the snapshot's, until the file outgrows it), and
    /// the ones it replaced, kept until the transaction ends (views into them may still be in use
    /// by the operation that remapped).
    private(set) var mapping: Mapping
    private var retired: [Mapping] = []
    /// The file's size before the transaction's first spill grew it, to give back if it aborts.
    private(set) var grownFrom: Int?
    /// Bytes of the file known to exist (every spilled page lies below).
    private var fileBytes: Int
    /// Pages written by spills, in total (including pages later re-dirtied and written again at commit).
    private(set) var pagesWritten = 0
    /// Vectored writes made by spills.
    private(set) var runs = 0
    /// Branch pages among `pagesWritten` (tests: that branches spill).
    private(set) var branchPagesWritten = 0

    init(device: any StorageDevice, options: Options, pageSize: Int, mapping: Mapping) {
        self.device = device
        self.options = options
        self.pageSize = pageSize
        self.mapping = mapping
        self.fileBytes = 0
    }

    var isEmpty: Bool { table.isEmpty }
    var count: Int { table.count }

    @inline(__always)
    subscript(page: PageNumber) -> Entry? { table.isEmpty ? nil : table[page] }

    /// Forgets `page` (released, or copied back into a dirty buffer); returns its entry.
    func remove(_ page: PageNumber) -> Entry? { table.removeValue(forKey: page) }

    /// Sets the entry of `page` (nil: none), when a nested transaction's abort undoes its changes.
    func set(_ page: PageNumber, _ entry: Entry?) { table[page] = entry }

    // MARK: Reading back

    /// The address of spilled `page` in the map, after checking that its `pages` pages match the
    /// checksum recorded when it was written: a page damaged in the file (or not written) is a
    /// typed error, never wrong bytes.
    func verifiedAddress(_ page: PageNumber, _ e: Entry) throws(LarchError) -> UnsafeRawPointer {
        let end = (Int(page.rawValue) + e.pageCount) * pageSize
        guard end <= mapping.sizeBytes, end <= fileBytes else {
            throw .corruptPage(page: page.rawValue, reason: "spilled page lies outside the file (\(fileBytes) bytes) or its map")
        }
        let address = mapping.page(page, pageSize: pageSize)
        let found = CRC32C.checksum(address, count: e.pageCount * pageSize)
        guard found == e.checksum else { throw .checksumMismatch(page: page.rawValue, expected: e.checksum, found: found) }
        return address
    }

    /// A spilled branch or leaf page, read back through the map.
    func node(_ page: PageNumber, _ e: Entry, kind: PageKind) throws(LarchError) -> PageView {
        let v = PageView(base: try verifiedAddress(page, e), pageSize: pageSize, number: page)
        try v.validateNode(kind: kind)
        return v
    }

    /// A spilled page an operation already read with `node`.
    func validatedPage(_ page: PageNumber) -> PageView {
        PageView(base: mapping.page(page, pageSize: pageSize), pageSize: pageSize, number: page)
    }

    /// The bytes of a value in a spilled overflow run.
    func overflowValue(first: PageNumber, _ e: Entry, length: Int) throws(LarchError) -> UnsafeRawBufferPointer {
        let base = try verifiedAddress(first, e)
        guard OverflowRun.hasHeader(base, first: first, pages: e.pageCount) else {
            throw .corruptPage(page: first.rawValue, reason: "spilled page is not the first page of a \(e.pageCount)-page overflow run")
        }
        return OverflowRun.value(base, length: length)
    }

    // MARK: Writing

    /// Makes the file (and the map) cover `requiredBytes`, growing it as a commit would; the first
    /// growth's starting size is remembered, to be given back if the transaction does not commit.
    func cover(_ requiredBytes: Int) throws(LarchError) {
        if requiredBytes > fileBytes {
            let current = try device.size()
            if requiredBytes > current {
                if grownFrom == nil { grownFrom = current }
                fileBytes = try Environment.grow(device, current: current, required: requiredBytes, options: options, pageSize: pageSize)
            } else {
                fileBytes = current
            }
        }
        if requiredBytes > mapping.sizeBytes {
            let m = try device.map(sizeBytes: Environment.reservation(fileSize: fileBytes, options: options, pageSize: pageSize))
            retired.append(mapping)
            mapping = m
        }
    }

    /// Writes `pages` (page order, each with its buffer, length in pages and checksum) at their page
    /// numbers, one vectored write per contiguous run of at most `TransactionCore.maxPagesPerWrite`
    /// single pages, and records each with its checksum.
    func write(_ pages: [SpillCandidate]) throws(LarchError) {
        guard !pages.isEmpty else { return }
        try withUnsafeTemporaryAllocation(of: iovec.self, capacity: pages.count) { iov throws(LarchError) in
            var start = 0
            while start < pages.count {
                var end = start
                var next = pages[start].page.rawValue + UInt64(pages[start].pageCount)
                iov[0] = iovec(iov_base: pages[start].buffer, iov_len: pages[start].pageCount * pageSize)
                while end + 1 < pages.count, pages[end + 1].page.rawValue == next,
                      pages[end + 1].pageCount > 1 || next - pages[start].page.rawValue < TransactionCore.maxPagesPerWrite {
                    end += 1
                    iov[end - start] = iovec(iov_base: pages[end].buffer, iov_len: pages[end].pageCount * pageSize)
                    next += UInt64(pages[end].pageCount)
                }
                try device.write(vectors: UnsafeMutableBufferPointer(rebasing: iov[0 ..< end - start + 1]),
                                 at: Int(pages[start].page.rawValue) * pageSize)
                runs += 1
                start = end + 1
            }
        }
        for p in pages {
            table[p.page] = Entry(checksum: p.checksum, pageCount: p.pageCount)
            pagesWritten += p.pageCount
            if PageView(base: UnsafeRawPointer(p.buffer), pageSize: pageSize, number: p.page).kindByte == PageKind.branch.rawValue {
                branchPagesWritten += 1
            }
        }
    }

    /// The transaction did not commit: the file goes back to its size before the first spill grew
    /// it. Nothing needs the pages past that size: they were free and allocated by this
    /// transaction, which still holds the writer lock (as `giveBackGrowth` after a failed commit).
    func giveBackGrowth() -> Int? {
        guard let size = grownFrom else { return nil }
        grownFrom = nil
        guard (try? device.resize(to: size)) != nil else { return nil }
        return size
    }

    /// The transaction ended: forget every page and release the maps.
    func clear() {
        table = [:]
        retired = []
    }
}

extension WriteState {
    /// Called before each change while the dirty pages exceed the budget: writes pages to the file
    /// until the dirty pages are down to half the budget (so that spills come in batches of
    /// contiguous pages rather than one page per put), and frees their buffers.
    ///
    /// Choice: overflow runs first (the most memory, and never changed again: a new value gets a
    /// new run), then leaves, then — when those are not enough — branches all of whose dirty
    /// children are spilled (their cells then record the children's checksums, so their bytes are
    /// final; bottom-up, as many levels as needed). Never a root, a page of the put hint's path (a
    /// sequential load's next puts land there), a page of the current path, or a page rewritten in
    /// place for a waiting commit (see `SpilledPages`). Among leaves, the table's order (a hash of
    /// the page number) stands in for "not touched recently", which the table does not record: the
    /// hot path stays one lookup.
    mutating func spillOverBudget() throws(LarchError) {
        guard let setup = spillSetup else { return }
        let target = max(setup.limitPages / 2, 1)
        var protected = Set<PageNumber>()
        for t in trees where !t.root.isEmpty { protected.insert(t.root.root) }
        if hint.tree >= 0 { for level in 0..<hint.path.count { protected.insert(hint.path.page(level)) } }
        for level in 0..<path.count { protected.insert(path.page(level)) }
        protected.formUnion(inPlacePages)
        var overflow: [SpillCandidate] = []
        var leaves: [SpillCandidate] = []
        var branches: [SpillCandidate] = []
        // Inside a nested transaction, only pages the innermost one made dirty, that no lower level
        // holds and that have no spilled version (a lower level's, which its abort returns to).
        let nested = isNested
        dirty.forEach { page, d in
            guard !protected.contains(page),
                  !nested || (dirty.isSpillable(page) && !holdsOuterSpill(page, pages: d.pageCount)) else { return }
            let c = SpillCandidate(page: page, buffer: d.buffer, pageCount: d.pageCount, checksum: 0)
            switch PageView(base: UnsafeRawPointer(d.buffer), pageSize: pageSize, number: page).kindByte {
            case PageKind.overflow.rawValue: overflow.append(c)
            case PageKind.leaf.rawValue where d.pageCount == 1:
                // A leaf holding duplicate trees is final only once their roots are: with branches.
                if Self.holdsDuplicateTrees(c.buffer, pageSize: pageSize) { branches.append(c) } else { leaves.append(c) }
            case PageKind.branch.rawValue where d.pageCount == 1: branches.append(c)
            default: break
            }
        }
        var chosen: [SpillCandidate] = []
        var checksums: [PageNumber: UInt32] = [:]   // of the pages chosen so far
        var held = dirty.heldPages
        func choose(_ c: SpillCandidate) {
            var c = c
            c.checksum = CRC32C.checksum(UnsafeRawPointer(c.buffer), count: c.pageCount * pageSize)
            checksums[c.page] = c.checksum
            chosen.append(c)
            held -= c.pageCount
        }
        for c in overflow where held > target { choose(c) }
        for c in leaves where held > target { choose(c) }
        // Branches whose dirty children are all chosen or spilled, level by level upwards; and
        // leaves of sorted-duplicates databases whose dirty duplicate-tree roots are (their cells
        // then record those roots' checksums, as commit's `finalizePage` would).
        var progress = true
        var taken = Set<PageNumber>()
        while held > target && progress {
            progress = false
            for c in branches where held > target && !taken.contains(c.page) {
                let m = MutablePage(base: c.buffer, pageSize: pageSize)
                if PageView(base: UnsafeRawPointer(c.buffer), pageSize: pageSize, number: c.page).kindByte == PageKind.leaf.rawValue {
                    var final = true
                    for i in 0..<m.count {
                        if let (sub, _) = m.duplicateTreeReference(i), !sub.isEmpty, dirty[sub.root] != nil, checksums[sub.root] == nil {
                            final = false
                            break
                        }
                    }
                    guard final else { continue }
                    for i in 0..<m.count {
                        guard let (sub, at) = m.duplicateTreeReference(i), !sub.isEmpty,
                              let crc = checksums[sub.root] ?? spilled?[sub.root]?.checksum else { continue }
                        var root = sub
                        root.rootChecksum = crc
                        root.rootBirth = txnID
                        root.encode(to: at)
                    }
                    taken.insert(c.page)
                    choose(c)
                    progress = true
                    continue
                }
                var final = true
                for i in 0..<m.count {
                    let (child, recorded) = m.childReference(i)
                    if recorded == 0 && dirty[child] != nil && checksums[child] == nil { final = false; break }
                }
                guard final else { continue }
                for i in 0..<m.count {
                    let (child, recorded) = m.childReference(i)
                    guard recorded == 0 else { continue }
                    if let crc = checksums[child] ?? spilled?[child]?.checksum { m.setChildChecksum(i, crc, birth: txnID) }
                }
                taken.insert(c.page)
                choose(c)
                progress = true
            }
        }
        defer {
            // Not enough to spill (inside a nested transaction, most pages may be a parent's): look
            // again only once the dirty pages grew by half the budget, not on every change.
            spillLimitPages = dirty.heldPages > setup.limitPages ? dirty.heldPages + target : setup.limitPages
        }
        guard !chosen.isEmpty else { return }
        chosen.sort { $0.page < $1.page }
        if spilled == nil {
            spilled = SpilledPages(device: setup.device, options: setup.options, pageSize: pageSize, mapping: snapshot.mapping)
        }
        let s = spilled!
        try s.cover(Int(allocator.nextPage) * pageSize)
        if nested { for c in chosen { willChangeSpilled(c.page, outer: false) } }
        try s.write(chosen)
        // Cursors hold views of pages; they re-seek by key on their next move.
        if !cursors.isEmpty {
            for (_, c) in cursors { for t in trees.indices { c.state?.treeWillChange(t) } }
            for t in trees.indices { trees[t].version &+= 1 }
        }
        for c in chosen { _ = dirty.drop(c.page) }
    }

    /// Whether the leaf in `buffer` has a cell whose value is a duplicate tree's root.
    static func holdsDuplicateTrees(_ buffer: UnsafeMutableRawPointer, pageSize: Int) -> Bool {
        let m = MutablePage(base: buffer, pageSize: pageSize)
        return (0..<m.count).contains { m.duplicateTreeReference($0) != nil }
    }

    /// Whether any of `pages` pages from `page` holds the spilled version of a page (or run) that an
    /// outer level of the open nested transactions still needs: spilling over it would change it.
    private func holdsOuterSpill(_ page: PageNumber, pages: Int) -> Bool {
        nestedSaves.contains { save in
            !save.outerSpills.isEmpty && (0..<UInt64(pages)).contains { save.outerSpills.contains(PageNumber(page.rawValue + $0)) }
        }
    }

    /// Copy-on-write of a spilled page: back into a dirty buffer under the same page number (it is
    /// still this transaction's, unreachable from any meta), to be written again at commit. The
    /// caller relinks it: its parent, if spilled too, recorded its checksum, which must become a
    /// dirty child's 0 again (only cells recording 0 are followed at commit).
    mutating func redirtySpilled(_ page: PageNumber, _ s: SpilledPages, _ e: SpilledPages.Entry) throws(LarchError) {
        let source = try s.verifiedAddress(page, e)
        let copy = MutablePage(base: dirty.add(page, pages: e.pageCount), pageSize: pageSize)
        copy.copyPage(from: source)
        willChangeSpilled(page, outer: true)   // a nested transaction's abort returns to the spilled version
        _ = s.remove(page)
    }

    /// The transaction did not commit: the growth its spills made is given back.
    mutating func abandonSpills() -> Int? {
        guard let s = spilled else { return nil }
        let size = s.giveBackGrowth()
        s.clear()
        return size
    }
}

/// A dirty page chosen to spill, with its checksum once its bytes are final.
struct SpillCandidate {
    let page: PageNumber
    let buffer: UnsafeMutableRawPointer
    let pageCount: Int
    var checksum: UInt32
}

/// What a write transaction needs to spill: set at begin from the environment.
struct SpillSetup {
    let device: any StorageDevice
    let options: Options
    /// `Options.maxDirtyBytes` in pages.
    let limitPages: Int
}
