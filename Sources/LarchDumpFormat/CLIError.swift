/// A failure the CLI reports in one line on standard error, with exit status 2 — or, for a
/// command stopped by a signal (`Interruption`), 128 plus the signal's number.
package struct CLIError: Error, CustomStringConvertible {
    package var description: String
    /// The signal that stopped the command, if one did.
    package var signal: Int32?
    package init(_ description: String, signal: Int32? = nil) {
        self.description = description
        self.signal = signal
    }
}
