/// Calls `body` with the bytes of `c`, without copying when they are already contiguous.
/// Inlinable, like the public entry points that use it, so that a caller's concrete key and value
/// types are specialized in the caller's module instead of going through generic metadata at run time.
@inlinable @inline(__always)
func withBytes<C: Collection<UInt8>, R>(_ c: C, _ body: (UnsafeRawBufferPointer) throws(LarchError) -> R) throws(LarchError) -> R {
    if let r = c.withContiguousStorageIfAvailable({ b in
        Result { () throws(LarchError) -> R in try body(UnsafeRawBufferPointer(b)) }
    }) {
        return try r.get()
    }
    return try Array(c).withUnsafeBytes { b in
        Result { () throws(LarchError) -> R in try body(b) }
    }.get()
}

/// Calls `body` with the UTF-8 bytes of `s`.
@inlinable @inline(__always)
func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) throws(LarchError) -> R) throws(LarchError) -> R {
    var s = s
    return try s.withUTF8 { b in
        Result { () throws(LarchError) -> R in try body(UnsafeRawBufferPointer(b)) }
    }.get()
}
