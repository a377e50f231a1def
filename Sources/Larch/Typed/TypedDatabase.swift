/// A database whose keys are `Key`s (stored in their order-preserving `OrderedKey` encoding) and
/// whose values are `Value`s (stored by `coder`, `LarchBinaryCoder` unless chosen otherwise).
///
/// Like `Database`, it is a plain description, valid in every transaction of its environment;
/// reads and changes go through the transaction, so the compiler keeps them inside it:
///
/// ```swift
/// try env.write { txn in
///     let users = try txn.database("users", of: Int64.self, User.self)   // created if missing
///     try txn.put(User(name: "Ada"), for: 1, in: users)
/// }
/// let ada = try env.read { txn in
///     let users = try txn.database("users", of: Int64.self, User.self)
///     return try txn[1, in: users]                                        // or txn.get(1, in: users)
/// }
/// ```
public struct TypedDatabase<Key: OrderedKey, Value: Codable>: Sendable {
    /// The untyped database, for the byte-level API.
    public let database: Database
    /// How values become bytes.
    public let coder: any ValueCoder

    /// A typed view of `database`.
    public init(_ database: Database, coder: any ValueCoder = LarchBinaryCoder()) {
        self.database = database
        self.coder = coder
    }
}

/// The entries of a typed database within a key range, decoded one at a time (see `Entries`).
/// Every way to iterate throws the first error it meets, including a key or value that does not
/// decode (`invalidKeyEncoding`, `invalidValueEncoding`).
public struct TypedEntries<Key: OrderedKey, Value: Codable>: ~Copyable {
    /// One decoded entry.
    public typealias Element = (key: Key, value: Value)

    var entries: Entries
    let coder: any ValueCoder

    init(entries: consuming Entries, coder: any ValueCoder) {
        self.entries = entries
        self.coder = coder
    }

    /// The next entry, or nil after the last one.
    public mutating func next() throws(LarchError) -> Element? {
        guard let (k, v) = try entries.next() else { return nil }
        return (try Key(encodedKey: k), try coder.decodeTyped(Value.self, from: v))
    }

    /// Every remaining entry, in order.
    public consuming func collect() throws(LarchError) -> [Element] {
        var out: [Element] = []
        while let e = try next() { out.append(e) }
        return out
    }

    /// The remaining keys, in order (values are not decoded).
    public consuming func keys() throws(LarchError) -> [Key] {
        var out: [Key] = []
        while let (k, _) = try entries.next() { out.append(try Key(encodedKey: k)) }
        return out
    }
}

extension KeyRange {
    /// The keys `range.lowerBound ..< range.upperBound`, encoded.
    public init<K: OrderedKey & Comparable>(_ range: Range<K>) {
        self.init(lower: .included(range.lowerBound.encodedKey), upper: .excluded(range.upperBound.encodedKey))
    }

    /// The keys `range.lowerBound ... range.upperBound`, encoded.
    public init<K: OrderedKey & Comparable>(_ range: ClosedRange<K>) {
        self.init(lower: .included(range.lowerBound.encodedKey), upper: .included(range.upperBound.encodedKey))
    }

    /// The keys from `range.lowerBound` on, encoded.
    public init<K: OrderedKey & Comparable>(_ range: PartialRangeFrom<K>) {
        self.init(lower: .included(range.lowerBound.encodedKey), upper: .unbounded)
    }
}

// MARK: - Reading

extension Transaction {
    /// The value stored under `key` in `db`, decoded; nil when absent. Throws
    /// `invalidValueEncoding` when the stored bytes do not decode as `V`.
    public func get<K, V>(_ key: K, in db: TypedDatabase<K, V>) throws(LarchError) -> V? {
        guard let bytes = try get(key.encodedKey, in: db.database) else { return nil }
        return try db.coder.decodeTyped(V.self, from: bytes)
    }

    /// `get(_:in:)` as a subscript: `try txn[id, in: users]`.
    public subscript<K, V>(key: K, in db: TypedDatabase<K, V>) -> V? {
        get throws(LarchError) { try get(key, in: db) }
    }

    /// Whether `key` is present in `db` (its value is not decoded).
    public func contains<K, V>(_ key: K, in db: TypedDatabase<K, V>) throws(LarchError) -> Bool {
        try contains(key.encodedKey, in: db.database)
    }

    /// The entries of `db` within `range` (for example `KeyTuple2<String, Int64>.prefix("Paris")`),
    /// in key order or reverse, decoded as they are read.
    public func entries<K, V>(in db: TypedDatabase<K, V>, _ range: KeyRange = .all,
                              reverse: Bool = false) throws(LarchError) -> TypedEntries<K, V> {
        TypedEntries(entries: try entries(in: db.database, range, reverse: reverse), coder: db.coder)
    }

    /// The entries of `db` with keys in `range` (`lower ..< upper`).
    public func entries<K: Comparable, V>(in db: TypedDatabase<K, V>, _ range: Range<K>,
                                          reverse: Bool = false) throws(LarchError) -> TypedEntries<K, V> {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }

    /// The entries of `db` with keys in `range` (`lower ... upper`).
    public func entries<K: Comparable, V>(in db: TypedDatabase<K, V>, _ range: ClosedRange<K>,
                                          reverse: Bool = false) throws(LarchError) -> TypedEntries<K, V> {
        try entries(in: db, KeyRange(range), reverse: reverse)
    }
}

extension Transaction where Mode == ReadOnly {
    /// The existing named database `name` as a typed database; throws `databaseNotFound` if there
    /// is none.
    public func database<K, V>(_ name: String, of keyType: K.Type, _ valueType: V.Type,
                               coder: any ValueCoder = LarchBinaryCoder()) throws(LarchError) -> TypedDatabase<K, V> {
        TypedDatabase(try openDatabase(name), coder: coder)
    }
}

// MARK: - Changing

extension Transaction where Mode == ReadWrite {
    /// The named database `name` as a typed database, created (empty) when missing and `create`
    /// is true.
    public mutating func database<K, V>(_ name: String, of keyType: K.Type, _ valueType: V.Type, create: Bool = true,
                                        coder: any ValueCoder = LarchBinaryCoder()) throws(LarchError) -> TypedDatabase<K, V> {
        TypedDatabase(try openDatabase(name, create: create), coder: coder)
    }

    /// Stores `value` under `key` in `db`, replacing any value there; with `overwrite: false`, an
    /// existing key throws `keyExists` instead.
    public mutating func put<K, V>(_ value: V, for key: K, in db: TypedDatabase<K, V>, overwrite: Bool = true) throws(LarchError) {
        let bytes = try db.coder.encodeTyped(value)
        try put(bytes, forKey: key.encodedKey, in: db.database, overwrite: overwrite)
    }

    /// Deletes `key` from `db`; returns whether it was present.
    @discardableResult
    public mutating func delete<K, V>(_ key: K, in db: TypedDatabase<K, V>) throws(LarchError) -> Bool {
        try delete(key.encodedKey, in: db.database)
    }
}
