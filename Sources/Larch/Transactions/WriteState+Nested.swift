/// Nested write transactions: a child works on its parent's `WriteState` and can be rolled back
/// alone.
///
/// How: the child's changes to the dirty pages form a layer (`DirtyPages.beginLayer`): every page
/// it changes records the entry it had before, and a page dirty in a lower layer is shadow-copied
/// under the same page number before the child writes it (`touch`). Everything else a change can
/// touch is saved when the child begins, in a `NestedSave`: the tree descriptors, the allocator
/// (its pool, free list and end of file), the free-tree claims, the pin bound, the snapshot of
/// the result and the failure, plus the lengths of the two append-only lists (`allocator.freed`,
/// `dead`). A commit drops the save and merges the layer; an abort restores the save and drops the
/// layer. Both cost what the child touched, not what the parent holds: the saved arrays are shared
/// copies (the tree slots, one per database, and the allocator's pool and free list, which a flat
/// transaction copies and scans on its allocations anyway), and the long lists are saved as lengths.
struct NestedSave {
    var trees: [TreeSlot]
    /// The allocator without its `freed` list, which only grows while the child runs.
    var allocator: PageAllocator
    var freedCount: Int
    var claims: FreeTreeClaims
    var pinBound: TransactionID
    var deadCount: Int
    /// `dead` as it was, saved once a snapshot drop rewrites the list (`keepDeadForNestedAbort`).
    var deadPrefix: [DeadExtent]?
    var snapshotOfResult: (name: [UInt8], id: [UInt8], createdNanoseconds: UInt64)?
    var rewrittenInPlace: Int
    /// Pages the child took out of `rewritable` (rewrote in place): they go back on abort.
    var unrewritten: [PageNumber] = []
    /// Every change the child made to the table of spilled pages (`SpilledPages`), with the entry
    /// the page had before, oldest first: its abort undoes them newest first.
    var spillUndo: [(page: PageNumber, previous: SpilledPages.Entry?)] = []
    /// Pages whose spilled version belongs to an outer level (the child copied it back into a buffer,
    /// or released it): the child must not spill them, which would overwrite that version in the file.
    var outerSpills: Set<PageNumber> = []
    var failure: LarchError?
}

extension WriteState {
    /// Whether a nested transaction is open.
    var isNested: Bool { !nestedSaves.isEmpty }

    /// Begins a nested transaction on this state (it must not have failed).
    mutating func beginNested() {
        var savedAllocator = allocator
        savedAllocator.freed = []   // the child appends to the one list; an abort cuts it back
        nestedSaves.append(NestedSave(trees: trees, allocator: savedAllocator, freedCount: allocator.freed.count,
                                      claims: claims, pinBound: pinBound, deadCount: dead.count,
                                      snapshotOfResult: snapshotOfResult, rewrittenInPlace: rewrittenInPlace,
                                      failure: failure))
        dirty.beginLayer()
        // The hint's leaf is the parent's buffer, which the child must not write in place.
        hint.tree = -1
    }

    /// Commits the innermost nested transaction into its parent. When the child failed part-way,
    /// it is rolled back instead and the failure thrown: the parent goes on as before the child.
    mutating func commitNested() throws(LarchError) {
        if let f = failure {
            abortNested()
            throw f
        }
        let save = nestedSaves.removeLast()
        if !nestedSaves.isEmpty {
            nestedSaves[nestedSaves.count - 1].unrewritten += save.unrewritten
            nestedSaves[nestedSaves.count - 1].spillUndo += save.spillUndo
            nestedSaves[nestedSaves.count - 1].outerSpills.formUnion(save.outerSpills)
        }
        dirty.commitLayer()
        if let setup = spillSetup { spillLimitPages = setup.limitPages }   // the parent's pages may spill again
        // The hint stays: its leaf is a buffer of the child's layer, now the parent's.
    }

    /// Rolls the innermost nested transaction back: the state is the parent's as it was when the
    /// child began, except that the version of every tree only grows (cursors compare it).
    mutating func abortNested() {
        let save = nestedSaves.removeLast()
        dirty.abortLayer()
        if let s = spilled { for u in save.spillUndo.reversed() { s.set(u.page, u.previous) } }
        if let setup = spillSetup { spillLimitPages = setup.limitPages }
        var restored = save.trees
        for i in restored.indices where i < trees.count {
            restored[i].version = max(restored[i].version, trees[i].version)
        }
        trees = restored
        var freed: [PageNumber] = []
        swap(&freed, &allocator.freed)
        freed.removeSubrange(save.freedCount...)
        allocator = save.allocator
        allocator.freed = freed
        claims = save.claims
        pinBound = save.pinBound
        if let prefix = save.deadPrefix { dead = prefix } else { dead.removeSubrange(save.deadCount...) }
        snapshotOfResult = save.snapshotOfResult
        rewrittenInPlace = save.rewrittenInPlace
        for p in save.unrewritten { rewritable.insert(p) }
        failure = save.failure
        // The hint may point into a buffer just given back.
        hint.tree = -1
        hint.leaf = nil
    }

    /// Records, inside a nested transaction, the entry `page` has in the table of spilled pages
    /// before it changes (`outer`: and that its spilled version, all its pages, is an outer level's).
    mutating func willChangeSpilled(_ page: PageNumber, outer: Bool) {
        guard !nestedSaves.isEmpty else { return }
        let top = nestedSaves.count - 1
        let previous = spilled?[page]
        nestedSaves[top].spillUndo.append((page, previous))
        if outer, let previous {   // every page of it (an overflow run has several)
            for i in 0..<UInt64(previous.pageCount) { nestedSaves[top].outerSpills.insert(PageNumber(page.rawValue + i)) }
        }
    }

    /// Before `dead` is rewritten rather than appended to (a snapshot drop): the open nested
    /// transactions that saved only its length keep a copy of their part, innermost first (the
    /// outer ones that have a copy already are the outermost ones).
    mutating func keepDeadForNestedAbort() {
        for i in nestedSaves.indices.reversed() {
            guard nestedSaves[i].deadPrefix == nil else { break }
            nestedSaves[i].deadPrefix = Array(dead.prefix(nestedSaves[i].deadCount))
        }
    }
}
