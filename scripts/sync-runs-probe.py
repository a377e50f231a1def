#!/usr/bin/env python3
"""How a disk's flush cost depends on how many separate runs of pages it carries (issue 12).

Writes 4 KiB pages into an already written 64 MiB file, then fdatasync, in a loop, for each
pattern in turn (rounds alternate the patterns, so drift hits them alike), and prints each
pattern's median syncs per second. Two groups of patterns:

- page runs: one page; k scattered pages; k contiguous pages; and the layouts of a one-put commit
  (root, branch and leaf pages and a meta): Larch's today (three scattered pages and page 0), its
  internal pages in one run (two contiguous, one scattered, page 0), all its pages in one run and
  its meta at page 0, its meta beside its internal pages (three contiguous, one scattered: a meta
  not at a fixed page), the whole commit in one run,
  and a write-ahead log's append of one frame (two pages after the previous ones, as SQLite's WAL);
- concurrent syncs: 1, 2 and 4 threads each writing 4 scattered pages and calling fdatasync.

    python3 scripts/sync-runs-probe.py [DIR] [ROUNDS]     # DIR on the disk to measure (default .)
"""
import os, random, sys, threading, time

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
    log_head = [2]

    def run(k, rng):
        """k contiguous pages at a random free offset."""
        os.pwrite(fd, block[:4096 * k], rng.randrange(2, pages - k) * 4096)

    def commit(layout, rng):
        if layout == "scattered":
            for _ in range(layout_k[0]): run(1, rng)
        elif layout == "contiguous":
            run(layout_k[0], rng)
        elif layout == "Larch today: 3 scattered + page 0":
            run(1, rng); run(1, rng); run(1, rng); os.pwrite(fd, block[:4096], 0)
        elif layout == "internal run: 2 + 1 + page 0":
            run(2, rng); run(1, rng); os.pwrite(fd, block[:4096], 0)
        elif layout == "commit run + page 0: 3 + page 0":
            run(3, rng); os.pwrite(fd, block[:4096], 0)
        elif layout == "meta beside: 3 + 1":
            run(3, rng); run(1, rng)
        elif layout == "one run: 4":
            run(4, rng)
        elif layout == "log append: 2":
            os.pwrite(fd, block[:8192], log_head[0] * 4096)
            log_head[0] = log_head[0] + 2 if log_head[0] + 4 < pages else 2
        os.fdatasync(fd)

    layout_k = [1]

    def rate(layout, k=1, threads=1, seconds=0.4):
        layout_k[0] = k
        stop, counts = [False], [0] * threads
        def writer(i):
            rng = random.Random(i)
            while not stop[0]:
                commit(layout, rng)
                counts[i] += 1
        workers = [threading.Thread(target=writer, args=(i,)) for i in range(threads)]
        start = time.perf_counter()
        for w in workers: w.start()
        time.sleep(seconds)
        stop[0] = True
        for w in workers: w.join()
        return sum(counts) / (time.perf_counter() - start)

    patterns = [("scattered", 1, 1), ("scattered", 4, 1), ("contiguous", 4, 1),
                ("Larch today: 3 scattered + page 0", 1, 1), ("internal run: 2 + 1 + page 0", 1, 1),
                ("commit run + page 0: 3 + page 0", 1, 1),
                ("meta beside: 3 + 1", 1, 1), ("one run: 4", 1, 1), ("log append: 2", 1, 1),
                ("scattered", 4, 2), ("scattered", 4, 4)]
    results = {p: [] for p in patterns}
    for _ in range(rounds):
        for p in patterns:
            results[p].append(rate(*p))
    for (layout, k, threads), values in results.items():
        values.sort()
        name = f"{layout} ({k} page{'s' if k > 1 else ''})" if layout in ("scattered", "contiguous") else layout
        if threads > 1: name += f", {threads} threads syncing at once"
        print(f"{name:52s} median {values[len(values) // 2]:7.0f} syncs/s (min {values[0]:.0f}, max {values[-1]:.0f})")
finally:
    os.close(fd)
    os.unlink(path)
