import Foundation
import LarchDumpFormat

/// Prints `value` as pretty-printed JSON with sorted keys, for scripts (`--json`).
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    let out = BufferedOutput()
    try out.write(data)
    try out.write("\n")
    try out.flush()
}
