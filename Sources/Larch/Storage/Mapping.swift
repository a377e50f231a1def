#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only shared mapping of the database file, reserved larger than the file so that the file
/// can grow into it without remapping. Transactions hold the mapping they started with; when the
/// environment outgrows it, a larger one replaces it and the old one is unmapped once the last
/// transaction that uses it has ended.
///
/// Pages are read from here without copying. Only pages below the snapshot's page count, which the
/// file always covers, are ever touched.
final class Mapping: @unchecked Sendable {
    /// Start of the mapping. Immutable after init; the mapped memory is read-only.
    let base: UnsafeRawPointer
    /// Bytes reserved.
    let sizeBytes: Int

    init(file: DataFile, sizeBytes: Int) throws(LarchError) {
        // Map through a descriptor of its own: a mapping keeps its open file description alive, and
        // with it any flock taken on it, so mapping the locked descriptor would keep the file locked
        // after `Environment.close()` for as long as a transaction holds this mapping.
        let fd: FileDescriptor
        do { fd = try FileDescriptor.open(FilePath(file.path), .readOnly, options: [.closeOnExec]) } catch {
            throw DataFile.ioError("open for mmap", file.path, error)
        }
        defer { try? fd.close() }
        guard let p = mmap(nil, sizeBytes, PROT_READ, MAP_SHARED, fd.rawValue, 0), p != MAP_FAILED else {
            throw DataFile.ioError("mmap of \(sizeBytes) bytes", file.path, Errno(rawValue: errno))
        }
        base = UnsafeRawPointer(p)
        self.sizeBytes = sizeBytes
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), sizeBytes) }

    @inline(__always)
    func page(_ number: PageNumber, pageSize: Int) -> UnsafeRawPointer {
        base + Int(number.rawValue) &* pageSize
    }
}

import SystemPackage
