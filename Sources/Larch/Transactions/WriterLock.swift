import Dispatch

/// Serializes write transactions: at most one is open at a time; a second writer waits.
///
/// The lock has no owner thread (a write transaction may end on another thread than it began),
/// and can later be backed by a lock shared between processes.
final class WriterLock: Sendable {
    private let semaphore = DispatchSemaphore(value: 1)

    func lock() { semaphore.wait() }
    func unlock() { semaphore.signal() }
}
