#ifndef CLARCH_SUPPORT_H
#define CLARCH_SUPPORT_H

#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli) checksum over `length` bytes at `bytes`.
/// Pass 0 as `crc` to start. Uses SSE4.2 or the ARMv8 CRC instructions when the CPU has them
/// (checked once at run time), and a portable table-driven loop otherwise.
uint32_t larch_crc32c(uint32_t crc, const void *bytes, size_t length);

/// The portable software implementation, exposed so tests can compare it with the hardware path.
uint32_t larch_crc32c_portable(uint32_t crc, const void *bytes, size_t length);

/// 1 when the hardware path is in use on this CPU, 0 otherwise.
int larch_crc32c_is_hardware(void);

/// Copies `length` bytes from `source` to `destination` (which must not overlap) and returns the
/// CRC32C of those bytes continuing from `crc`, reading the source once where the CPU can fold.
uint32_t larch_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t length);

/// The hardware CRC instruction (or the portable loop) without folding, for tests to compare.
uint32_t larch_crc32c_without_folding(uint32_t crc, const void *bytes, size_t length);

#endif
