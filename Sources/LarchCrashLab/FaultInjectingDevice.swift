import Larch
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A storage device that passes every operation to another one, except the ones it is told to fail:
/// the N-th write, sync, resize or map (counted from 1 since the device was made), each failing with
/// an I/O error as a full disk or a failed `mmap` would.
package final class FaultInjectingDevice: StorageDevice {
    /// The kinds of operation that can be made to fail.
    package enum Operation: String, Sendable, CaseIterable {
        case write, sync, resize, map
    }

    private let base: any StorageDevice
    private struct State {
        var counts: [Operation: Int] = [:]
        var failing: [Operation: Set<Int>] = [:]
        var failed: [String] = []
    }
    private let state = Mutex(State())

    package init(_ base: any StorageDevice) { self.base = base }

    /// Makes the `ordinal`-th operation of `kind`, counted from 1 since the device was made, fail.
    package func fail(_ kind: Operation, at ordinal: Int) {
        state.withLock { s in _ = s.failing[kind, default: []].insert(ordinal) }
    }

    /// Makes the next operation of `kind` fail.
    package func failNext(_ kind: Operation) {
        state.withLock { s in _ = s.failing[kind, default: []].insert(s.counts[kind, default: 0] + 1) }
    }

    /// How many operations of `kind` were attempted so far.
    package func count(_ kind: Operation) -> Int { state.withLock { $0.counts[kind, default: 0] } }

    /// The operations that were made to fail, in order (e.g. "map #3").
    package var failures: [String] { state.withLock { $0.failed } }

    private func check(_ kind: Operation) throws(LarchError) {
        let fails = state.withLock { s in
            s.counts[kind, default: 0] += 1
            let n = s.counts[kind]!
            guard s.failing[kind]?.contains(n) == true else { return false }
            s.failed.append("\(kind.rawValue) #\(n)")
            return true
        }
        if fails {
            throw LarchError.io(operation: "\(kind.rawValue) (injected fault)", path: base.path, errno: EIO, message: "injected failure")
        }
    }

    package var path: String { base.path }
    package func size() throws(LarchError) -> Int { try base.size() }
    package func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws(LarchError) {
        try base.read(into: buffer, at: offset)
    }
    package func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        try check(.write)
        try checkSpace(upTo: offset + buffer.count)
        try base.write(buffer, at: offset)
    }
    package func write(vectors: UnsafeMutableBufferPointer<iovec>, at offset: Int) throws(LarchError) {
        try check(.write)
        try checkSpace(upTo: offset + vectors.reduce(0) { $0 + $1.iov_len })
        try base.write(vectors: vectors, at: offset)
    }
    package func sync() throws(LarchError) {
        try check(.sync)
        let delay = syncDelayMicroseconds.load(ordering: .relaxed)
        if delay > 0 { usleep(UInt32(delay)) }   // a disk whose flush takes time, for group-commit tests
        try base.sync()
    }

    /// How long each sync takes, in microseconds (0: no delay).
    package let syncDelayMicroseconds = Atomic<Int>(0)
    package func writeDurably(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws(LarchError) {
        try check(.write)
        try check(.sync)
        try base.writeDurably(buffer, at: offset)
    }
    package func resize(to size: Int) throws(LarchError) {
        try check(.resize)
        try base.resize(to: size)
    }

    /// The most bytes the disk holds for the file: a write past it, or a growth that writes zeros
    /// past it, fails with ENOSPC, as on a full disk (the size itself may be set past it, as
    /// `ftruncate` does). Unlimited by default.
    package let capacityBytes = Atomic<Int>(.max)

    package func grow(to size: Int, writingZerosFrom start: Int) throws(LarchError) {
        try resize(to: size)
        if start < size { try checkSpace(upTo: size) }
    }

    private func checkSpace(upTo end: Int) throws(LarchError) {
        guard end > capacityBytes.load(ordering: .relaxed) else { return }
        throw LarchError.io(operation: "pwrite", path: base.path, errno: ENOSPC, message: "No space left on device (simulated)")
    }
    package func map(sizeBytes: Int) throws(LarchError) -> Mapping {
        try check(.map)
        return try base.map(sizeBytes: sizeBytes)
    }
    package func close() { base.close() }
}
