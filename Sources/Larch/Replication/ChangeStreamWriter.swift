/// Writes a change stream (`ChangeStreamFormat`) to an output, buffered, keeping the running
/// checksum and the record count for the end record.
struct ChangeStreamWriter {
    private var buffer: [UInt8] = []
    private var crc: UInt32 = 0
    private(set) var records: UInt64 = 0
    private(set) var bytes: UInt64 = 0
    private let output: (UnsafeRawBufferPointer) throws -> Void

    init(output: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.output = output
        buffer.reserveCapacity(1 << 20)
    }

    mutating func header(_ h: ChangeStreamHeader) throws { try append(h.encoded) }

    mutating func select(_ name: [UInt8]?) throws {
        records += 1
        if let name {
            var r: [UInt8] = [ChangeStreamFormat.Kind.select.rawValue, 1]
            r.appendLE(UInt16(name.count))
            try append(r + name)
        } else {
            try append([ChangeStreamFormat.Kind.select.rawValue, 0])
        }
    }

    mutating func put(key: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) throws {
        try beginKeyedRecord(.put, key: key)
        var r: [UInt8] = []
        r.appendLE(UInt32(value.count))
        try append(r)
        try append(value)
    }

    /// Counts a record and writes its kind byte, the key's length and the key: how put, delete
    /// and duplicate-set records begin.
    private mutating func beginKeyedRecord(_ kind: ChangeStreamFormat.Kind, key: UnsafeRawBufferPointer) throws {
        records += 1
        var r: [UInt8] = [kind.rawValue]
        r.appendLE(UInt32(key.count))
        try append(r)
        try append(key)
    }

    /// A key's values in a sorted-duplicates database, replacing all it had.
    mutating func putDuplicates(key: UnsafeRawBufferPointer, values: [[UInt8]]) throws {
        try beginKeyedRecord(.putDuplicates, key: key)
        var r: [UInt8] = []
        r.appendLE(UInt32(values.count))
        for v in values {
            r.appendLE(UInt16(v.count))
            r += v
            if r.count >= 1 << 16 {
                try append(r)
                r.removeAll(keepingCapacity: true)
            }
        }
        try append(r)
    }

    mutating func delete(key: UnsafeRawBufferPointer) throws {
        try beginKeyedRecord(.delete, key: key)
    }

    mutating func database(_ kind: ChangeStreamFormat.Kind, _ name: [UInt8]) throws {
        records += 1
        var r: [UInt8] = [kind.rawValue]
        r.appendLE(UInt16(name.count))
        try append(r + name)
    }

    /// The end record, then everything out.
    mutating func end() throws {
        var r: [UInt8] = [ChangeStreamFormat.Kind.end.rawValue]
        r.appendLE(records)
        try append(r)
        var c: [UInt8] = []
        c.appendLE(crc)
        buffer += c
        bytes += 4
        try flush()
    }

    private mutating func append(_ b: [UInt8]) throws {
        try b.withUnsafeBytes { try append($0) }
    }

    private mutating func append(_ b: UnsafeRawBufferPointer) throws {
        guard let base = b.baseAddress, b.count > 0 else { return }
        crc = CRC32C.checksum(continuing: crc, base, count: b.count)
        bytes += UInt64(b.count)
        if b.count >= 1 << 20 {
            try flush()
            try output(b)
            return
        }
        buffer.append(contentsOf: b)
        if buffer.count >= 1 << 20 { try flush() }
    }

    private mutating func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try output($0) }
        buffer.removeAll(keepingCapacity: true)
    }
}
