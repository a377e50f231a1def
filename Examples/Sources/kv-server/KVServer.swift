// kv-server: an HTTP key-value service on Hummingbird 2, backed by one Larch file.
//
//     swift run kv-server [--port N] [--host H] [--path FILE]
//         (or the environment variables KV_PORT, KV_HOST, KV_PATH; defaults 8080, 127.0.0.1, kv.larch)
//
//     GET    /kv/{key}            200 with the value as the body, 404 when the key is missing
//     PUT    /kv/{key}            stores the request body: 201 when the key is new, 204 when replaced
//     DELETE /kv/{key}            204 when deleted, 404 when the key was missing
//     GET    /kv?prefix=P&limit=N the keys that start with P (all keys without it), one per line, in order
//
// Handlers run on Swift's cooperative pool and use Larch's async `write` and `read`: a handler
// waiting for the writer turn or for the commit's sync suspends, and never blocks a pool thread.
// Concurrent PUTs share syncs (group commit). With `--port 0` the system picks a free port; the
// server prints the one it listens on ("kv-server listening on HOST:PORT") once it accepts requests.
// SIGINT or SIGTERM stops it gracefully.
import Foundation
import Hummingbird
import Larch

/// The command line, then the environment, then the default.
func setting(_ flag: String, _ variable: String, default value: String) -> String {
    let args = CommandLine.arguments
    if let i = args.firstIndex(of: flag), i + 1 < args.count { return args[i + 1] }
    if let v = ProcessInfo.processInfo.environment[variable], !v.isEmpty { return v }
    return value
}

/// The largest request body accepted as a value.
let maxValueBytes = 1 << 20

/// The `{key}` path parameter, percent-decoded, as the key's bytes.
func keyBytes(_ context: some RequestContext) throws -> [UInt8] {
    let raw = try context.parameters.require("key")
    guard let key = raw.removingPercentEncoding, !key.isEmpty else {
        throw HTTPError(.badRequest, message: "invalid key")
    }
    return Array(key.utf8)
}

/// Larch errors a client caused become 400s; the rest stay server errors (500).
func clientErrors<R>(_ body: () async throws -> R) async throws -> R {
    do {
        return try await body()
    } catch let error as LarchError {
        switch error {
        case .emptyKey, .keyTooLarge, .valueTooLarge:
            throw HTTPError(.badRequest, message: "\(error)")
        default:
            throw error
        }
    }
}

@main
enum KVServer {
    static func main() async throws {
        if CommandLine.arguments.contains("--help") || CommandLine.arguments.contains("-h") {
            print("usage: kv-server [--port N] [--host H] [--path FILE]   (or KV_PORT, KV_HOST, KV_PATH)")
            return
        }
        let portText = setting("--port", "KV_PORT", default: "8080")
        guard let port = Int(portText), (0...65535).contains(port) else {
            FileHandle.standardError.write(Data("kv-server: invalid port '\(portText)'\n".utf8))
            exit(2)
        }
        let host = setting("--host", "KV_HOST", default: "127.0.0.1")
        let path = setting("--path", "KV_PATH", default: "kv.larch")

        let env: Larch.Environment
        do {
            env = try Larch.Environment(path: path)
        } catch {
            FileHandle.standardError.write(Data("kv-server: cannot open \(path): \(error)\n".utf8))
            exit(1)
        }

        let router = Router()

        router.get("/kv/{key}") { _, context -> Response in
            let key = try keyBytes(context)
            let value = try await env.read { txn in try txn.get(key) }
            guard let value else { return Response(status: .notFound) }
            return Response(
                status: .ok,
                headers: [.contentType: "application/octet-stream"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: value))
            )
        }

        router.put("/kv/{key}") { request, context -> HTTPResponse.Status in
            let key = try keyBytes(context)
            let body = try await request.body.collect(upTo: maxValueBytes)
            let value = Array(body.readableBytesView)
            let existed = try await clientErrors {
                try await env.write { txn in
                    let existed = try txn.contains(key)
                    try txn.put(value, forKey: key)
                    return existed
                }
            }
            return existed ? .noContent : .created
        }

        router.delete("/kv/{key}") { _, context -> HTTPResponse.Status in
            let key = try keyBytes(context)
            let deleted = try await env.write { txn in try txn.delete(key) }
            return deleted ? .noContent : .notFound
        }

        router.get("/kv") { request, _ -> Response in
            let query = request.uri.queryParameters
            let prefix = Array((query["prefix"].map(String.init) ?? "").utf8)
            var limit = Int.max
            if let text = query["limit"] {
                guard let n = Int(text), n >= 0 else { throw HTTPError(.badRequest, message: "invalid limit") }
                limit = n
            }
            let keys = try await env.read { txn in
                var entries = try txn.entries(in: .main, prefix.isEmpty ? .all : .prefix(prefix))
                var keys: [[UInt8]] = []
                while keys.count < limit, let (key, _) = try entries.next() { keys.append(key) }
                return keys
            }
            var buffer = ByteBuffer()
            for key in keys {
                buffer.writeBytes(key)
                buffer.writeInteger(UInt8(ascii: "\n"))
            }
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; charset=utf-8"],
                body: ResponseBody(byteBuffer: buffer)
            )
        }

        let app = Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "larch-kv-server"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                // Unbuffered, so that a script reading the output sees it at once.
                FileHandle.standardOutput.write(Data("kv-server listening on \(host):\(bound), file \(path)\n".utf8))
            }
        )
        try await app.runService()
    }
}
