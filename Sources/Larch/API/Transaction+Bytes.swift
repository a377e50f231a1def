// Bytes in and out, the Swift way: every key and value parameter takes a `String` (its UTF-8
// bytes) or any collection of bytes (`[UInt8]`, `ArraySlice<UInt8>`, `ContiguousArray<UInt8>`,
// `UnsafeRawBufferPointer`, Foundation's `Data`, ...), in any mix; reads return the type asked
// for with `as:` (`String`, or any `RangeReplaceableCollection` of bytes: `[UInt8]`, `Data`, ...).
//
// ```swift
// try txn.put(data, forKey: "user:1")                     // Data value, String key
// let name = try txn.get("user:1", as: String.self)       // String?
// let raw = try txn.get(Array("user:1".utf8), as: Data.self)
// var users = try txn.entries(in: db, .prefix("user:"))
// ```
//
// Contiguous collections (arrays, slices, `Data`, strings) are passed without a copy. A string
// literal always means its UTF-8 bytes; an array literal, bytes.

// MARK: Reading

extension Transaction {
    /// The value under `key`, decoded as UTF-8 (invalid sequences become U+FFFD), or nil.
    @inlinable
    public func get(_ key: some Collection<UInt8>, as type: String.Type, in db: Database = .main) throws(LarchError) -> String? {
        try checkedRead { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in
                try valueBytes(forKey: k, in: db).map { String(decoding: $0, as: UTF8.self) }
            }
        }
    }

    /// The value under the UTF-8 bytes of `key`, decoded as UTF-8, or nil.
    @inlinable
    public func get(_ key: String, as type: String.Type, in db: Database = .main) throws(LarchError) -> String? {
        try checkedRead { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in
                try valueBytes(forKey: k, in: db).map { String(decoding: $0, as: UTF8.self) }
            }
        }
    }

    /// A copy of the value under `key` as a `V` (`[UInt8]`, `ArraySlice<UInt8>`, `Data`, ...), or nil.
    @inlinable
    public func get<V: RangeReplaceableCollection<UInt8>>(_ key: some Collection<UInt8>, as type: V.Type,
                                                          in db: Database = .main) throws(LarchError) -> V? {
        try checkedRead { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db).map { V($0) } }
        }
    }

    /// A copy of the value under the UTF-8 bytes of `key` as a `V` (`[UInt8]`, `Data`, ...), or nil.
    @inlinable
    public func get<V: RangeReplaceableCollection<UInt8>>(_ key: String, as type: V.Type,
                                                          in db: Database = .main) throws(LarchError) -> V? {
        try checkedRead { () throws(LarchError) in
            try withBytes(key) { k throws(LarchError) in try valueBytes(forKey: k, in: db).map { V($0) } }
        }
    }

    /// `withValue(forKey:in:_:)` for the UTF-8 bytes of `key`.
    @inlinable
    public func withValue<R>(forKey key: String, in db: Database = .main,
                             _ body: (RawSpan) throws -> R) throws -> R? {
        try checkedView {
            guard let b = try withBytes(key, { k throws(LarchError) in try valueBytes(forKey: k, in: db) }) else { return nil }
            return try lendingView { try body(b.bytes) }
        }
    }
}

// MARK: Changing

extension Transaction where Mode == ReadWrite {
    /// Stores the UTF-8 bytes of `value` under `key`.
    @inlinable
    public mutating func put(_ value: String, forKey key: some Collection<UInt8>, in db: Database = .main,
                             overwrite: Bool = true) throws(LarchError) {
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try putBytes(v, forKey: k, in: db, overwrite: overwrite) }
        }
    }

    /// Stores `value` under the UTF-8 bytes of `key`.
    @inlinable
    public mutating func put(_ value: some Collection<UInt8>, forKey key: String, in db: Database = .main,
                             overwrite: Bool = true) throws(LarchError) {
        try withBytes(key) { k throws(LarchError) in
            try withBytes(value) { v throws(LarchError) in try putBytes(v, forKey: k, in: db, overwrite: overwrite) }
        }
    }
}

// MARK: Cursors

extension Cursor {
    /// Moves to the UTF-8 bytes of `key` if present; returns false (and leaves the cursor on the next key) if not.
    @discardableResult
    public func seek(to key: String) throws(LarchError) -> Bool {
        try seek(to: key.utf8)
    }

    /// Moves to the first entry whose key is `≥` the UTF-8 bytes of `key`.
    @discardableResult
    public func seek(atLeast key: String) throws(LarchError) -> Bool {
        try seek(atLeast: key.utf8)
    }

