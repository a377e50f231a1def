#!/usr/bin/env bash
# The Larch benchmark suite: Larch, LMDB, SQLite (and RocksDB for the durable workloads) side by side
# in one process (docs/BENCHMARKS.md).
#
#   scripts/bench.sh [larch-bench options]          run the suite; the report goes to standard output
#                                                   and to Benchmarks/results/latest.md (or $BENCH_OUT)
#       e.g. scripts/bench.sh                       N = 100,000, medians of 3
#            scripts/bench.sh --keys 1000000
#            scripts/bench.sh --quick               1,000 keys, 1 repetition: a smoke run for CI
#            scripts/bench.sh --only randread,scan --engines larch,lmdb
#   scripts/bench.sh profile WORKLOAD [options]     perf profile of Larch alone on one workload, sampling
#                                                   only its timed part; top symbols to standard output,
#                                                   the call-graph report and perf.data to Benchmarks/results/
#   scripts/bench.sh doc [SECTIONS] [options]       the runs behind docs/BENCHMARKS.md, each report written
#                                                   into the document between its markers. SECTIONS (default
#                                                   all, comma-separated): 100k (N = 100,000, medians of 5),
#                                                   1m (N = 1,000,000, medians of 3), writers (workload 12 alone,
#                                                   N = 100,000, medians of 5; its chart goes to docs/writers.svg),
#                                                   typed (the typed workload alone, N = 100,000, medians of 5;
#                                                   not in the default)
#       e.g. scripts/bench.sh doc writers --dir /work/benchtmp
#       BENCH_NOTE="..." scripts/bench.sh doc ...     starts each report written with that note, in bold
#
# Installs what it needs with apt-get when missing (liblmdb-dev, libsqlite3-dev, librocksdb-dev;
# linux-perf to profile), builds Benchmarks/ in release mode, and runs Benchmarks/.build/release/larch-bench.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then export PATH=/opt/swift/usr/bin:$PATH; fi

mode=run
sections=100k,1m,writers
if [ "${1:-}" = doc ]; then
    mode=doc
    shift
    if [ $# -ge 1 ] && [ "${1#-}" = "$1" ]; then
        sections=$1
        shift
    fi
elif [ "${1:-}" = profile ]; then
    mode=profile
    shift
    [ $# -ge 1 ] || { echo "usage: scripts/bench.sh profile WORKLOAD [larch-bench options]" >&2; exit 2; }
    workload=$1
    shift
fi

# Debian packages, installed only when missing.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
    missing=()
    for p in liblmdb-dev libsqlite3-dev librocksdb-dev; do installed "$p" || missing+=("$p"); done
    if [ "$mode" = profile ] && ! command -v perf >/dev/null 2>&1; then missing+=(linux-perf); fi
    if [ ${#missing[@]} -gt 0 ]; then
        sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        echo "bench.sh: installing ${missing[*]}" >&2
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
    fi
fi

echo "bench.sh: building Benchmarks (release)" >&2
swift build -c release --package-path Benchmarks >&2
bin=Benchmarks/.build/release/larch-bench
mkdir -p Benchmarks/results

revision() {
    local r
    r=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if ! git diff --quiet HEAD -- Sources Package.swift 2>/dev/null; then r="$r with uncommitted changes to Sources/"; fi
    echo "$r"
}

if [ "$mode" = run ]; then
    out=${BENCH_OUT:-Benchmarks/results/latest.md}
    {
        echo "<!-- scripts/bench.sh $* -->"
        echo "Larch revision: $(revision). Command: \`scripts/bench.sh $*\`"
        echo
        "$bin" "$@"
    } | tee "$out"
    echo "bench.sh: report written to $out" >&2
    exit "${PIPESTATUS[0]}"
fi

if [ "$mode" = doc ]; then
    # Replaces the lines between "<!-- bench:NAME begin -->" and "<!-- bench:NAME end -->" in the
    # document with the report in file $3.
    replace_section() {
        local doc=$1 name=$2 report=$3 tmp
        grep -q "<!-- bench:$name begin -->" "$doc" || { echo "bench.sh: no bench:$name markers in $doc" >&2; exit 1; }
        tmp=$(mktemp)
        awk -v begin="<!-- bench:$name begin -->" -v end="<!-- bench:$name end -->" -v report="$report" '
            $0 == begin { print; while ((getline line < report) > 0) print line; skipping = 1; next }
            $0 == end { skipping = 0 }
            !skipping { print }
        ' "$doc" > "$tmp"
        mv "$tmp" "$doc"
    }
    # Workload 12 has a section of its own (and a chart), so the two full runs leave it out.
    for spec in "100k:--keys 100000 --reps 5 --skip writers" "1m:--keys 1000000 --reps 3 --skip writers" \
                "writers:--only writers --keys 100000 --reps 5 --chart Benchmarks/results/writers.svg" \
                "typed:--only typed --keys 100000 --reps 5"; do
        name=${spec%%:*}
        args=${spec#*:}
        case ",$sections," in *",$name,"*) ;; *) continue ;; esac
        report=Benchmarks/results/doc-$name.md
        echo "bench.sh: running larch-bench $args $*" >&2
        # shellcheck disable=SC2086 # $args is a list of options
        {
            echo "${BENCH_NOTE:+**$BENCH_NOTE.** }Larch revision $(revision), $(date -u +%Y-%m-%d); command \`scripts/bench.sh doc $name${*:+ $*}\`, which runs \`larch-bench $args${*:+ $*}\`."
            echo
            "$bin" $args "$@" | sed 's/^## larch-bench/### larch-bench/'
        } > "$report"
        replace_section docs/BENCHMARKS.md "$name" "$report"
        if [ "$name" = writers ]; then cp Benchmarks/results/writers.svg docs/writers.svg; fi
    done
    echo "bench.sh: docs/BENCHMARKS.md updated" >&2
    exit 0
fi

# profile: perf samples only between the benchmark's enable/disable commands (the timed parts).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkfifo "$tmp/ctl" "$tmp/ack"
report=Benchmarks/results/profile-$workload.txt
data=Benchmarks/results/profile-$workload.data
perf record -F "${PERF_FREQ:-10000}" -g -D -1 --control "fifo:$tmp/ctl,$tmp/ack" -o "$data" -- \
    "$bin" --only "$workload" --engines larch --perf-control "$tmp/ctl,$tmp/ack" "$@" >&2
demangle() { if command -v swift-demangle >/dev/null 2>&1; then swift-demangle --simplified; else swift demangle --simplified; fi; }
perf report -i "$data" --no-children --stdio --percent-limit 0.5 2>/dev/null | demangle > "$report"
echo "== top symbols, self time (Larch, workload $workload; call graphs in $report, samples in $data)"
perf report -i "$data" --no-children --stdio -g none --percent-limit 0.5 2>/dev/null | grep -v '^#' | grep -v '^$' | demangle
