import Foundation
import Testing
@testable import Larch

// Shared helpers for the Larch test suites.

// MARK: - Temporary directories

/// A failure of the test scaffolding itself (not of Larch).
struct TestSupportError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A fresh, uniquely named directory under /tmp, removed when the value is released (or on `remove()`).
///
/// ```swift
/// let dir = try TemporaryDirectory()
/// let env = try Environment(path: dir.file("data.larch"))
/// ```
final class TemporaryDirectory {
    /// The directory's absolute path.
    let path: String
    private var removed = false

    /// Creates `/tmp/<label>-XXXXXX` with `mkdtemp`, so parallel tests never share a directory.
    init(_ label: String = "larch-test") throws {
        let safe = label.map { $0.isLetter || $0.isNumber || $0 == "-" ? $0 : "_" }
        var template = Array("/tmp/\(String(safe))-XXXXXX".utf8CString)
        let made = template.withUnsafeMutableBufferPointer { buf in mkdtemp(buf.baseAddress!) }
        guard made != nil else {
            throw TestSupportError("mkdtemp failed for \(label): errno \(errno)")
        }
        path = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }

    /// The path of `name` inside the directory (the file is not created).
    func file(_ name: String = "data.larch") -> String { path + "/" + name }

    /// Deletes the directory and everything in it. Called automatically when the value is released.
    func remove() {
        guard !removed else { return }
        removed = true
        try? FileManager.default.removeItem(atPath: path)
    }

    deinit { remove() }
}

/// Runs `body` with a fresh temporary directory and removes it afterwards, whatever happens.
func withTemporaryDirectory<R>(_ label: String = "larch-test", _ body: (TemporaryDirectory) throws -> R) throws -> R {
    let dir = try TemporaryDirectory(label)
    defer { dir.remove() }
    return try body(dir)
}

// MARK: - Deterministic randomness

/// SplitMix64: a small, fast, seeded generator. The same seed always yields the same sequence.
struct SeededGenerator: RandomNumberGenerator {
    private(set) var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// `count` pseudo-random bytes.
    mutating func bytes(_ count: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var word = next()
            let n = min(8, count - i)
            for j in 0..<n {
                out[i + j] = UInt8(truncatingIfNeeded: word)
                word >>= 8
            }
            i += n
        }
        return out
    }

    /// True with probability `p`.
    mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
}

/// Test parameters from the environment.
enum TestEnvironment {
    /// `LARCH_SEED` (decimal or 0x-prefixed hex) when set, else `defaultSeed`.
    static func seed(default defaultSeed: UInt64) -> UInt64 {
        guard let s = ProcessInfo.processInfo.environment["LARCH_SEED"]?.trimmingCharacters(in: .whitespaces), !s.isEmpty else {
            return defaultSeed
        }
        if s.lowercased().hasPrefix("0x"), let v = UInt64(s.dropFirst(2), radix: 16) { return v }
        return UInt64(s) ?? defaultSeed
    }

    /// `LARCH_TEST_SCALE`: a positive integer multiplier for randomized test lengths (default 1).
    static var scale: Int {
        guard let s = ProcessInfo.processInfo.environment["LARCH_TEST_SCALE"], let v = Int(s), v >= 1 else { return 1 }
        return v
    }
}

// MARK: - Checking

/// Runs the structural checker on the current snapshot and records an issue with the full report
/// when it finds any problem. Returns the report.
@discardableResult
func assertClean(_ env: Environment, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> CheckReport {
    let report = try env.check()
    if !report.isClean {
        let prefix = comment.map { "\($0.rawValue): " } ?? ""
        Issue.record("\(prefix)checker found problems in \(env.path):\n\(report)", sourceLocation: sourceLocation)
    }
    return report
}

// MARK: - Bytes

/// The UTF-8 bytes of `s`.
func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

/// A short printable description of a byte string: its length and (the start of) its hex.
func hexDescription(_ b: some Collection<UInt8>, limit: Int = 24) -> String {
    let shown = b.prefix(limit).map { String(format: "%02x", $0) }.joined()
    return "\(b.count)B:\(shown)\(b.count > limit ? "…" : "")"
}

/// Byte-wise lexicographic comparison (negative, zero or positive), the order of keys in a
/// database. Uses `memcmp`: the generic `lexicographicallyPrecedes` is slow in debug builds.
func compareKeys(_ a: [UInt8], _ b: [UInt8]) -> Int {
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            let n = min(pa.count, pb.count)
            let c = n == 0 ? 0 : memcmp(pa.baseAddress!, pb.baseAddress!, n)
            return c != 0 ? Int(c) : pa.count - pb.count
        }
    }
}

/// Whether two byte strings (or two absences) are equal, compared with `memcmp`.
func equalBytes(_ a: [UInt8]?, _ b: [UInt8]?) -> Bool {
    switch (a, b) {
    case (nil, nil): return true
    case let (x?, y?): return x.count == y.count && compareKeys(x, y) == 0
    default: return false
    }
}

/// Byte-wise lexicographic order, the order of keys in a database.
func keyPrecedes(_ a: [UInt8], _ b: [UInt8]) -> Bool { compareKeys(a, b) < 0 }
