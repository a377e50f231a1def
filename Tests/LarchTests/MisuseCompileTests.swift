import Foundation
import Testing

// Issue 10: misuse that Swift can reject must not compile. Each snippet is compiled to SIL against the
// Larch module this test run built (`swiftc -emit-sil`: lifetime and data-race checks run on SIL, so
// `-typecheck` alone would accept escaping spans), and must fail with the expected diagnostic;
// a correct snippet must pass, so that a broken set-up cannot make every snippet "fail".
//
// What Swift cannot check stays a typed run-time error: a cursor or `Entries` used after its
// transaction ended (`transactionEnded`), a change through a write cursor inside a view (`viewInUse`),
// a cursor of a write transaction used while a nested transaction of it is open (`nestedTransactionOpen`).
@Suite struct MisuseCompileTests {
    /// Paths of the package and of the modules `swift build` made for this test run.
    private struct BuildPaths {
        let modules: String
        let moduleMaps: [String]

        init() throws {
            let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            let debug = root.appendingPathComponent(".build/debug").path
            modules = debug + "/Modules"
            moduleMaps = [debug + "/CLarchSupport.build/module.modulemap",
                          root.appendingPathComponent(".build/checkouts/swift-system/Sources/CSystem/include/module.modulemap").path,
                          root.appendingPathComponent(".build/checkouts/swift-atomics/Sources/_AtomicsShims/include/module.modulemap").path]
            for p in [modules + "/Larch.swiftmodule"] + moduleMaps where !FileManager.default.fileExists(atPath: p) {
                throw TestSupportError("missing \(p): run the tests through `swift test` (debug build)")
            }
        }
    }

