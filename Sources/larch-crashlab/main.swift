// larch-crashlab: reproduces the seed's crash table on Larch.
//
//   larch-crashlab [--seed N] [--transactions N] [--durability full|noMetaSync|noSync] [--random N]
//       Runs a deterministic workload on a simulated disk, crashes it after every I/O operation under
//       every policy (unsynced writes lost, kept, random subsets, reordered, torn), reopens each image
//       and prints how many came back as the old state, the new state, corrupt or lost.
//   larch-crashlab child PATH SEED
//       Runs the workload against a real file, printing "ack TXN" after each commit returns; the
//       real-kill tests SIGKILL it at random moments.
import Larch
import LarchCrashLab
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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

var config = CrashLabConfiguration()
while !args.isEmpty {
    let flag = args.removeFirst()
    guard !args.isEmpty else { fail("\(flag) needs a value (see the comment at the top of main.swift)") }
    let value = args.removeFirst()
    switch flag {
    case "--seed": guard let v = UInt64(value) else { fail("bad seed \(value)") }; config.seed = v
    case "--transactions": guard let v = Int(value) else { fail("bad count \(value)") }; config.transactions = v
    case "--random": guard let v = Int(value) else { fail("bad count \(value)") }; config.randomImagesPerPoint = v
    case "--durability":
        switch value {
        case "full": config.durability = .full
        case "noMetaSync": config.durability = .noMetaSync
        case "noSync": config.durability = .noSync
        default: fail("durability is full, noMetaSync or noSync")
        }
    default: fail("unknown option \(flag); options: --seed --transactions --durability --random")
    }
}
do {
    let report = try CrashLab.run(config)
    print(report)
    exit(report.corrupt == 0 && report.lost == 0 ? 0 : 1)
} catch {
    fail("\(error)")
}
