import Foundation
import Testing

/// What a run of a command printed and how it exited.
struct CommandResult {
    var status: Int32
    /// Whether the process died of a signal (a crash) rather than exiting.
    var crashed = false
    /// Whether it was still running after the time limit and was killed.
    var timedOut = false
    var stdout: [UInt8]
    var stderr: String
    var text: String { String(decoding: stdout, as: UTF8.self) }
}

/// A scratch directory for one test, removed when released.
final class Scratch: Sendable {
    let path: String

    init(_ label: String) throws {
        path = NSTemporaryDirectory() + "larch-cli-\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Runs the built `larch` executable and other tools, with standard streams through files (so no
/// pipe can fill up and stall the child).
enum CLI {
    /// The directory holding the built products: the test bundle and the `larch` executable.
    static var productsDirectory: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    }

    static var larchPath: String { productsDirectory.appendingPathComponent("larch").path }

    /// Runs `larch` with `arguments`, feeding `input` on standard input.
    @discardableResult
    static func larch(_ arguments: [String], input: [UInt8] = [], in scratch: Scratch,
                      timeLimit: Duration = .seconds(300)) throws -> CommandResult {
        try run(larchPath, arguments, input: input, in: scratch, timeLimit: timeLimit)
    }

    /// Runs `larch` and expects exit status 0.
    @discardableResult
    static func larchOK(_ arguments: [String], input: [UInt8] = [], in scratch: Scratch,
                        sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandResult {
        let r = try larch(arguments, input: input, in: scratch)
        #expect(r.status == 0, "larch \(arguments.joined(separator: " ")) exited \(r.status): \(r.stderr)", sourceLocation: sourceLocation)
        return r
    }

    /// The absolute path of a tool on PATH (or in /usr/bin), or nil.
    static func which(_ tool: String) -> String? {
        let dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        return dirs.map { $0 + "/" + tool }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `executable` with `arguments` in `scratch`'s directory.
    static func run(_ executable: String, _ arguments: [String], input: [UInt8] = [], in scratch: Scratch,
                    timeLimit: Duration = .seconds(300)) throws -> CommandResult {
        let id = UUID().uuidString.prefix(8)
        let inPath = scratch.file(".stdin-\(id)"), outPath = scratch.file(".stdout-\(id)"), errPath = scratch.file(".stderr-\(id)")
        try Data(input).write(to: URL(fileURLWithPath: inPath))
        try Data().write(to: URL(fileURLWithPath: outPath))
        try Data().write(to: URL(fileURLWithPath: errPath))
        defer { for p in [inPath, outPath, errPath] { try? FileManager.default.removeItem(atPath: p) } }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
        process.standardInput = FileHandle(forReadingAtPath: inPath)
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        let deadline = ContinuousClock.now + timeLimit
        var timedOut = false
        while process.isRunning {
            if ContinuousClock.now > deadline {
                process.terminate()
                timedOut = true
                break
            }
            usleep(2_000)
        }
        process.waitUntilExit()
        let out = try Data(contentsOf: URL(fileURLWithPath: outPath))
        let err = try Data(contentsOf: URL(fileURLWithPath: errPath))
        return CommandResult(status: process.terminationStatus, crashed: !timedOut && process.terminationReason == .uncaughtSignal, timedOut: timedOut,
                             stdout: [UInt8](out), stderr: String(decoding: err, as: UTF8.self))
    }
}

extension CLI {
    /// Runs `larch` with its files limited to `blocks` blocks (`ulimit -f`: 512 bytes each in
    /// dash, 1,024 in bash; either way a few KiB): a write past the limit fails with EFBIG, as a
    /// full disk fails with ENOSPC (SIGXFSZ is ignored, so the write fails rather than the process).
    static func larchWithFileSizeLimit(blocks: Int, _ arguments: [String], input: [UInt8] = [], in scratch: Scratch) throws -> CommandResult {
        try run("/bin/sh", ["-c", "trap '' XFSZ; ulimit -f \(blocks) && exec \"$0\" \"$@\"", larchPath] + arguments, input: input, in: scratch)
    }

    /// The names in `scratch`'s directory, without the runner's own standard-stream files.
    static func listing(_ scratch: Scratch) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: scratch.path)
            .filter { !$0.hasPrefix(".stdin-") && !$0.hasPrefix(".stdout-") && !$0.hasPrefix(".stderr-") }
            .sorted()
    }

    /// The size of `name` in `scratch`, or nil when there is no such file.
    static func size(_ name: String, in scratch: Scratch) -> Int? {
        (try? FileManager.default.attributesOfItem(atPath: scratch.file(name)))?[.size] as? Int
    }
}

extension CLI {
    /// Runs `larch` with its standard output on a pseudo-terminal, as a user at a terminal runs it;
    /// returns what the terminal received (the terminal turns each "\n" into "\r\n").
    static func larchOnTerminal(_ arguments: [String], in scratch: Scratch) throws -> CommandResult {
        // The pseudo-terminal calls, which the Glibc module does not import, from the C library itself.
        func libc<T>(_ name: String, _: T.Type) throws -> T {
            guard let f = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { throw CocoaError(.featureUnsupported) }   // RTLD_DEFAULT
            return unsafeBitCast(f, to: T.self)
        }
        let openpt = try libc("posix_openpt", (@convention(c) (Int32) -> Int32).self)
        let grantpt = try libc("grantpt", (@convention(c) (Int32) -> Int32).self)
        let unlockpt = try libc("unlockpt", (@convention(c) (Int32) -> Int32).self)
        let ptsname = try libc("ptsname", (@convention(c) (Int32) -> UnsafeMutablePointer<CChar>?).self)
        let master = openpt(O_RDWR | O_NOCTTY)
        guard master >= 0, grantpt(master) == 0, unlockpt(master) == 0, let name = ptsname(master) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no pseudo-terminal: errno \(errno)"])
        }
        defer { close(master) }
        let slave = open(String(cString: name), O_RDWR | O_NOCTTY)
        guard slave >= 0 else { throw CocoaError(.fileNoSuchFile) }
        let terminal = FileHandle(fileDescriptor: slave, closeOnDealloc: true)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: larchPath)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: scratch.path)
        process.standardOutput = terminal
        let errPath = scratch.file(".stderr-tty-\(UUID().uuidString.prefix(8))")
        try Data().write(to: URL(fileURLWithPath: errPath))
        defer { try? FileManager.default.removeItem(atPath: errPath) }
        process.standardError = FileHandle(forWritingAtPath: errPath)
        try process.run()
        process.waitUntilExit()
        _ = fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK)
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(master, $0.baseAddress!, $0.count) }
            if n <= 0 { break }
            received += buffer[0..<n]
        }
        let err = try Data(contentsOf: URL(fileURLWithPath: errPath))
        return CommandResult(status: process.terminationStatus, crashed: process.terminationReason == .uncaughtSignal,
                             stdout: received, stderr: String(decoding: err, as: UTF8.self))
    }
}