    /// Compiles `source` against Larch through the SIL diagnostics; returns the exit status and the
    /// compiler's output.
    private func typecheck(_ source: String, paths: BuildPaths, in dir: TemporaryDirectory) throws -> (Int32, String) {
        let file = dir.file("snippet-\(UUID().uuidString).swift")
        try ("import Larch\n" + source).write(toFile: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["swiftc", "-emit-sil", "-o", "/dev/null", "-swift-version", "6", file, "-I", paths.modules]
            + paths.moduleMaps.flatMap { ["-Xcc", "-fmodule-map-file=\($0)"] }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
    }

    /// Misuse, and a phrase the compiler's error must contain.
    static let misuse: [(name: String, source: String, diagnostic: String)] = [
        ("put through a read transaction", """
            func f(_ env: Environment) throws { var t = try env.beginRead(); try t.put("v", forKey: "k") }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("delete through a read transaction", """
            func f(_ env: Environment) throws { var t = try env.beginRead(); _ = try t.delete("k") }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("create a database in a read transaction", """
            func f(_ env: Environment) throws { var t = try env.beginRead(); _ = try t.openDatabase("d", create: true) }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("clear through a read transaction", """
            func f(_ env: Environment) throws { var t = try env.beginRead(); try t.clear() }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("commit a read transaction", """
            func f(_ env: Environment) throws { let t = try env.beginRead(); _ = try t.commit() }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("put through a cursor of a read transaction", """
            func f(_ env: Environment) throws { let t = try env.beginRead(); try t.cursor().put([1], forKey: [1]) }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("delete through a cursor of a read transaction", """
            func f(_ env: Environment) throws { try env.read { t in try t.cursor().delete() } }
            """, "requires the types 'ReadOnly' and 'ReadWrite' be equivalent"),
        ("use a write transaction after commit", """
            func f(_ env: Environment) throws { var t = try env.beginWrite(); try t.commit(); try t.put("v", forKey: "k") }
            """, "used after consume"),
        ("use a write transaction after abort", """
            func f(_ env: Environment) throws { let t = try env.beginWrite(); t.abort(); _ = try t.get("k") }
            """, "used after consume"),
        ("use a read transaction after abort", """
            func f(_ env: Environment) throws { let t = try env.beginRead(); t.abort(); _ = try t.get("k") }
            """, "used after consume"),
        ("commit inside Environment.write", """
            func f(_ env: Environment) throws { try env.write { t in try t.commit() } }
            """, "consumed"),
        ("copy a transaction", """
            func f(_ env: Environment) throws { let t = try env.beginRead(); let u = t; _ = try t.get("k"); _ = try u.get("k") }
            """, "used after consume"),
        ("put inside a view of the same transaction", """
            func f(_ env: Environment) throws {
                try env.write { t in
                    _ = try t.withValue(forKey: Array("k".utf8)) { _ in try t.put("v", forKey: "k") }
                }
            }
            """, "overlapping accesses"),
        ("delete inside forEach of the same transaction", """
            func f(_ env: Environment) throws {
                var t = try env.beginWrite()
                try t.forEach { key, _ in _ = try t.delete("k"); return true }
                try t.commit()
            }
            """, "overlapping accesses"),
        ("abort inside a view of the same transaction", """
            func f(_ env: Environment) throws {
                let t = try env.beginRead()
                _ = try t.withValue(forKey: Array("k".utf8)) { _ in t.abort() }
            }
            """, "consumed"),
        ("keep a value's span after withValue", """
            func f(_ env: Environment) throws {
                let t = try env.beginRead()
                var kept: RawSpan? = nil
                _ = try t.withValue(forKey: Array("k".utf8)) { span in kept = span }
                _ = kept
            }
            """, "escapes its scope"),
        ("keep a key's span after forEach", """
            func f(_ env: Environment) throws {
                let t = try env.beginRead()
                var kept: RawSpan? = nil
                try t.forEach { key, _ in kept = key; return false }
                _ = kept
            }
            """, "escapes its scope"),
        ("keep a cursor's span after withCurrent", """
            func f(_ env: Environment) throws {
                let c = try env.beginRead().cursor()
                var kept: RawSpan? = nil
                _ = try c.withCurrent { _, value in kept = value }
                _ = kept
            }
            """, "escapes its scope"),
        ("use a transaction from another task", """
            func f(_ env: Environment) async throws {
                let t = try env.beginRead()
                Task.detached { _ = try? t.get("k") }
                _ = try t.get("k")
            }
            """, "risks causing data races"),
        ("use the parent inside its nested transaction", """
            func f(_ env: Environment) throws { var t = try env.beginWrite(); try t.nested { c in try t.put("v", forKey: "k") }; try t.commit() }
            """, "overlapping accesses"),
        ("commit a nested transaction by hand", """
            func f(_ env: Environment) throws { try env.write { t in try t.nested { c in try c.commit() } } }
            """, "after consume"),
        ("abort a nested transaction by hand (throw instead)", """
            func f(_ env: Environment) throws { try env.write { t in try t.nested { c in c.abort() } } }
            """, "after consume"),
        ("a nested transaction inside a view of its parent", """
            func f(_ env: Environment) throws {
                var t = try env.beginWrite()
                try t.forEach { _, _ in try t.nested { c in try c.put("v", forKey: "k") }; return true }
                try t.commit()
            }
            """, "overlapping accesses"),
        ("iterate entries with a plain for loop (errors would end it silently)", """
            func f(_ env: Environment) throws { try env.read { t in for _ in try t.entries() {} } }
            """, "conform to 'Sequence'"),
    ]

    @Test func misuseDoesNotCompile() throws {
        let paths = try BuildPaths()
        let dir = try TemporaryDirectory("misuse")
        let control = try typecheck("""
            func f(_ env: Environment) throws {
                try env.write { txn in try txn.put("v", forKey: "k") }
                var w = try env.beginWrite()
                let c = try w.cursor()
                try c.put([2], forKey: [2])
                try w.put("v", forKey: "k")
                try w.nested { c in try c.put("v", forKey: "k"); try c.nested { g in try g.put("w", forKey: "k") } }
                _ = try w.withValue(forKey: Array("k".utf8)) { span in span.byteCount }
                try w.commit()
                let t = try env.beginRead()
                let n = try t.withValue(forKey: Array("k".utf8)) { span in span.byteCount }
                var entries = try t.entries()
                while let (k, v) = try entries.next() { _ = (k, v) }
                t.abort()
                _ = n
            }
            """, paths: paths, in: dir)
        try #require(control.0 == 0, "the correct snippet must compile:\n\(control.1)")
        for m in Self.misuse {
            let (status, output) = try typecheck(m.source, paths: paths, in: dir)
            #expect(status != 0, "\(m.name): compiled, but must not")
            #expect(output.contains(m.diagnostic), "\(m.name): expected a diagnostic containing \"\(m.diagnostic)\":\n\(output)")
        }
        #expect(Self.misuse.count >= 8)
    }
}
