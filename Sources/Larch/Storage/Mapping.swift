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
package final class Mapping: @unchecked Sendable {
    /// Start of the mapping. Immutable after init; the mapped memory is read-only.
    let base: UnsafeRawPointer
    /// Bytes reserved.
    let sizeBytes: Int

    private let release: @Sendable (UnsafeRawPointer, Int) -> Void

    /// A view of `sizeBytes` bytes at `base`; `release` is called once when the last user is done.
    package init(base: UnsafeRawPointer, sizeBytes: Int, release: @escaping @Sendable (UnsafeRawPointer, Int) -> Void) {
        self.base = base
        self.sizeBytes = sizeBytes
        self.release = release
    }

    /// Maps the file open on `fd` read-only and shared (`path` names it in errors).
    static func map(descriptor fd: Int32, path: String, sizeBytes: Int) throws(LarchError) -> Mapping {
        guard let p = mmap(nil, sizeBytes, PROT_READ, MAP_SHARED, fd, 0), p != MAP_FAILED else {
            throw DataFile.ioError("mmap of \(sizeBytes) bytes", path, Errno(rawValue: errno))
        }
        return Mapping(base: UnsafeRawPointer(p), sizeBytes: sizeBytes) { base, size in
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }

    deinit { release(base, sizeBytes) }

    @inline(__always)
    func page(_ number: PageNumber, pageSize: Int) -> UnsafeRawPointer {
        Self.page(number, in: base, pageSize: pageSize)
    }

    /// The address of page `number` in a mapping that starts at `base`.
    @inline(__always)
    static func page(_ number: PageNumber, in base: UnsafeRawPointer, pageSize: Int) -> UnsafeRawPointer {
        base + Int(number.rawValue) &* pageSize
    }
}

import SystemPackage
