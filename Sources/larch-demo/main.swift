import Larch
let path = "/tmp/smoke.larch"
try? FileManagerless.remove(path)
enum FileManagerless { static func remove(_ p: String) throws { _ = unlink(p) } }
#if canImport(Glibc)
import Glibc
#endif
let env = try Environment(path: path)
var rng = SystemRandomNumberGenerator()
var model: [String: String] = [:]
for round in 0..<200 {
    try env.write { txn in
        for _ in 0..<500 {
            let k = "key\(Int.random(in: 0..<5000, using: &rng))"
            if Bool.random() { let v = String(repeating: "v", count: Int.random(in: 0..<300)); try txn.put(v, forKey: k); model[k] = v }
            else { try txn.delete(k); model[k] = nil }
        }
    }
    let r = try env.check()
    if !r.isClean { print(r); break }
    if round % 50 == 0 { print(round, r) }
}
try env.read { txn in
    for (k, v) in model { let got = try txn.getString(k); precondition(got == v, "mismatch \(k)") }
    var n = 0
    for _ in try txn.entries() { n += 1 }
    precondition(n == model.count, "count \(n) vs \(model.count)")
}
print("ok", model.count, env.lastCommit!)
