import Synchronization

/// The table of live read transactions and the snapshot (transaction id) each one pins.
///
/// The writer asks it for the oldest pinned snapshot before reusing pages from the free tree:
/// pages freed by transaction `T` are reused only when every reader's snapshot is `≥ T`.
/// This implementation is in-process; its interface (claim a slot, release it, find the oldest)
/// is what a shared-memory lock file will implement for multi-process use.
final class ReaderTable: Sendable {
    private struct State {
        var snapshots: [UInt64]   // per slot; `free` when unused
        var freeSlots: [Int]
    }
    private static let free = UInt64.max
    private let state: Mutex<State>
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
        state = Mutex(State(snapshots: Array(repeating: Self.free, count: capacity),
                            freeSlots: Array((0..<capacity).reversed())))
    }

    /// Claims a slot pinning `snapshot`. Call while holding the lock that publishes new snapshots,
    /// so that no writer can miss a reader that is about to use an older one.
    func claim(snapshot: TransactionID) throws(LarchError) -> Int {
        let slot: Int? = state.withLock { s in
            guard let i = s.freeSlots.popLast() else { return nil }
            s.snapshots[i] = snapshot.rawValue
            return i
        }
        guard let slot else { throw .readersFull(limit: capacity) }
        return slot
    }

    /// Releases a slot claimed by `claim`.
    func release(slot: Int) {
        state.withLock { s in
            precondition(s.snapshots[slot] != Self.free, "reader slot released twice")
            s.snapshots[slot] = Self.free
            s.freeSlots.append(slot)
        }
    }

    /// The oldest snapshot pinned by a live reader, or nil when there are none.
    func oldestSnapshot() -> TransactionID? {
        state.withLock { s in
            let m = s.snapshots.min() ?? Self.free
            return m == Self.free ? nil : TransactionID(m)
        }
    }

    /// The number of live readers.
    var activeCount: Int { state.withLock { capacity - $0.freeSlots.count } }
}
