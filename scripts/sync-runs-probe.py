#!/usr/bin/env python3
"""How a disk's flush cost depends on how many separate runs of pages it carries (issue 12).

Writes 4 KiB pages into an already written 64 MiB file, then fdatasync, in a loop, for each
pattern in turn (rounds alternate the patterns, so drift hits them alike), and prints each
pattern's median syncs per second: one page; k scattered pages; k contiguous pages; k contiguous
pages plus a write to page 0 (a commit's pages and its meta).

    python3 scripts/sync-runs-probe.py [DIR] [ROUNDS]     # DIR on the disk to measure (default .)
"""
import os, random, sys, time

directory = sys.argv[1] if len(sys.argv) > 1 else "."
rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
path = os.path.join(directory, "sync-runs-probe.dat")
size = 64 << 20
pages = size // 4096
fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
try:
    os.ftruncate(fd, size)
    block = os.urandom(4096 * 16)
    for offset in range(0, size, len(block)):   # written once: no block is allocated while probing
        os.pwrite(fd, block, offset)
    os.fsync(fd)

    def rate(kind, k, seconds=0.4):
        n, start = 0, time.perf_counter()
        while time.perf_counter() - start < seconds:
            if kind == "scattered":
                for _ in range(k):
                    os.pwrite(fd, block[:4096], random.randrange(2, pages) * 4096)
            else:
                os.pwrite(fd, block[:4096 * k], random.randrange(2, pages - k) * 4096)
                if kind == "contiguous + page 0":
                    os.pwrite(fd, block[:4096], 0)
            os.fdatasync(fd)
            n += 1
        return n / (time.perf_counter() - start)

    patterns = [("scattered", 1), ("scattered", 4), ("contiguous", 4), ("contiguous + page 0", 3),
                ("scattered", 8), ("contiguous", 8)]
    results = {p: [] for p in patterns}
    for _ in range(rounds):
        for p in patterns:
            results[p].append(rate(*p))
    for (kind, k), values in results.items():
        values.sort()
        print(f"{kind:20s} {k} page(s): median {values[len(values) // 2]:8.0f} syncs/s "
              f"(min {values[0]:.0f}, max {values[-1]:.0f})")
finally:
    os.close(fd)
    os.unlink(path)
