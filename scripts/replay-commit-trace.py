#!/usr/bin/env python3
"""Replays a durable benchmark's own writes with other page placements (issue 12).

Takes an strace of Larch's durable workload and replays its writes and fdatasyncs on a written
file, with no engine in the way, three ways in alternated rounds: as recorded; with each commit's
data pages moved into one run appended at a moving log head (a perfectly log-structured
allocator, cleaning not counted); and with each commit's data pages beside the meta pages (pages
2 on, the best a placement could do). The ratios bound what any page placement can give a
copy-on-write commit on the disk under DIR.

    strace -f -e trace=pwritev,pwrite64,fdatasync -o TRACE \\
        Benchmarks/.build/release/larch-bench --only durable --engines larch --reps 1 --dir DIR
    python3 scripts/replay-commit-trace.py TRACE DIR [ROUNDS]
"""
import os, re, sys, time

trace, directory = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
page = 4096
commits, current = [], []
for line in open(trace):
    m = re.search(r'pwritev\(\d+, \[.*\], \d+, (\d+)\) = (\d+)', line)
    if m:
        current.append((int(m.group(1)), int(m.group(2))))
        continue
    m = re.search(r'pwrite64\(\d+, .*, (\d+), (\d+)\) = (\d+)', line)
    if m:
        current.append((int(m.group(2)), int(m.group(1))))
        continue
    if 'fdatasync(' in line:
        if current: commits.append(current)
        current = []
commits = commits[len(commits) // 5: len(commits) * 4 // 5]   # the middle: no file creation, no close
end = max(o + n for c in commits for o, n in c)
size = 3 * end
path = os.path.join(directory, "replay-commit-trace.dat")
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
try:
    os.ftruncate(fd, size)
    block = os.urandom(1 << 20)
    for offset in range(0, size, len(block)): os.pwrite(fd, block, offset)
    os.fsync(fd)
    head = [end]

    def as_recorded(c): return c
    def log_head(c):
        meta = [(o, n) for o, n in c if o < 2 * page]
        data = sum(n for o, n in c if o >= 2 * page)
        if head[0] + data > size: head[0] = end
        out = meta + [(head[0], data)]
        head[0] += data
        return out
    def beside_meta(c):
        meta = [(o, n) for o, n in c if o < 2 * page]
        return meta + [(2 * page, sum(n for o, n in c if o >= 2 * page))]

    placements = {"as recorded": as_recorded, "log head": log_head, "beside the meta": beside_meta}
    rates = {name: [] for name in placements}
    for _ in range(rounds):
        for name, place in placements.items():
            writes = [place(c) for c in commits]
            start = time.perf_counter()
            for c in writes:
                for offset, length in c: os.pwrite(fd, block[:length], offset)
                os.fdatasync(fd)
            rates[name].append(len(writes) / (time.perf_counter() - start))
    print(f"{len(commits)} commits, {sum(len(c) for c in commits) / len(commits):.2f} writes each as recorded")
    for name, values in rates.items():
        values.sort()
        print(f"{name:16s} median {values[len(values) // 2]:7.0f} commits/s ({', '.join(f'{v:.0f}' for v in values)})")
finally:
    os.close(fd)
    os.unlink(path)
