#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The file a copy is written to: created new (never over an existing file), filled page by page
/// in increasing order through a write buffer, and finished by syncing the pages, writing both meta
/// pages and syncing again — so a copy interrupted at any point has no valid meta and is never
/// mistaken for a database. `discard()` removes an unfinished copy.
final class CopyDestination {
    let path: String
    let pageSize: Int
    private let file: DataFile
    private let buffer: UnsafeMutableRawBufferPointer
    private var buffered = 0
    /// The page the first buffered byte belongs to.
    private var bufferStart: UInt64 = 2
    /// Pages appended so far, counting the two meta pages (which are written last).
    private(set) var pageCount: UInt64 = 2
    private(set) var bytesWritten = 0
    private var closed = false

    /// Creates `path`, which must not exist.
    init(path: String, pageSize: Int) throws(LarchError) {
        self.path = path
        self.pageSize = pageSize
        file = try DataFile.createNew(path: path)
        buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(pageSize, 1 << 20) / pageSize * pageSize, alignment: 4096)
    }

    deinit {
        buffer.deallocate()
        file.close()
    }

    /// A zeroed page-size scratch area in the write buffer for page `pageCount`, to be filled by
    /// the caller before the next call. The page is counted as written.
    func appendPage() throws(LarchError) -> UnsafeMutableRawPointer {
        if buffered + pageSize > buffer.count { try flush() }
        let p = buffer.baseAddress! + buffered
        p.initializeMemory(as: UInt8.self, repeating: 0, count: pageSize)
        buffered += pageSize
        pageCount += 1
        return p
    }

    /// Appends `count` whole pages copied from `source`.
    func append(pages source: UnsafeRawPointer, count: Int) throws(LarchError) {
        var done = 0
        while done < count {
            if buffered + pageSize > buffer.count { try flush() }
            let n = min(count - done, (buffer.count - buffered) / pageSize)
            (buffer.baseAddress! + buffered).copyMemory(from: source + done * pageSize, byteCount: n * pageSize)
            buffered += n * pageSize
            pageCount += UInt64(n)
            done += n
        }
    }

    private func flush() throws(LarchError) {
        guard buffered > 0 else { return }
        try write(UnsafeRawBufferPointer(start: buffer.baseAddress, count: buffered), at: Int(bufferStart) * pageSize)
        bufferStart += UInt64(buffered / pageSize)
        buffered = 0
    }

    private func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        try file.write(bytes, at: offset)
        bytesWritten += bytes.count
    }

    /// Syncs the pages, then writes `meta` into both meta pages (so that either can be opened)
    /// and syncs again.
    func finish(meta: MetaPage) throws(LarchError) {
        try flush()
        try file.sync()
        let metas = UnsafeMutableRawBufferPointer.allocate(byteCount: 2 * pageSize, alignment: 4096)
        defer { metas.deallocate() }
        metas.initializeMemory(as: UInt8.self, repeating: 0)
        meta.encode(to: metas.baseAddress!)
        meta.encode(to: metas.baseAddress! + pageSize)
        try write(UnsafeRawBufferPointer(metas), at: 0)
        try file.sync()
        closed = true
        file.close()
    }

    /// Closes and removes an unfinished copy.
    func discard() {
        if !closed {
            closed = true
            file.close()
            unlink(path)
        }
    }
}
