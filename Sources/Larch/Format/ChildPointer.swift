/// A pointer to a page as a branch cell stores it (FORMAT.md §9): the page, the CRC32C it had when
/// written, and its birth — the transaction that wrote it. Births never exceed the birth of the
/// page holding the pointer; the open-time check of the newest commit follows exactly the
/// pointers born after the last durable commit (CRASH-SAFETY.md).
struct ChildPointer: Equatable, Sendable {
    var page: PageNumber
    var checksum: UInt32
    var birth: TransactionID

    /// A pointer to `page`, written by the current transaction: its checksum and birth are 0
    /// until the transaction commits and records them (`WriteState.finalize`).
    static func dirty(_ page: PageNumber) -> ChildPointer { ChildPointer(page: page, checksum: 0, birth: TransactionID(0)) }
}