    /// A copy of the current key as a `V` (`[UInt8]`, `Data`, ...), or nil when the cursor is not on an entry.
    public func key<V: RangeReplaceableCollection<UInt8>>(as type: V.Type) throws(LarchError) -> V? {
        try key.map { V($0) }
    }

    /// The current key decoded as UTF-8, or nil when the cursor is not on an entry.
    public func key(as type: String.Type) throws(LarchError) -> String? {
        try key.map { String(decoding: $0, as: UTF8.self) }
    }

    /// A copy of the current value as a `V` (`[UInt8]`, `Data`, ...), or nil when the cursor is not on an entry.
    public func value<V: RangeReplaceableCollection<UInt8>>(as type: V.Type) throws(LarchError) -> V? {
        try value.map { V($0) }
    }

    /// The current value decoded as UTF-8, or nil when the cursor is not on an entry.
    public func value(as type: String.Type) throws(LarchError) -> String? {
        try value.map { String(decoding: $0, as: UTF8.self) }
    }
}

extension Cursor where Mode == ReadWrite {
    /// Stores the UTF-8 bytes of `value` under those of `key` and moves the cursor to it.
    public func put(_ value: String, forKey key: String) throws(LarchError) {
        try put(value.utf8, forKey: key.utf8)
    }

    /// Stores the UTF-8 bytes of `value` under `key` and moves the cursor to it.
    public func put(_ value: String, forKey key: some Collection<UInt8>) throws(LarchError) {
        try put(value.utf8, forKey: key)
    }

    /// Stores `value` under the UTF-8 bytes of `key` and moves the cursor to it.
    public func put(_ value: some Collection<UInt8>, forKey key: String) throws(LarchError) {
        try put(value, forKey: key.utf8)
    }
}

// MARK: Keys in ranges and prefixes

extension ByteKey {
    /// The bytes of any collection of bytes (`ArraySlice<UInt8>`, `Data`, ...).
    @inlinable
    public init(_ bytes: some Collection<UInt8>) { self.init(Array(bytes)) }

    /// The UTF-8 bytes of `string`.
    @inlinable
    public init(_ string: Substring) { self.init(Array(string.utf8)) }
}

/// A key end of a range: `String` (its UTF-8 bytes), `Substring`, `[UInt8]`, `ArraySlice<UInt8>`,
/// `ContiguousArray<UInt8>` or `ByteKey`, so that the two ends of a `KeyRange` can be of different
/// types: `KeyRange(from: "user:", upTo: bytes)`. Other byte collections (`Data`): `ByteKey(data)`.
public protocol ByteKeyConvertible {
    /// The key's bytes.
    var byteKey: ByteKey { get }
}

extension ByteKey: ByteKeyConvertible { public var byteKey: ByteKey { self } }
extension String: ByteKeyConvertible { public var byteKey: ByteKey { ByteKey(self) } }
extension Substring: ByteKeyConvertible { public var byteKey: ByteKey { ByteKey(self) } }
extension Array: ByteKeyConvertible where Element == UInt8 { public var byteKey: ByteKey { ByteKey(self) } }
extension ArraySlice: ByteKeyConvertible where Element == UInt8 { public var byteKey: ByteKey { ByteKey(Array(self)) } }
extension ContiguousArray: ByteKeyConvertible where Element == UInt8 { public var byteKey: ByteKey { ByteKey(Array(self)) } }

extension KeyRange {
    /// Keys that start with the UTF-8 bytes of `prefix`: `.prefix("user:")`.
    public static func prefix(_ prefix: String) -> KeyRange {
        KeyRange.prefix(prefix.utf8)
    }

    /// Keys from `lower` (included) to `upper` (excluded), the ends of any mix of key types.
    public init(from lower: some ByteKeyConvertible, upTo upper: some ByteKeyConvertible) {
        self.init(lower: .included(lower.byteKey.bytes), upper: .excluded(upper.byteKey.bytes))
    }

    /// Keys from `lower` to `upper`, both included, the ends of any mix of key types.
    public init(from lower: some ByteKeyConvertible, through upper: some ByteKeyConvertible) {
        self.init(lower: .included(lower.byteKey.bytes), upper: .included(upper.byteKey.bytes))
    }

    /// Keys from `lower` (included) on.
    public init(from lower: some ByteKeyConvertible) {
        self.init(lower: .included(lower.byteKey.bytes), upper: .unbounded)
    }
}
