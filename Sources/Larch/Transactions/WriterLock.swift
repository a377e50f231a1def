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

    /// A thread waiting for its turn. It sleeps on `semaphore`; when the writer before it is
    /// given the lock, it is woken early (`nearTurn`) and spins for a while, so that the lock
    /// passes to it without waiting for the scheduler to wake it: with many writer threads, a
    /// strict first-come-first-served lock otherwise idles for a wake-up at every turn (a lock
    /// convoy), which cost 16 writer threads 60% of the commit rate of 16 tasks.
    private final class ThreadWaiter: Sendable {
        let semaphore = DispatchSemaphore(value: 0)
        let granted = Atomic<Bool>(false)
        let nearTurn = Atomic<Bool>(false)

        /// Spins until granted, for at most `spinLimit`, giving the processor to others between looks.
        func spinUntilGranted() -> Bool {
            let start = ContinuousClock.now
            while !granted.load(ordering: .acquiring) {
                if ContinuousClock.now - start > WriterLock.spinLimit { return false }
                sched_yield()
            }
            return true
        }
    }

    /// How long a thread near its turn spins before it sleeps again: longer than a small write
    /// transaction takes, short enough that a long one does not keep a processor busy.
    static let spinLimit = Duration.microseconds(200)

    private enum Waiter: Sendable {
        case thread(ThreadWaiter)
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
        let wait: (ThreadWaiter, UInt64)? = try state.withLock { s throws(LarchError) in
            if s.held, let h = s.holder, h.isCurrent() { throw LarchError.nestedWriteTransaction }
            guard s.held else {
                s.held = true
                s.holder = .current
                return nil
            }
            let w = ThreadWaiter()
            let ticket = s.nextTicket
            s.nextTicket += 1
            s.waiters.append((ticket, .thread(w)))
            return (w, ticket)
        }
        guard let (waiter, ticket) = wait else { return }
        let deadline: DispatchTime? = timeout.map { t in
            let nanoseconds = UInt64(max(0, t.components.seconds)) * 1_000_000_000 + UInt64(max(0, t.components.attoseconds / 1_000_000_000))
            return .now() + .nanoseconds(Int(min(nanoseconds, UInt64(Int.max / 2))))
        }
        // Each wake-up is the turn itself or the early notice before it (at most one of each).
        while !waiter.granted.load(ordering: .acquiring) {
            if let deadline {
                if waiter.semaphore.wait(timeout: deadline) == .timedOut {
                    let gaveUp = state.withLock { s in
                        guard ticket >= s.servedThrough else { return false }   // handed over meanwhile
                        s.abandoned.insert(ticket)
                        return true
                    }
                    if gaveUp, let timeout { throw LarchError.writerTimeout(seconds: timeout.inSeconds) }
                    while !waiter.granted.load(ordering: .acquiring) { waiter.semaphore.wait() }   // passed to this thread as the wait ended
                    break
                }
            } else {
                waiter.semaphore.wait()
            }
            if waiter.nearTurn.load(ordering: .relaxed), waiter.spinUntilGranted() { break }
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

    /// Releases the lock, handing it to the longest waiter if there is one (and telling a thread
    /// waiting after that one that its turn is near).
    func unlock() {
        let (next, after): (Waiter?, ThreadWaiter?) = state.withLock { s in
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
                // The lock stays held: it passes to `w`.
                var after: ThreadWaiter?
                if s.head < s.waiters.count, case .thread(let t) = s.waiters[s.head].waiter { after = t }
                return (w, after)
            }
            s.held = false
            s.waiters.removeAll(keepingCapacity: true)
            s.head = 0
            return (nil, nil)
        }
        switch next {
        case .thread(let w)?:
            w.granted.store(true, ordering: .releasing)
            w.semaphore.signal()
        case .task(let c)?: c.resume()
        case nil: break
        }
        if let after, !after.nearTurn.exchange(true, ordering: .relaxed) { after.semaphore.signal() }
    }
}
