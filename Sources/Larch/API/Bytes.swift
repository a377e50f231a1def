/// Calls `body` with the bytes of `c`, without copying when they are already contiguous.
@inline(__always)
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
@inline(__always)
func withBytes<R>(_ s: String, _ body: (UnsafeRawBufferPointer) throws(LarchError) -> R) throws(LarchError) -> R {
    var s = s
    return try s.withUTF8 { b in
        Result { () throws(LarchError) -> R in try body(UnsafeRawBufferPointer(b)) }
    }.get()
}
