// Counts the process's sync calls by defining fsync, fdatasync, sync_file_range, msync and the
// write(2) family in the executable itself. The dynamic linker binds every shared library's calls
// (liblmdb, libsqlite3, librocksdb) to the executable's definitions, and Larch's Swift code is
// linked into the executable, so every call of the process passes through here; each one is
// counted and forwarded to the C library's own function (dlsym RTLD_NEXT).
// `larch_sync_interposed()` checks that the binding really is so before any count is reported.
#define _GNU_SOURCE
#include "sync_count.h"

#ifdef __linux__
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static atomic_long fsyncCount, fdatasyncCount, rangeCount, msyncCount, dsyncWriteCount;
static atomic_int watchWrites;

/// The C library's `name`, looked up on first use (a library's constructor may call before ours run).
static void *next(_Atomic(void *) *slot, const char *name) {
    void *f = atomic_load_explicit(slot, memory_order_acquire);
    if (f == NULL) {
        f = dlsym(RTLD_NEXT, name);
        atomic_store_explicit(slot, f, memory_order_release);
    }
    return f;
}

/// Declares `real`: the C library's function of the same name and type as `fn`.
#define NEXT(fn) \
    static _Atomic(void *) slot; \
    __typeof__(&fn) real = (__typeof__(&fn))next(&slot, #fn); \
    if (real == NULL) { errno = ENOSYS; return -1; }

static inline void noteWrite(int fd, ssize_t result) {
    if (result >= 0 && atomic_load_explicit(&watchWrites, memory_order_relaxed)) {
        int flags = fcntl(fd, F_GETFL);
        if (flags >= 0 && (flags & O_DSYNC) == O_DSYNC) atomic_fetch_add_explicit(&dsyncWriteCount, 1, memory_order_relaxed);
    }
}

int fsync(int fd) {
    NEXT(fsync)
    atomic_fetch_add_explicit(&fsyncCount, 1, memory_order_relaxed);
    return real(fd);
}

int fdatasync(int fd) {
    NEXT(fdatasync)
    atomic_fetch_add_explicit(&fdatasyncCount, 1, memory_order_relaxed);
    return real(fd);
}

int sync_file_range(int fd, off64_t offset, off64_t count, unsigned int flags) {
    NEXT(sync_file_range)
    atomic_fetch_add_explicit(&rangeCount, 1, memory_order_relaxed);
    return real(fd, offset, count, flags);
}

int msync(void *address, size_t length, int flags) {
    NEXT(msync)
    if (flags & MS_SYNC) atomic_fetch_add_explicit(&msyncCount, 1, memory_order_relaxed);
    return real(address, length, flags);
}

ssize_t write(int fd, const void *buffer, size_t count) {
    NEXT(write)
    ssize_t n = real(fd, buffer, count);
    noteWrite(fd, n);
    return n;
}

ssize_t writev(int fd, const struct iovec *iov, int count) {
    NEXT(writev)
    ssize_t n = real(fd, iov, count);
    noteWrite(fd, n);
    return n;
}

ssize_t pwrite(int fd, const void *buffer, size_t count, off_t offset) {
    NEXT(pwrite)
    ssize_t n = real(fd, buffer, count, offset);
    noteWrite(fd, n);
    return n;
}

ssize_t pwrite64(int fd, const void *buffer, size_t count, off64_t offset) {
    NEXT(pwrite64)
    ssize_t n = real(fd, buffer, count, offset);
    noteWrite(fd, n);
    return n;
}

ssize_t pwritev(int fd, const struct iovec *iov, int count, off_t offset) {
    NEXT(pwritev)
    ssize_t n = real(fd, iov, count, offset);
    noteWrite(fd, n);
    return n;
}

ssize_t pwritev64(int fd, const struct iovec *iov, int count, off64_t offset) {
    NEXT(pwritev64)
    ssize_t n = real(fd, iov, count, offset);
    noteWrite(fd, n);
    return n;
}

LarchSyncCounts larch_sync_counts(void) {
    LarchSyncCounts c;
    c.fsync = atomic_load(&fsyncCount);
    c.fdatasync = atomic_load(&fdatasyncCount);
    c.syncFileRange = atomic_load(&rangeCount);
    c.msync = atomic_load(&msyncCount);
    c.dsyncWrites = atomic_load(&dsyncWriteCount);
    return c;
}

void larch_sync_watch_writes(int on) { atomic_store(&watchWrites, on ? 1 : 0); }

int larch_sync_interposed(void) {
    struct { const char *name; void *mine; } functions[] = {
        {"fsync", (void *)fsync}, {"fdatasync", (void *)fdatasync}, {"sync_file_range", (void *)sync_file_range},
        {"msync", (void *)msync}, {"write", (void *)write}, {"writev", (void *)writev}, {"pwrite", (void *)pwrite},
        {"pwrite64", (void *)pwrite64}, {"pwritev", (void *)pwritev}, {"pwritev64", (void *)pwritev64},
    };
    for (size_t i = 0; i < sizeof functions / sizeof functions[0]; i++) {
        if (dlsym(RTLD_DEFAULT, functions[i].name) != functions[i].mine) return 0;
    }
    return 1;
}

#else

LarchSyncCounts larch_sync_counts(void) {
    LarchSyncCounts c = {0, 0, 0, 0, 0};
    return c;
}
void larch_sync_watch_writes(int on) { (void)on; }
int larch_sync_interposed(void) { return 0; }

#endif
