/// The number of a page in the file: page `n` occupies bytes `n × pageSize ..< (n + 1) × pageSize`.
///
/// Pages 0 and 1 are the meta pages; every other page is a branch, leaf or overflow page, or free.
/// Page number 0 is never a tree page, so it doubles as "no page" in on-disk pointers.
struct PageNumber: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    var rawValue: UInt64
    init(rawValue: UInt64) { self.rawValue = rawValue }
    init(_ value: UInt64) { self.rawValue = value }
    init(_ value: Int) { self.rawValue = UInt64(value) }

    /// The sentinel for "no page" (an empty tree's root).
    static let none = PageNumber(0)

    static func < (a: PageNumber, b: PageNumber) -> Bool { a.rawValue < b.rawValue }
    static func + (a: PageNumber, b: Int) -> PageNumber { PageNumber(a.rawValue + UInt64(b)) }
    var description: String { String(rawValue) }
}

/// The id of a committed write transaction. Ids increase by one per commit; the meta page
/// with the higher valid id is the current one. Readers pin the id of the snapshot they see.
struct TransactionID: RawRepresentable, Hashable, Comparable, Sendable, CustomStringConvertible {
    var rawValue: UInt64
    init(rawValue: UInt64) { self.rawValue = rawValue }
    init(_ value: UInt64) { self.rawValue = value }
    static func < (a: TransactionID, b: TransactionID) -> Bool { a.rawValue < b.rawValue }
    var next: TransactionID { TransactionID(rawValue + 1) }
    var description: String { String(rawValue) }
}
