#!/usr/bin/env bash
# Coverage-guided fuzzing of the dump reader (what `larch load` reads) with libFuzzer.
#
#   scripts/fuzz-dump.sh [SECONDS]      fuzz for SECONDS (default 600), then minimise the corpus
#   scripts/fuzz-dump.sh --build        only build .build/fuzz/fuzz-dump
#
# The target is built from the sources of LarchDumpFormat alone, with swiftc and
# -sanitize=fuzzer,address given here on the command line (Package.swift has no unsafe flags).
# It starts from the committed corpus (Tests/Fuzz/corpus-dump) and the dictionary of the format's
# keywords; at the end the corpus is merged — minimised to the inputs that add coverage — back into
# Tests/Fuzz/corpus-dump, which `swift test` replays (FuzzCorpusTests). A crash is written to
# .build/fuzz/crash-* and ends the run: add it to the corpus as regression-NAME (kept by name
# through every minimisation), with a test, then fix the reader.
# The machine is shared: the run is niced.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swiftc >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swiftc ]; then export PATH=/opt/swift/usr/bin:$PATH; fi

out=.build/fuzz
corpus=Tests/Fuzz/corpus-dump
mkdir -p "$out/corpus" "$corpus"

echo "== build $out/fuzz-dump"
swiftc -swift-version 6 -package-name larch -parse-as-library -O -g \
    -sanitize=fuzzer,address -use-ld=lld \
    Sources/LarchDumpFormat/*.swift Tests/Fuzz/FuzzDumpReader.swift -o "$out/fuzz-dump"
[ "${1:-}" = "--build" ] && exit 0

seconds=${1:-600}
export SWIFT_BACKTRACE=enable=no   # libFuzzer reports a crash itself, at once
echo "== fuzz for $seconds s (niced), from $corpus"
status=0
nice -n 19 "$out/fuzz-dump" "$out/corpus" "$corpus" -dict=Tests/Fuzz/dump.dict \
    -max_total_time="$seconds" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$out/" -print_final_stats=1 || status=$?

echo "== minimise into $corpus"
rm -rf "$out/merged" && mkdir -p "$out/merged"
nice -n 19 "$out/fuzz-dump" -merge=1 "$out/merged" "$corpus" "$out/corpus" >/dev/null 2>&1
find "$corpus" -type f ! -name 'regression-*' -delete   # inputs that once failed stay, by name
cp "$out/merged"/* "$corpus"/
echo "corpus: $(ls "$corpus" | wc -l) files, $(du -sk "$corpus" | cut -f1) KiB"
exit $status
