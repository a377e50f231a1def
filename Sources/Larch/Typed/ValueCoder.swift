/// How a `TypedDatabase` turns values into bytes and back. `LarchBinaryCoder` is the default;
/// supply your own to store JSON, property lists or any other format:
///
/// ```swift
/// import Foundation
/// struct JSONValueCoder: ValueCoder {
///     func encode<T: Encodable>(_ value: T) throws -> [UInt8] { Array(try JSONEncoder().encode(value)) }
///     func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
///         try JSONDecoder().decode(type, from: Data(bytes))
///     }
/// }
/// let users = try txn.database("users", of: UserID.self, User.self, coder: JSONValueCoder())
/// ```
///
/// A typed database reports a coder's error as `LarchError.invalidValueEncoding` (a
/// `LarchError` it throws passes through unchanged).
public protocol ValueCoder: Sendable {
    /// The bytes that store `value`.
    func encode<T: Encodable>(_ value: T) throws -> [UInt8]
    /// The value that `bytes` (written by `encode`) store.
    func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T
}

/// The default `ValueCoder`: `LarchBinaryEncoder` and `LarchBinaryDecoder` (docs/FORMAT.md §19).
public struct LarchBinaryCoder: ValueCoder {
    public var encoder = LarchBinaryEncoder()
    public var decoder = LarchBinaryDecoder()

    public init() {}

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] { try encoder.encode(value) }

    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T { try decoder.decode(type, from: bytes) }
}

extension ValueCoder {
    /// `encode`, with any error as a `LarchError`.
    func encodeTyped<T: Encodable>(_ value: T) throws(LarchError) -> [UInt8] {
        do { return try encode(value) } catch let e as LarchError { throw e } catch {
            throw .invalidValueEncoding(reason: "\(Self.self) could not encode a \(T.self): \(error)")
        }
    }

    /// `decode`, with any error as a `LarchError`.
    func decodeTyped<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(LarchError) -> T {
        do { return try decode(type, from: bytes) } catch let e as LarchError { throw e } catch {
            throw .invalidValueEncoding(reason: "\(Self.self) could not decode a \(T.self) from \(bytes.count) bytes: \(error)")
        }
    }
}
