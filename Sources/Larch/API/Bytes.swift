/// Calls `body` with the bytes of `c`, without copying when they are already contiguous.
/// Inlinable, like the public entry points that use it, so that a caller's concrete key and value
/// types are specialized in the caller's module instead of going through generic metadata at run time.
@inlinable @inline(__always)
func withBytes<C: Collection<UInt8>, R>(_ c: C, _ body: (UnsafeRawBufferPointer) throws(LarchError) -> R) throws(LarchError) -> R {
    // The error and result leave the closure through locals rather than a `Result` inside the
    // optional that `withContiguousStorageIfAvailable` returns: checking that nested enum's tag
    // stalled on a partial store in every put of a profile.
    var failure: LarchError?
    var result: R?
    let wasContiguous = c.withContiguousStorageIfAvailable { b -> Bool in
        do throws(LarchError) {
            result = try body(UnsafeRawBufferPointer(b))
        } catch {
            failure = error
        }
        return true
    } ?? false
    if wasContiguous {
        if let failure { throw failure }
        return result.unsafelyUnwrapped
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
