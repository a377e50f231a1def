import Foundation
import Larch

// The bank modes of larch-crashlab (see main.swift): transfers between accounts, and audits.

/// A small seeded generator, one per thread.
struct BankRandom {
    private var state: UInt64
    init(seed: UInt64) { state = seed &+ 0x9E37_79B9_7F4A_7C15 }
    mutating func below(_ n: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(n))
    }
}

/// Runs `body` on a new thread.
func startThread(_ body: @escaping @Sendable () -> Void) {
    Thread(block: body).start()
}

/// Transfers money between random accounts, one transfer per write transaction, for ever,
/// printing "ack TXN" once each commit returned (durable).
func bankTransfers(_ env: Environment, accounts: Int, seed: UInt64) -> Never {
    var random = BankRandom(seed: seed)
    do {
        while true {
            let from = random.below(accounts), to = random.below(accounts), amount = random.below(100)
            let txnID = try env.write { txn in
                let a = Array(accountKey(from).utf8), b = Array(accountKey(to).utf8)
                let balanceA = Int(String(decoding: try txn.get(a) ?? [], as: UTF8.self))!
                let balanceB = Int(String(decoding: try txn.get(b) ?? [], as: UTF8.self))!
                if from != to {
                    try txn.put(Array(String(balanceA - amount).utf8), forKey: a)
                    try txn.put(Array(String(balanceB + amount).utf8), forKey: b)
                }
                return txn.snapshotID + 1
            }
            emit("ack \(txnID)")
        }
    } catch {
        fail("\(error)")
    }
}

/// Sums every account in one read transaction and prints "sum TOTAL TXN"; with `holding`, also
/// holds a read transaction for half a second and prints "held TXN SUM-BEFORE SUM-AFTER same|changed".
func bankAudit(_ env: Environment, holding: Bool) throws {
    let (sum, txnID) = try env.read { txn in
        var total = 0
        var entries = try txn.entries()
        while let (_, v) = try entries.next() { total += Int(String(decoding: v, as: UTF8.self))! }
        return (total, txn.snapshotID)
    }
    emit("sum \(sum) \(txnID)")
    guard holding else { return }
    // A long reader: its snapshot must not change while others commit.
    let held = try env.beginRead()
    func total(_ txn: borrowing ReadTransaction) throws -> Int {
        var sum = 0
        var entries = try txn.entries()
        while let (_, v) = try entries.next() { sum += Int(String(decoding: v, as: UTF8.self))! }
        return sum
    }
    let before = try held.get(Array(accountKey(0).utf8)) ?? []
    let sum1 = try total(held)
    usleep(500_000)
    let after = try held.get(Array(accountKey(0).utf8)) ?? []
    emit("held \(held.snapshotID) \(sum1) \(try total(held)) \(before == after ? "same" : "changed")")
    held.abort()
}
