// larch-crashlab: reproduces the seed's crash table on Larch.
//
//   larch-crashlab [--seed N] [--transactions N] [--durability full|noMetaSync|noSync] [--random N] [--max-dirty-pages N] [--duplicates true]
//       Runs a deterministic workload on a simulated disk, crashes it after every I/O operation under
//       every policy (unsynced writes lost, kept, random subsets, reordered, torn), reopens each image
//       and prints how many came back as the old state, the new state, corrupt or lost.
//   larch-crashlab child PATH SEED
//       Runs the workload against a real file, printing "ack TXN" after each commit returns; the
//       real-kill tests SIGKILL it at random moments.
//   larch-crashlab writer PATH ID COUNT
//       Commits COUNT transactions, each putting key "w<ID>-<n>", printing "ack TXN n" after each.
//   larch-crashlab bank PATH transfer SEED
//       Moves money between the accounts of a bank file ("acct-NNNN" → decimal balance) in a loop,
//       one transfer per write transaction, printing "ack TXN" after each commit.
//   larch-crashlab bank PATH audit SEED
//       Sums every account in a read transaction, in a loop, printing "sum TOTAL TXN" for each;
//       with SEED odd, also holds one read transaction for half a second between audits and prints
//       "held TXN SUM-BEFORE SUM-AFTER same|changed" (its snapshot must not change).
import Larch
import LarchCrashLab
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The key of account `n` of a bank file.
func accountKey(_ n: Int) -> String {
    let digits = String(n)
    return "acct-" + String(repeating: "0", count: max(0, 4 - digits.count)) + digits
}

func fail(_ message: String) -> Never {
    let line = Array("larch-crashlab: \(message)\n".utf8)
    _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    exit(2)
}

var args = Array(CommandLine.arguments.dropFirst())
if args.first == "child" {
    guard args.count == 3, let seed = UInt64(args[2]) else { fail("usage: larch-crashlab child PATH SEED") }
    var workload = WorkloadGenerator(seed: seed)
    do {
        let env = try Environment(path: args[1])
        while true {
            let t = workload.next()
            var txn = try env.beginWrite()
            try Workload.apply(t, to: &txn)
            if t.commits {
                let stats = try txn.commit()
                // Unbuffered: the parent must see every acknowledgement before the kill.
                let line = Array("ack \(stats.transactionID)\n".utf8)
                _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
            } else {
                txn.abort()
            }
        }
    } catch {
        fail("\(error)")
    }
    exit(0)
}

/// Writes `line` to standard output at once (the parent may kill this process at any moment).
func emit(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}

if args.first == "writer" {
    guard args.count == 4, let count = Int(args[3]) else { fail("usage: larch-crashlab writer PATH ID COUNT") }
    do {
        let env = try Environment(path: args[1], options: Options(durability: .noMetaSync))
        for n in 0..<count {
            let key = "w\(args[2])-\(n)"
            try env.write { txn in try txn.put(key, forKey: key) }
            emit("ack \(env.lastCommit?.transactionID ?? 0) \(n)")
        }
    } catch {
        fail("\(error)")
    }
    exit(0)
}

if args.first == "bank" {
    guard args.count == 4 || args.count == 5, let seed = UInt64(args[3]), ["transfer", "audit"].contains(args[2]),
          args.count == 4 || Int(args[4]) != nil else {
        fail("usage: larch-crashlab bank PATH transfer|audit SEED [THREADS]")
    }
    do {
        let env = try Environment(path: args[1], options: Options(durability: .noMetaSync))
        let accounts = Int(try env.read { txn in try txn.stats().entries })
        guard accounts > 1 else { fail("no accounts in \(args[1])") }
        if args[2] == "transfer" {
            let threads = args.count == 5 ? max(1, Int(args[4])!) : 1
            for t in 1..<threads { startThread { bankTransfers(env, accounts: accounts, seed: seed &+ UInt64(t) &* 7919) } }
            bankTransfers(env, accounts: accounts, seed: seed)
        } else {
            while true { try bankAudit(env, holding: seed % 2 == 1) }
        }
    } catch {
        fail("\(error)")
    }
}

var config = CrashLabConfiguration()
while !args.isEmpty {
    let flag = args.removeFirst()
    guard !args.isEmpty else { fail("\(flag) needs a value (see the comment at the top of main.swift)") }
    let value = args.removeFirst()
    switch flag {
    case "--seed": guard let v = UInt64(value) else { fail("bad seed \(value)") }; config.seed = v
    case "--transactions": guard let v = Int(value) else { fail("bad count \(value)") }; config.transactions = v
    case "--random": guard let v = Int(value) else { fail("bad count \(value)") }; config.randomImagesPerPoint = v
    case "--max-dirty-pages": guard let v = Int(value), v >= 1 else { fail("bad count \(value)") }; config.maxDirtyBytes = v * 4096
    case "--duplicates": guard let v = Bool(value) else { fail("--duplicates is true or false") }; config.duplicates = v
    case "--durability":
        switch value {
        case "full": config.durability = .full
        case "noMetaSync": config.durability = .noMetaSync
        case "noSync": config.durability = .noSync
        default: fail("durability is full, noMetaSync or noSync")
        }
    default: fail("unknown option \(flag); options: --seed --transactions --durability --random --max-dirty-pages --duplicates")
    }
}
do {
    let report = try CrashLab.run(config)
    print(report)
    exit(report.corrupt == 0 && report.lost == 0 ? 0 : 1)
} catch {
    fail("\(error)")
}
