import Testing
import Larch

/// App code on the main actor calls the async API directly: `write`, `read`, `nested` and the
/// async `commit()` are `nonisolated(nonsending)`, so their bodies run on the caller's actor and
/// no non-Sendable closure or transaction crosses an isolation boundary. (Before, none of these
/// calls compiled from a `@MainActor` context.) The test would not compile without that, and
/// checks at run time that the bodies do run on the main actor.
@MainActor
@Suite struct MainActorTests {
    private struct Rollback: Error {}

    @Test(.timeLimit(.minutes(5)))
    func writeReadAndNestFromTheMainActor() async throws {
        let dir = try TemporaryDirectory("main-actor")
        let env = try Environment(path: dir.file(), options: Options(durability: .full))
        var seen: [String] = []   // main-actor state, changed inside the bodies

        try await env.write { txn in
            MainActor.assertIsolated()
            try txn.put("one", forKey: "a")
            seen.append("a")
        }

        // Another task writes meanwhile: whichever takes the writer first, the other waits
        // (suspended; a body that suspends holds the writer) and lands too.
        let other = Task.detached { try await env.write { txn in try txn.put("other", forKey: "o") } }
        let count = try await env.write { txn in
            try txn.put("two", forKey: "b")
            await Task.yield()
            MainActor.assertIsolated()
            try await txn.nested { child in
                try child.put("three", forKey: "c")
                await Task.yield()
                seen.append("c")
            }
            do {
                try await txn.nested { child in
                    try child.put("never", forKey: "d")
                    await Task.yield()
                    throw Rollback()
                }
            } catch is Rollback {}
            return 2
        }
        try await other.value

        var explicit = try env.beginWrite()
        try explicit.put("four", forKey: "e")
        try await explicit.commit()

        let values = try await env.read { txn in try ["a", "b", "c", "d", "e", "o"].map { try txn.getString($0) } }
        #expect(values == ["one", "two", "three", nil, "four", "other"])
        let suspended = try await env.read { txn in
            await Task.yield()
            MainActor.assertIsolated()
            return try txn.getString("a")
        }
        #expect(suspended == "one")
        #expect(count == 2)
        #expect(seen == ["a", "c"])
        env.close()
    }
}
