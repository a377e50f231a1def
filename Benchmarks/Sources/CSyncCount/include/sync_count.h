#ifndef LARCH_BENCH_SYNC_COUNT_H
#define LARCH_BENCH_SYNC_COUNT_H

/// The sync calls this process has made since it started, from every thread and every library.
typedef struct {
    long fsync;           ///< fsync(2)
    long fdatasync;       ///< fdatasync(2)
    long syncFileRange;   ///< sync_file_range(2) (starts or waits for writeback; no cache flush)
    long msync;           ///< msync(2) with MS_SYNC
    long dsyncWrites;     ///< write(2)-family calls on descriptors opened with O_DSYNC or O_SYNC,
                          ///< counted only while `larch_sync_watch_writes(1)` is in effect
} LarchSyncCounts;

/// The counts so far (Linux; zeros elsewhere).
LarchSyncCounts larch_sync_counts(void);

/// Turns the O_DSYNC check of every write on (1) or off (0). It costs one fcntl(F_GETFL) per
/// write, so it is on only around the phases that report syncs.
void larch_sync_watch_writes(int on);

/// 1 when every function this target counts is the one the dynamic linker gives all libraries
/// (so their calls are counted too), 0 when any is not (then the counts must not be reported).
int larch_sync_interposed(void);

#endif
