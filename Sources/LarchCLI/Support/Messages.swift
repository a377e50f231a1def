import Larch
import Synchronization

/// The database file a command opened, for its messages (a page's byte offsets need its page size).
enum OpenedFile {
    private static let current = Mutex<(path: String, pageSize: Int)?>(nil)

    static func record(_ path: String, pageSize: Int) { current.withLock { $0 = (path, pageSize) } }
    static var path: String? { current.withLock { $0?.path } }
    static var pageSize: Int? { current.withLock { $0?.pageSize } }
}

/// Errors in the CLI's own words: what the library says in terms of its API (`Options.pageSize`,
/// `openDatabase(_:create: true)`) said in terms of the command line.
enum Messages {
    /// The one line a command prints for `error` (after `larch NAME: `).
    static func describe(_ error: any Error) -> String {
        guard let error = error as? LarchError else { return "\(error)" }
        let file = OpenedFile.path
        switch error {
        case let .checksumMismatch(page, expected, found):
            var place = "page \(page)"
            if let size = OpenedFile.pageSize {
                let start = Int(page) * size
                place += " (bytes \(Formatting.grouped(start)) to \(Formatting.grouped(start + size - 1)) of the file)"
            }
            let check = file.map { "larch check \($0)" } ?? "larch check"
            return "\(place) failed its checksum: expected \(hex32(expected)) found \(hex32(found)); the file is damaged there: `\(check)` lists every damaged page"
        default:
            return error.description
        }
    }

    static func hex32(_ v: UInt32) -> String {
        let digits = String(v, radix: 16)
        return "0x" + String(repeating: "0", count: 8 - digits.count) + digits
    }
}
