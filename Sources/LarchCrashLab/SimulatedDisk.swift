import Larch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A disk with a volatile write cache, for crash testing.
///
/// Reads (and the engine's memory map) see every write at once, as the operating system's page
/// cache would. What survives a crash is decided afterwards: the disk records every operation, and
/// `CrashImage` builds the bytes a crash right after any operation could leave — writes since the
/// last sync lost, kept, applied out of order, or torn at 512-byte sectors.
package final class SimulatedDisk: StorageDevice, @unchecked Sendable {
    /// One recorded operation.
    package enum Operation: Sendable {
        case write(offset: Int, bytes: [UInt8])
        case sync
        case resize(Int)
    }

    package let path: String
    /// The most bytes the disk holds; also the size of the read view.
    package let capacity: Int
    private let cache: UnsafeMutableRawPointer
    private struct State {
        var size: Int
        var log: [Operation] = []
        var recording: Bool
    }
    private let state: Mutex<State>
    /// Set to make the next operations fail (for I/O error tests).
    package let failWrites = Atomic<Bool>(false)

    /// A disk holding `image`, recording operations from now on.
    package init(path: String = "simulated.larch", capacity: Int = 256 << 20, image: [UInt8] = [], recording: Bool = true) {
        self.path = path
        self.capacity = capacity
        guard let p = mmap(nil, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), p != MAP_FAILED else {
            fatalError("SimulatedDisk: cannot reserve \(capacity) bytes")
        }
        cache = p
        precondition(image.count <= capacity)
        image.withUnsafeBytes { if $0.count > 0 { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) } }
        state = Mutex(State(size: image.count, recording: recording))
    }

    deinit { munmap(cache, capacity) }

    /// Every operation recorded so far.
    package var log: [Operation] { state.withLock { $0.log } }
    /// The number of operations recorded so far.
    package var operationCount: Int { state.withLock { $0.log.count } }
    /// The current (cached) contents.
    package var contents: [UInt8] {
        state.withLock { s in Array(UnsafeRawBufferPointer(start: cache, count: s.size)) }
    }

    private func failure(_ op: String) -> LarchError {
        .io(operation: op, path: path, errno: EIO, message: "simulated I/O error")
    }

    package func size() throws(LarchError) -> Int { state.withLock { $0.size } }

    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(LarchError) {
        state.withLock { s in
            let available = max(0, min(buffer.count, s.size - offset))
            if available > 0 { buffer.baseAddress!.copyMemory(from: cache + offset, byteCount: available) }
            if available < buffer.count {
                (buffer.baseAddress! + available).initializeMemory(as: UInt8.self, repeating: 0, count: buffer.count - available)
            }
        }
    }

    package func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        if failWrites.load(ordering: .relaxed) { throw failure("pwrite") }
        guard offset + buffer.count <= capacity else { throw .io(operation: "pwrite", path: path, errno: ENOSPC, message: "simulated disk full") }
        state.withLock { s in
            if buffer.count > 0 { (cache + offset).copyMemory(from: buffer.baseAddress!, byteCount: buffer.count) }
            s.size = max(s.size, offset + buffer.count)
            if s.recording { s.log.append(.write(offset: offset, bytes: Array(buffer))) }
        }
    }

    package func write(vectors: UnsafeMutableBufferPointer<iovec>, at offset: Int) throws(LarchError) {
        var bytes: [UInt8] = []
        for v in vectors { bytes.append(contentsOf: UnsafeRawBufferPointer(start: v.iov_base, count: v.iov_len)) }
        let result = bytes.withUnsafeBytes { b in Result { () throws(LarchError) in try write(b, at: offset) } }
        try result.get()
    }

    package func sync() throws(LarchError) {
        if failWrites.load(ordering: .relaxed) { throw failure("fdatasync") }
        state.withLock { s in if s.recording { s.log.append(.sync) } }
    }

    package func resize(to size: Int) throws(LarchError) {
        guard size <= capacity else { throw .io(operation: "ftruncate", path: path, errno: ENOSPC, message: "simulated disk full") }
        state.withLock { s in
            if size < s.size { (cache + size).initializeMemory(as: UInt8.self, repeating: 0, count: s.size - size) }
            s.size = size
            if s.recording { s.log.append(.resize(size)) }
        }
    }

    package func map(sizeBytes: Int) throws(LarchError) -> Mapping {
        // The view is the cache itself; the mapping keeps the disk alive.
        Mapping(base: UnsafeRawPointer(cache), sizeBytes: min(sizeBytes, capacity)) { [self] _, _ in _ = self }
    }

    package func close() {}
}
