// CRC32C (Castagnoli, reflected polynomial 0x82F63B78) with hardware acceleration where available.
#include "CLarchSupport.h"
#include <string.h>

static uint32_t table[8][256];
static int table_ready = 0;

static void build_table(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        table[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = table[0][n];
        for (int t = 1; t < 8; t++) { c = table[0][c & 0xff] ^ (c >> 8); table[t][n] = c; }
    }
    __atomic_store_n(&table_ready, 1, __ATOMIC_RELEASE);
}

uint32_t larch_crc32c_portable(uint32_t crc, const void *bytes, size_t length) {
    if (!__atomic_load_n(&table_ready, __ATOMIC_ACQUIRE)) build_table(); // idempotent, racing is harmless
    const uint8_t *p = (const uint8_t *)bytes;
    crc = ~crc;
    while (length >= 8) {
        uint64_t w; memcpy(&w, p, 8);
        uint32_t lo = (uint32_t)w ^ crc, hi = (uint32_t)(w >> 32);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^ table[4][lo >> 24] ^
              table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^ table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
        p += 8; length -= 8;
    }
    while (length--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}


// ---- Combining independent CRC streams -------------------------------------------------------
// The CRC register is linear over GF(2): running it over bytes B from state s gives
// (s · x^(8|B|) mod P) ⊕ (the register after B from state 0). Reflected bit order throughout.

/// a · b mod P, both reflected (bit 31 is the coefficient of x^0).
static uint32_t gf2_multiply(uint32_t a, uint32_t b) {
    uint32_t product = 0;
    for (int i = 0; i < 32; i++) {   // branchless: the data decides nothing about control flow
        product ^= b & (0u - (a >> 31));
        a <<= 1;
        b = (b >> 1) ^ (0x82F63B78u & (0u - (b & 1)));
    }
    return product;
}

/// x^(8·n) mod P, reflected.
static uint32_t x_pow_8n(size_t n) {
    uint32_t result = 0x80000000u;   // x^0
    uint32_t square = 0x00800000u;   // x^8
    while (n) {
        if (n & 1) result = gf2_multiply(result, square);
        square = gf2_multiply(square, square);
        n >>= 1;
    }
    return result;
}

// Three streams of 1,360 bytes cover 4,080 of a 4 KiB page, leaving 16 bytes for the tail.
#define BLOCK 1360
// Combining the streams multiplies a CRC by the constants x^(8·BLOCK) and x^(8·2·BLOCK) mod P.
// Multiplication by a constant is linear over GF(2), so it is four table lookups, one per byte of
// the CRC: shift_table[k][j][b] = (b << 8j) · constant k. 8 KiB, computed once on first use.
static uint32_t shift_table[2][4][256];
static int shift_table_ready = 0;

static void compute_shifts(void) {
    uint32_t constants[2] = { x_pow_8n(BLOCK), x_pow_8n(2 * BLOCK) };
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 4; j++)
            for (uint32_t b = 0; b < 256; b++) shift_table[k][j][b] = gf2_multiply(b << (8 * j), constants[k]);
    __atomic_store_n(&shift_table_ready, 1, __ATOMIC_RELEASE); // idempotent, racing is harmless
}

/// crc · constant k, by table.
static inline uint32_t shift(int k, uint32_t crc) {
    return shift_table[k][0][crc & 0xff] ^ shift_table[k][1][(crc >> 8) & 0xff] ^
           shift_table[k][2][(crc >> 16) & 0xff] ^ shift_table[k][3][crc >> 24];
}

#if defined(__x86_64__)
#include <cpuid.h>
__attribute__((target("sse4.2")))
static uint32_t crc32c_sse42(uint32_t crc, const void *bytes, size_t length) {
    const uint8_t *p = (const uint8_t *)bytes;
    uint64_t c = ~crc;
    if (length >= 3 * BLOCK) {
        if (!__atomic_load_n(&shift_table_ready, __ATOMIC_ACQUIRE)) compute_shifts();
        while (length >= 3 * BLOCK) {
            uint64_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < BLOCK; i += 8) {
                uint64_t a, b, d;
                memcpy(&a, p + i, 8); memcpy(&b, p + BLOCK + i, 8); memcpy(&d, p + 2 * BLOCK + i, 8);
                c = __builtin_ia32_crc32di(c, a);
                c1 = __builtin_ia32_crc32di(c1, b);
                c2 = __builtin_ia32_crc32di(c2, d);
            }
            c = shift(1, (uint32_t)c) ^ shift(0, (uint32_t)c1) ^ (uint32_t)c2;
            p += 3 * BLOCK; length -= 3 * BLOCK;
        }
    }
    while (length >= 8) { uint64_t w; memcpy(&w, p, 8); c = __builtin_ia32_crc32di(c, w); p += 8; length -= 8; }
    uint32_t c32 = (uint32_t)c;
    while (length--) c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    return (c & bit_SSE4_2) != 0;
}
#define HW_IMPL crc32c_sse42
#elif defined(__aarch64__) && (defined(__linux__) || defined(__APPLE__))
#include <arm_acle.h>
#if defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_CRC32
#define HWCAP_CRC32 (1 << 7)
#endif
static int detect(void) { return (getauxval(AT_HWCAP) & HWCAP_CRC32) != 0; }
#else
static int detect(void) { return 1; } // every Apple arm64 CPU has the CRC extension
#endif
__attribute__((target("crc")))
static uint32_t crc32c_arm(uint32_t crc, const void *bytes, size_t length) {
    const uint8_t *p = (const uint8_t *)bytes;
    uint32_t c = ~crc;
    if (length >= 3 * BLOCK) {
        if (!__atomic_load_n(&shift_table_ready, __ATOMIC_ACQUIRE)) compute_shifts();
        while (length >= 3 * BLOCK) {
            uint32_t c1 = 0, c2 = 0;
            for (size_t i = 0; i < BLOCK; i += 8) {
                uint64_t a, b, d;
                memcpy(&a, p + i, 8); memcpy(&b, p + BLOCK + i, 8); memcpy(&d, p + 2 * BLOCK + i, 8);
                c = __crc32cd(c, a); c1 = __crc32cd(c1, b); c2 = __crc32cd(c2, d);
            }
            c = shift(1, c) ^ shift(0, c1) ^ c2;
            p += 3 * BLOCK; length -= 3 * BLOCK;
        }
    }
    while (length >= 8) { uint64_t w; memcpy(&w, p, 8); c = __crc32cd(c, w); p += 8; length -= 8; }
    while (length--) c = __crc32cb(c, *p++);
    return ~c;
}
#define HW_IMPL crc32c_arm
#endif

#ifdef HW_IMPL
static int hw_state = -1; // -1 unknown, 0 no, 1 yes
int larch_crc32c_is_hardware(void) {
    int s = __atomic_load_n(&hw_state, __ATOMIC_RELAXED);
    if (s < 0) { s = detect(); __atomic_store_n(&hw_state, s, __ATOMIC_RELAXED); }
    return s;
}
uint32_t larch_crc32c(uint32_t crc, const void *bytes, size_t length) {
    return larch_crc32c_is_hardware() ? HW_IMPL(crc, bytes, length) : larch_crc32c_portable(crc, bytes, length);
}
#else
int larch_crc32c_is_hardware(void) { return 0; }
uint32_t larch_crc32c(uint32_t crc, const void *bytes, size_t length) { return larch_crc32c_portable(crc, bytes, length); }
#endif
