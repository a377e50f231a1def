/// What a `Transaction` may do: `ReadOnly` or `ReadWrite`. The mode is part of the type, so a
/// change through a read transaction, or through a cursor of one, does not compile.
public protocol TransactionMode {}

/// The mode of `ReadTransaction`: reads one committed snapshot.
public enum ReadOnly: TransactionMode {}

/// The mode of `WriteTransaction`: reads and changes the environment's one write transaction.
public enum ReadWrite: TransactionMode {}

/// A read-only view of one committed snapshot (see `Transaction`).
public typealias ReadTransaction = Transaction<ReadOnly>

/// The one write transaction of an environment (see `Transaction`).
public typealias WriteTransaction = Transaction<ReadWrite>
