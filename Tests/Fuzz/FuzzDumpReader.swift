// The libFuzzer entry point for the dump reader. Not part of the package build: scripts/fuzz-dump.sh
// compiles it with the sources of LarchDumpFormat, with -sanitize=fuzzer,address. What it checks is
// `DumpFuzzing.check`, which `swift test` also runs on every file of the corpus (FuzzCorpusTests).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDumpReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let input = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    if let violation = DumpFuzzing.check(input) { fatalError("dump reader: \(violation)") }
    return 0
}
