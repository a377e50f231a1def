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
