import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Serializes write transactions: at most one is open at a time; later writers wait their turn,
/// first come first served.
///
/// A thread waits by blocking (`lock`), a task by suspending (`lockAsync`), so that waiting for
/// the writer never blocks a thread of Swift's cooperative pool. The lock has no owner in the
/// mutex sense (a write transaction may end on another thread than it began), but it remembers
/// the thread that took it, so that a thread asking for it again while it still holds it gets an
/// error instead of waiting for itself for ever. It can later be backed by a lock shared between
/// processes.
final class WriterLock: Sendable {
    /// A thread's identity: its `pthread_t` as an integer (a pointer on Darwin, an integer on Linux).
    private struct ThreadID: Sendable, Equatable {
        let id: UInt
        static var current: ThreadID {
            #if canImport(Darwin)
            ThreadID(id: UInt(bitPattern: pthread_self()))
            #else
            ThreadID(id: UInt(pthread_self()))
            #endif
        }
        func isCurrent() -> Bool { self == .current }
    }

    private enum Waiter: Sendable {
        case thread(DispatchSemaphore)
        case task(CheckedContinuation<Void, Never>)
    }

    private struct State {
        var held = false
        var holder: ThreadID?
        /// Waiters in arrival order, each with its ticket (tickets count up from 0).
        var waiters: [(ticket: UInt64, waiter: Waiter)] = []
        var head = 0   // waiters before it have been served
        var nextTicket: UInt64 = 0
        /// Tickets below this one have been served (or skipped, when their waiter gave up).
        var servedThrough: UInt64 = 0
        /// Tickets of thread waiters that timed out before their turn.
        var abandoned: Set<UInt64> = []
    }
    private let state = Mutex(State())

    /// Takes the lock, blocking the calling thread while another write transaction is open, for at
    /// most `timeout` (nil: for as long as it takes; then `writerTimeout`). Throws
    /// `nestedWriteTransaction` when this thread already holds it.
    func lock(timeout: Duration? = nil) throws(LarchError) {
        let wait: (DispatchSemaphore, UInt64)? = try state.withLock { s throws(LarchError) in
            if s.held, let h = s.holder, h.isCurrent() { throw LarchError.nestedWriteTransaction }
            guard s.held else {
                s.held = true
                s.holder = .current
                return nil
            }
            let w = DispatchSemaphore(value: 0)
            let ticket = s.nextTicket
            s.nextTicket += 1
            s.waiters.append((ticket, .thread(w)))
            return (w, ticket)
        }
        guard let (semaphore, ticket) = wait else { return }
        if let timeout {
            let nanoseconds = UInt64(max(0, timeout.components.seconds)) * 1_000_000_000 + UInt64(max(0, timeout.components.attoseconds / 1_000_000_000))
            if semaphore.wait(timeout: .now() + .nanoseconds(Int(min(nanoseconds, UInt64(Int.max))))) == .timedOut {
                let gaveUp = state.withLock { s in
                    guard ticket >= s.servedThrough else { return false }   // handed over meanwhile
                    s.abandoned.insert(ticket)
                    return true
                }
                if gaveUp { throw LarchError.writerTimeout(seconds: timeout.inSeconds) }
                semaphore.wait()   // the lock was passed to this thread as the wait ended
            }
        } else {
            semaphore.wait()
        }
        state.withLock { $0.holder = .current }
    }

    /// Takes the lock, suspending the calling task (not blocking its thread) while another write
    /// transaction is open. The wait is not cancellable: a cancelled task still gets its turn.
    func lockAsync() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s in
                guard s.held else {
                    s.held = true
                    s.holder = nil
                    return true
                }
                s.waiters.append((s.nextTicket, .task(c)))
                s.nextTicket += 1
                return false
            }
            if now { c.resume() }
        }
        // The task may run on any thread of the pool: no thread owns the lock.
        state.withLock { $0.holder = nil }
    }

    /// Releases the lock, handing it to the longest waiter if there is one.
    func unlock() {
        let next: Waiter? = state.withLock { s in
            s.holder = nil
            while s.head < s.waiters.count {
                let (ticket, w) = s.waiters[s.head]
                s.head += 1
                s.servedThrough = ticket + 1
                if s.head >= 64 && 2 * s.head >= s.waiters.count {   // drop served waiters now and then
                    s.waiters.removeFirst(s.head)
                    s.head = 0
                }
                if s.abandoned.remove(ticket) != nil { continue }   // it timed out before its turn
                return w   // the lock stays held: it passes to `w`
            }
            s.held = false
            s.waiters.removeAll(keepingCapacity: true)
            s.head = 0
            return nil
        }
        switch next {
        case .thread(let w)?: w.signal()
        case .task(let c)?: c.resume()
        case nil: break
        }
    }
}
