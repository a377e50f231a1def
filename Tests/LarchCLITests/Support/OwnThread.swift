import Foundation

/// Runs `body` on a thread of its own and suspends until it returns, so that a long blocking test
/// body (a child process waited for) holds no thread of Swift's cooperative pool, which the async
/// tests running beside it need (see LarchCrashTests' `onOwnThread`). Expectations belong outside.
func onOwnThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { (k: CheckedContinuation<R, any Error>) in
        Thread { k.resume(with: Result { try body() }) }.start()
    }
}
