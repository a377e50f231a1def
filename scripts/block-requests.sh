#!/usr/bin/env bash
# What the block device is asked to do while a command runs (issue 12): every request issued to
# the disks, counted by kind, so that a commit's cost can be read in requests rather than bytes.
#
#   scripts/block-requests.sh COMMAND [ARGS...]      # as root; needs linux-perf
#
# Prints the requests by kind and process (the `rwbs` flags of block:block_rq_issue: W a write,
# S synchronous, M metadata such as an inode, F/FF a flush, R a read, D discard, A readahead),
# then the flushes issued, so that requests per flush can be compared between engines. Example
# (2026-12-01, one writer, one put per durable commit): SQLite issued 1 write and 1 flush per
# commit; Larch 4 writes (3 pages and the meta) and 1 flush, and before the lseek fix also a
# metadata write (the inode) in every sync. The trace is system-wide: run it on a quiet machine.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/block-requests.sh COMMAND [ARGS...]" >&2; exit 2; }
command -v perf >/dev/null || { echo "block-requests: needs perf (apt-get install linux-perf)" >&2; exit 2; }
data=$(mktemp /tmp/block-requests.XXXXXX)
trap 'rm -f "$data"' EXIT
perf record -q -a -e block:block_rq_issue -o "$data" -- "$@"
echo "requests issued while the command ran, by kind and by the process that issued them:"
perf script -i "$data" 2>/dev/null | awk '{ kind = $7; proc = $NF; sub(/^\[/, "", proc); sub(/\]$/, "", proc); n[kind " " proc]++ }
    END { for (k in n) printf "%10d  %s\n", n[k], k }' | sort -rn
flushes=$(perf script -i "$data" 2>/dev/null | awk '$7 ~ /^F/ { n++ } END { print n + 0 }')
echo "flushes: $flushes"
