import Testing
import Larch

/// The README's example, run as written (paths aside), so the README stays true.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleRuns() throws {
        let dir = try TemporaryDirectory("readme")
        let env = try Environment(path: dir.file("app.larch"))            // created if missing

        try env.write { txn in
            try txn.put("Ada Lovelace", forKey: "user:1")
            let tags = try txn.openDatabase("tags", create: true)  // a named database in the same file
            try txn.put(Array("math".utf8), forKey: Array("user:1".utf8), in: tags)
        }
        let name = try env.read { txn in try txn.getString("user:1") }
        #expect(name == "Ada Lovelace")

        let length = try env.read { txn in try txn.withValue(forKey: Array("user:1".utf8)) { $0.byteCount } }
        #expect(length == 12)

        var seen: [String] = []
        try env.read { txn in
            var entries = try txn.entries("user:"..<"user;", reverse: true)
            while let (key, value) = try entries.next() {
                seen.append(String(decoding: key, as: UTF8.self))
                #expect(value.count == 12)
            }
        }
        #expect(seen == ["user:1"])

        struct OutOfStock: Error {}
        try env.write { txn in
            try txn.put("pending", forKey: "order:7")
            do {
                try txn.nested { child in
                    try child.put("reserved", forKey: "stock:42")
                    guard try child.get("stock:43") != nil else { throw OutOfStock() }
                }
            } catch is OutOfStock {
                try txn.put("backordered", forKey: "order:7")   // stock:42 is not reserved
            }
        }
        #expect(try env.read { try $0.getString("order:7") } == "backordered")
        #expect(try env.read { try $0.contains("stock:42") } == false)

        var txn = try env.beginWrite()
        try txn.put("x", forKey: "y")
        let stats = try txn.commit()          // pages and bytes this commit wrote
        #expect(stats.pagesWritten >= 1 && stats.bytesWritten == (stats.pagesWritten + 1) * 4096)
        // `txn` is consumed: using it again does not compile.

        let report = try env.check()
        #expect(report.isClean, "\(report)")
        let names = try env.read { try $0.databaseNames() }
        #expect(names == ["tags"])

        try env.copy(to: dir.file("backup.larch"), compact: true)
        let backup = try Environment(path: dir.file("backup.larch"))
        #expect(try backup.read { try $0.getString("user:1") } == "Ada Lovelace")
    }

    /// The README's "Typed data" example, as written (prints collected instead).
    @Test func readmeTypedDataExampleRuns() throws {
        let dir = try TemporaryDirectory("readme-typed")
        let env = try Environment(path: dir.file("app.larch"))

        try env.write { txn in
            let users = try txn.database("users", of: Int64.self, User.self)     // created if missing
            let byCity = try txn.database("users.city", of: KeyTuple2<String, Int64>.self, Bool.self)
            for (id, user) in [(1, User(name: "Ada", city: "London")), (2, User(name: "Blaise", city: "Paris"))] as [(Int64, User)] {
                try txn.put(user, for: id, in: users)
                try txn.put(true, for: KeyTuple2(user.city, id), in: byCity)    // a secondary index
            }
        }
        var seen: [String] = []
        try env.read { txn in
            let users = try txn.database("users", of: Int64.self, User.self)
            let byCity = try txn.database("users.city", of: KeyTuple2<String, Int64>.self, Bool.self)
            let ada = try txn[1, in: users]                                      // User?, or txn.get(1, in: users)
            var parisians = try txn.entries(in: byCity, KeyTuple2<String, Int64>.prefix("Paris"))
            while let (key, _) = try parisians.next() {
                seen.append("\(key.second) \(try txn[key.second, in: users]?.name ?? "?") \(ada?.name ?? "")")
            }
            for (id, user) in try txn.entries(in: users, 1...100).collect() { seen.append("\(id) \(user.city)") }
        }
        #expect(seen == ["2 Blaise Ada", "1 London", "2 Paris"])
    }

    /// The README's sorted-duplicates example, as written (prints collected instead).
    @Test func readmeDuplicatesExampleRuns() throws {
        let dir = try TemporaryDirectory("readme-dups")
        let env = try Environment(path: dir.file())
        var printed: [[UInt8]] = []
        try env.write { txn in
            let byCity = try txn.openDatabase("byCity", create: true, duplicates: .sorted)
            try txn.putDuplicate("user:1".utf8, forKey: "Paris".utf8, in: byCity)
            try txn.putDuplicate("user:7".utf8, forKey: "Paris".utf8, in: byCity)
        }
        try env.read { txn in
            let byCity = try txn.openDatabase("byCity", duplicates: .sorted)
            let cursor = try txn.duplicateCursor(byCity)
            var more = try cursor.seek(toKey: "Paris".utf8)
            while more { printed.append(try cursor.value!); more = try cursor.nextDuplicate() }   // user:1, user:7
        }
        #expect(printed == [Array("user:1".utf8), Array("user:7".utf8)])
    }

    /// The README's actor example, as written.
    actor Accounts {
        let env: Environment
        init(env: Environment) { self.env = env }

        func deposit(_ amount: Int, to account: String) async throws {
            try await env.write { txn in
                let old = try txn.getString(account).flatMap { Int($0) } ?? 0
                try txn.put(String(old + amount), forKey: account)
            }
        }
    }

    @Test func readmeActorExampleRuns() async throws {
        let dir = try TemporaryDirectory("readme-actor")
        let accounts = Accounts(env: try Environment(path: dir.file()))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<50 { group.addTask { try await accounts.deposit(2, to: "alice") } }
            try await group.waitForAll()
        }
        let balance = try await accounts.env.read { txn in try txn.getString("alice") }
        #expect(balance == "100")
    }
}

private struct User: Codable { var name: String; var city: String }
