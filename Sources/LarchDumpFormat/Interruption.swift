import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT, SIGTERM and SIGHUP during a command that should stop cleanly (`load`): the first one is
/// noted, and the command stops at its next step, saying what it did; a second one ends the process
/// at once (the handler resets itself). A wait for input wakes up for it (`waitForInput`).
package enum Interruption {
    /// The signal received, or 0.
    private static let received = Atomic<Int32>(0)
    /// A pipe the handler writes a byte to, so that a wait for input wakes up (-1: not installed).
    private static let wakeRead = Atomic<Int32>(-1)
    private static let wakeWrite = Atomic<Int32>(-1)

    /// Installs the handlers.
    package static func install() {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        wakeRead.store(fds[0], ordering: .relaxed)
        wakeWrite.store(fds[1], ordering: .relaxed)
        _ = received.load(ordering: .relaxed)   // initialized before any handler runs
        let handler: @convention(c) (Int32) -> Void = { signal in
            // Only async-signal-safe work: an atomic store and a write.
            Interruption.received.store(signal, ordering: .relaxed)
            var byte: UInt8 = 1
            _ = write(Interruption.wakeWrite.load(ordering: .relaxed), &byte, 1)
        }
        var action = sigaction()
        #if canImport(Darwin)
        action.__sigaction_u.__sa_handler = handler
        #else
        action.__sigaction_handler.sa_handler = handler
        #endif
        action.sa_flags = Int32(truncatingIfNeeded: SA_RESETHAND)   // no SA_RESTART: a blocked read returns EINTR
        sigemptyset(&action.sa_mask)
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            sigaction(signal, &action, nil)
            sigaddset(&handled, signal)
        }
        // A process may start with them blocked (a mask inherited from its parent's thread).
        sigprocmask(SIG_UNBLOCK, &handled, nil)
    }

    /// The signal received since `install()`, if any.
    package static var signal: Int32? {
        let s = received.load(ordering: .relaxed)
        return s == 0 ? nil : s
    }

    /// The error a command stops with.
    package static func error(_ signal: Int32) -> CLIError {
        CLIError("interrupted by \(name(signal))", signal: signal)
    }

    package static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGINT: return "SIGINT"
        case SIGTERM: return "SIGTERM"
        case SIGHUP: return "SIGHUP"
        default: return "signal \(signal)"
        }
    }

    /// Waits until `fd` has input, or throws once a signal has been received (at once when
    /// `install()` was not called: then no signal is handled).
    package static func waitForInput(_ fd: Int32) throws(CLIError) {
        let wake = wakeRead.load(ordering: .relaxed)
        guard wake >= 0 else { return }
        var fds = [pollfd(fd: fd, events: Int16(POLLIN), revents: 0), pollfd(fd: wake, events: Int16(POLLIN), revents: 0)]
        while true {
            if let s = signal { throw error(s) }
            let n = poll(&fds, 2, -1)
            if n < 0 && errno == EINTR { continue }
            if let s = signal { throw error(s) }
            if n != 0 && fds[1].revents == 0 { return }   // input, end of input or an error: read() tells
        }
    }
}
