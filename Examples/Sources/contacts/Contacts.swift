// contacts: a small contacts book on Larch's typed API (README, "Typed data").
//
//     swift run contacts [FILE]        (default: a new file in the temporary directory, removed at the end)
//
// Records are Codable structs keyed by an Int64 id; two secondary indexes live in the same file,
// updated in the same transactions as the records:
//   contacts          Int64                     -> Contact
//   contacts.city     KeyTuple2<String, Int64>  -> Bool      (city, id): "who lives in Paris?" is a prefix scan
//   contacts.email    String                    -> Int64     a unique index: a second contact with the same email is refused
//   meta              String                    -> Int64     the next id
//
// It runs a fixed scenario (add, query by city, move, rename, refuse a duplicate, delete, reopen,
// check the file), prints what it sees, checks every result, and exits 1 if any check failed.
import Foundation
import Larch

struct Contact: Codable, Equatable {
    var name: String
    var email: String
    var city: String
    var phones: [String]
    var birthYear: Int?
}

enum ContactsError: Error, CustomStringConvertible {
    case duplicateEmail(String)
    case notFound(Int64)

    var description: String {
        switch self {
        case let .duplicateEmail(email): "another contact already has the email \(email)"
        case let .notFound(id): "no contact #\(id)"
        }
    }
}

/// The book's databases, opened inside one transaction (typed databases are plain values: cheap to open).
struct Book {
    let contacts: TypedDatabase<Int64, Contact>
    let byCity: TypedDatabase<KeyTuple2<String, Int64>, Bool>
    let byEmail: TypedDatabase<String, Int64>
    let meta: TypedDatabase<String, Int64>

    init(_ txn: inout WriteTransaction) throws {
        contacts = try txn.database("contacts", of: Int64.self, Contact.self)
        byCity = try txn.database("contacts.city", of: KeyTuple2<String, Int64>.self, Bool.self)
        byEmail = try txn.database("contacts.email", of: String.self, Int64.self)
        meta = try txn.database("meta", of: String.self, Int64.self)
    }

    init(_ txn: borrowing ReadTransaction) throws {
        contacts = try txn.database("contacts", of: Int64.self, Contact.self)
        byCity = try txn.database("contacts.city", of: KeyTuple2<String, Int64>.self, Bool.self)
        byEmail = try txn.database("contacts.email", of: String.self, Int64.self)
        meta = try txn.database("meta", of: String.self, Int64.self)
    }

    /// Adds `contact` under the next id; throws (and so aborts the whole transaction) if its email is taken.
    func add(_ contact: Contact, _ txn: inout WriteTransaction) throws -> Int64 {
        guard try !txn.contains(contact.email, in: byEmail) else { throw ContactsError.duplicateEmail(contact.email) }
        let id = try txn[ "nextID", in: meta] ?? 1
        try txn.put(id + 1, for: "nextID", in: meta)
        try txn.put(contact, for: id, in: contacts)
        try txn.put(true, for: KeyTuple2(contact.city, id), in: byCity)
        try txn.put(id, for: contact.email, in: byEmail)
        return id
    }

    /// Replaces contact `id` by `change(old)`, moving its index entries when city or email change.
    func update(_ id: Int64, _ txn: inout WriteTransaction, _ change: (inout Contact) -> Void) throws {
        guard let old = try txn[id, in: contacts] else { throw ContactsError.notFound(id) }
        var new = old
        change(&new)
        if new.email != old.email {
            guard try !txn.contains(new.email, in: byEmail) else { throw ContactsError.duplicateEmail(new.email) }
            try txn.delete(old.email, in: byEmail)
            try txn.put(id, for: new.email, in: byEmail)
        }
        if new.city != old.city {
            try txn.delete(KeyTuple2(old.city, id), in: byCity)
            try txn.put(true, for: KeyTuple2(new.city, id), in: byCity)
        }
        try txn.put(new, for: id, in: contacts)
    }

    /// Deletes contact `id` and its index entries; returns whether it existed.
    func remove(_ id: Int64, _ txn: inout WriteTransaction) throws -> Bool {
        guard let old = try txn[id, in: contacts] else { return false }
        try txn.delete(id, in: contacts)
        try txn.delete(KeyTuple2(old.city, id), in: byCity)
        try txn.delete(old.email, in: byEmail)
        return true
    }

    /// The names of the contacts in `city`, in id order: a prefix scan of the index, then a lookup each.
    func names<M>(in city: String, _ txn: borrowing Transaction<M>) throws -> [String] {
        var names: [String] = []
        var index = try txn.entries(in: byCity, KeyTuple2<String, Int64>.prefix(city))
        while let (key, _) = try index.next() {
            guard let contact = try txn[key.second, in: contacts] else { throw ContactsError.notFound(key.second) }
            names.append(contact.name)
        }
        return names
    }

    /// The contact with `email`, through the unique index.
    func contact<M>(email: String, _ txn: borrowing Transaction<M>) throws -> Contact? {
        guard let id = try txn[email, in: byEmail] else { return nil }
        return try txn[id, in: contacts]
    }
}

/// `value` for printing, without the `Optional(...)` around it.
func show(_ value: Any) -> String {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return String(describing: value) }
    return mirror.children.first.map { show($0.value) } ?? "nil"
}

/// Counts and reports failed checks.
struct Checks {
    var failures = 0

    mutating func expect<T: Equatable>(_ actual: T, _ expected: T, _ what: String) {
        if actual == expected {
            print("  ok    \(what): \(show(actual))")
        } else {
            print("  FAIL  \(what): got \(show(actual)), expected \(show(expected))")
            failures += 1
        }
    }
}

