import Foundation

/// A fresh directory under /tmp, removed when released.
final class TemporaryDirectory {
    let path: String
    init(_ label: String) throws {
        var template = Array("/tmp/larch-\(label)-XXXXXX".utf8CString)
        guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
            throw CocoaError(.fileWriteUnknown)
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
    func file(_ name: String = "data.larch") -> String { path + "/" + name }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs `body` on a thread of its own and suspends until it returns: a long blocking or CPU-bound
/// test body (a crash lab run, a child process waited for) must not hold one of the few threads of
/// Swift's cooperative pool (as many as the machine has cores), which the suite's async tests need:
/// on a 2-core machine two such bodies starved every async test past its time limit. Expectations
/// belong outside `body`, in the test's own context.
func onOwnThread<R: Sendable>(_ body: @escaping @Sendable () throws -> R) async throws -> R {
    try await withCheckedThrowingContinuation { (k: CheckedContinuation<R, any Error>) in
        Thread { k.resume(with: Result { try body() }) }.start()
    }
}
