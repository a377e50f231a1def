import Foundation
import Testing
import Larch

/// TransactionsAndConcurrency.md, "Actors": main-actor state changed by an async write.
@MainActor final class Counter {
    let env: Environment
    var shown = 0
    init(env: Environment) { self.env = env }

    func increment() async throws {
        shown = try await env.write { txn in
            let next = (try txn.getString("count").flatMap { Int($0) } ?? 0) + 1
            try txn.put(String(next), forKey: "count")
            return next
        }
    }
}

/// Every Swift snippet of the DocC catalog (Sources/Larch/Larch.docc) is here, verbatim, in code
/// that compiles and runs; `everySnippetIsHere` fails when an article's snippet is not.
@Suite struct DocCSnippetTests {
    @Test func overviewAndGettingStarted() throws {
        let dir = try TemporaryDirectory("docc-start")
        let path = dir.file()
        do {
            let env = try Environment(path: path)
            try env.write { txn in
                try txn.put("Ada Lovelace", forKey: "user:1")
            }
            let name = try env.read { txn in try txn.getString("user:1") }
            #expect(name == "Ada Lovelace")
        }
        let env = try Environment(path: path)
        try env.write { txn in
            try txn.put("Ada Lovelace", forKey: "user:1")
            let tags = try txn.openDatabase("tags", create: true)
            try txn.put(Array("math".utf8), forKey: Array("user:1".utf8), in: tags)
        }
        let length = try env.read { txn in
            try txn.withValue(forKey: Array("user:1".utf8)) { $0.byteCount }
        }
        #expect(length == 12)
        let report = try env.check()
        assert(report.isClean)
        #expect(report.isClean)
    }

    @Test func transactionsAndDurability() throws {
        let dir = try TemporaryDirectory("docc-txn")
        let path = dir.file()
        let env = try Environment(path: path)
        var txn = try env.beginWrite()
        try txn.put("x", forKey: "y")
        let stats = try txn.commit()
        #expect(stats.pagesWritten >= 1)
        env.close()
        let fast = try Environment(path: path, options: Options(durability: .noSync))
        #expect(try fast.read { try $0.getString("y") } == "x")
        fast.close()
        var options = Options()
        options.maxDirtyBytes = 64 << 20   // bound a bulk load to about 64 MiB of changed pages
        #expect(try Environment(path: path, options: options).read { try $0.getString("y") } == "x")
    }

    @Test func asyncWrite() async throws {
        let dir = try TemporaryDirectory("docc-async")
        let env = try Environment(path: dir.file())
        try await env.write { txn in
            try txn.put("Grace Hopper", forKey: "user:2")
        }
        let name = try await env.read { txn in try txn.getString("user:2") }
        #expect(name == "Grace Hopper")
    }

    private struct OutOfStock: Error {}

    @Test func nestedTransactions() throws {
        let dir = try TemporaryDirectory("docc-nested")
        let env = try Environment(path: dir.file())
        try env.write { txn in try txn.put("in stock", forKey: "stock:42") }
        try env.write { txn in
            try txn.put("pending", forKey: "order:7")
            do {
                try txn.nested { child in
                    try child.put("reserved", forKey: "stock:42")
                    guard try child.get("stock:43") != nil else { throw OutOfStock() }
                    try child.put("reserved", forKey: "stock:43")
                }
            } catch is OutOfStock {
                try txn.put("backordered", forKey: "order:7")   // stock:42 is not reserved
            }
        }
        #expect(try env.read { txn in try txn.getString("order:7") } == "backordered")
        #expect(try env.read { txn in try txn.getString("stock:42") } == "in stock")
    }

    @Test func nestedTransactionsAsync() async throws {
        let dir = try TemporaryDirectory("docc-nested-async")
        let env = try Environment(path: dir.file())
        try await env.write { txn in
            let saved = try await txn.nested { child in
                try child.put("draft", forKey: "doc:1")
                await Task.yield()
                return try child.getString("doc:1")
            }
            print(saved ?? "")
        }
        #expect(try await env.read { txn in try txn.getString("doc:1") } == "draft")
    }

    @Test func snapshotsAndSpace() throws {
        let dir = try TemporaryDirectory("docc-snapshots")
        let env = try Environment(path: dir.file(), options: Options(durability: .noSync))
        try env.write { txn in try txn.put("Ada", forKey: "user:1") }
        try env.createSnapshot("nightly")
        let old = try env.read(snapshot: "nightly") { txn in try txn.getString("user:1") }
        for s in try env.snapshots() { print(s.name, s.referencedBytes, s.uniqueBytes) }
        try env.dropSnapshot("nightly")
        #expect(old == "Ada")
        let stats = try env.shrink()
        print(stats.fileBytesBefore, stats.fileBytesAfter)
        #expect(stats.fileBytesAfter <= stats.fileBytesBefore)
    }

    /// Each ```swift block of every article, line by line (indentation aside), appears in this file.
    @MainActor @Test func mainActorCounter() async throws {
        let dir = try TemporaryDirectory("docc-counter")
        let counter = Counter(env: try Environment(path: dir.file()))
        try await counter.increment()
        try await counter.increment()
        #expect(counter.shown == 2)
        let stored = try await counter.env.read { try $0.getString("count") }
        #expect(stored == "2")
    }

    @Test func everySnippetIsHere() throws {
        let here = URL(fileURLWithPath: #filePath)
        let catalog = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Larch/Larch.docc")
        let source = try String(contentsOf: here, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.trimmingCharacters(in: .whitespaces) }
        let articles = try FileManager.default.contentsOfDirectory(atPath: catalog.path).filter { $0.hasSuffix(".md") }
        #expect(articles.count >= 5)
        var snippets = 0
        for article in articles {
            let text = try String(contentsOf: catalog.appendingPathComponent(article), encoding: .utf8)
            var block: [String]?
            for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if block == nil, trimmed == "```swift" { block = []; continue }
                if var b = block {
                    if trimmed == "```" {
                        snippets += 1
                        let found = source.indices.contains { i in i + b.count <= source.count && Array(source[i..<(i + b.count)]) == b }
                        #expect(found, "a snippet of \(article) is not in DocCSnippetTests: \(b.joined(separator: " / "))")
                        block = nil
                    } else {
                        b.append(trimmed)
                        block = b
                    }
                }
            }
        }
        #expect(snippets >= 8)
    }
}