@main
enum ContactsApp {
    static func main() throws {
        let args = CommandLine.arguments.dropFirst()
        let temporary = args.isEmpty
        let path = args.first ?? NSTemporaryDirectory() + "larch-contacts-\(ProcessInfo.processInfo.processIdentifier).larch"
        for file in [path, path + "-lock"] { try? FileManager.default.removeItem(atPath: file) }
        defer {
            if temporary { for file in [path, path + "-lock"] { try? FileManager.default.removeItem(atPath: file) } }
        }
        var checks = Checks()
        try run(path: path, &checks)
        if checks.failures > 0 {
            print("contacts: \(checks.failures) check(s) FAILED")
            exit(1)
        }
        print("contacts: all checks passed")
    }

    static func run(path: String, _ checks: inout Checks) throws {
        print("contacts: file \(path)")
        let env = try Larch.Environment(path: path)

        print("1. add five contacts in one transaction")
        let people = [
            Contact(name: "Ada Lovelace", email: "ada@example.org", city: "London", phones: ["+44 20 0000 0001"], birthYear: 1815),
            Contact(name: "Blaise Pascal", email: "blaise@example.org", city: "Paris", phones: [], birthYear: 1623),
            Contact(name: "Émilie du Châtelet", email: "emilie@example.org", city: "Paris", phones: ["+33 1 00 00 00 02"], birthYear: 1706),
            Contact(name: "Alan Turing", email: "alan@example.org", city: "London", phones: ["+44 20 0000 0003", "+44 161 000 0004"], birthYear: 1912),
            Contact(name: "Grace Hopper", email: "grace@example.org", city: "New York", phones: [], birthYear: nil),
        ]
        let ids = try env.write { txn in
            let book = try Book(&txn)
            return try people.map { try book.add($0, &txn) }
        }
        checks.expect(ids, [1, 2, 3, 4, 5], "ids")

        print("2. query the secondary index: who lives where")
        try env.read { txn in
            let book = try Book(txn)
            checks.expect(try book.names(in: "London", txn), ["Ada Lovelace", "Alan Turing"], "London")
            checks.expect(try book.names(in: "Paris", txn), ["Blaise Pascal", "Émilie du Châtelet"], "Paris")
            checks.expect(try book.names(in: "Rome", txn), [], "Rome")
            // "New" is a prefix of "New York" as a string, but not as the first element of a tuple.
            checks.expect(try book.names(in: "New", txn), [], "New (not a city)")
            checks.expect(try book.contact(email: "grace@example.org", txn)?.name, "Grace Hopper", "by email")
            checks.expect(try txn[3, in: book.contacts] == people[2], true, "contact #3 round-trips (Unicode, arrays, optionals)")
        }

        print("3. Alan moves to Manchester and gets a new email")
        try env.write { txn in
            try Book(&txn).update(4, &txn) { $0.city = "Manchester"; $0.email = "turing@example.org" }
        }
        try env.read { txn in
            let book = try Book(txn)
            checks.expect(try book.names(in: "London", txn), ["Ada Lovelace"], "London after the move")
            checks.expect(try book.names(in: "Manchester", txn), ["Alan Turing"], "Manchester")
            checks.expect(try book.contact(email: "alan@example.org", txn)?.name, nil, "old email")
            checks.expect(try book.contact(email: "turing@example.org", txn)?.city, "Manchester", "new email")
        }

        print("4. a duplicate email is refused, and the transaction that tried it leaves nothing behind")
        do {
            try env.write { txn in
                let book = try Book(&txn)
                _ = try book.add(Contact(name: "Charles Babbage", email: "charles@example.org", city: "London", phones: [], birthYear: 1791), &txn)
                _ = try book.add(Contact(name: "Impostor", email: "ada@example.org", city: "Paris", phones: [], birthYear: nil), &txn)
            }
            checks.expect("committed", "refused", "duplicate email")
        } catch ContactsError.duplicateEmail(let email) {
            checks.expect(email, "ada@example.org", "refused duplicate")
        }
        try env.read { txn in
            let book = try Book(txn)
            checks.expect(try book.names(in: "London", txn), ["Ada Lovelace"], "London after the aborted transaction")
            checks.expect(try txn["nextID", in: book.meta], 6, "next id unchanged")
        }

        print("5. delete Blaise")
        let removed = try env.write { txn in try Book(&txn).remove(2, &txn) }
        checks.expect(removed, true, "deleted #2")
        let removedAgain = try env.write { txn in try Book(&txn).remove(2, &txn) }
        checks.expect(removedAgain, false, "deleting #2 again")

        print("6. a range scan of ids, then the whole city index in key order")
        try env.read { txn in
            let book = try Book(txn)
            let firstFour = try txn.entries(in: book.contacts, Int64(1)...4).collect().map { "\($0.key) \($0.value.name)" }
            checks.expect(firstFour, ["1 Ada Lovelace", "3 Émilie du Châtelet", "4 Alan Turing"], "ids 1...4")
            let index = try txn.entries(in: book.byCity).keys().map { "\($0.first)/\($0.second)" }
            checks.expect(index, ["London/1", "Manchester/4", "New York/5", "Paris/3"], "city index")
        }

        print("7. close, reopen, read it back, check the file")
        env.close()
        let reopened = try Larch.Environment(path: path)
        try reopened.read { txn in
            let book = try Book(txn)
            checks.expect(try txn.entries(in: book.contacts).keys(), [1, 3, 4, 5], "ids after reopening")
            checks.expect(try book.names(in: "Paris", txn), ["Émilie du Châtelet"], "Paris after reopening")
            checks.expect(try book.contact(email: "turing@example.org", txn)?.phones.count, 2, "Alan's phones")
        }
        let report = try reopened.check()
        checks.expect(report.isClean, true, "Environment.check()")
    }
}
