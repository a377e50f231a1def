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

// ---- Folding with carry-less multiplication (AVX-512 VPCLMULQDQ) ------------------------------
// Long buffers are folded 256 bytes at a time in four 512-bit accumulators, then folded down to
// 128 bits, which the CRC instruction finishes. In the reflected representation a 128-bit register
// R holds the polynomial Lo·x^64 + Hi (Lo its low quadword, the earlier bytes). Moving R forward by
// D bits multiplies it by x^D: Lo·x^(64+D) + Hi·x^D, and modulo P each factor is a 32-bit constant.
// A carry-less product of two reflected quadwords carries one extra factor x, so the constants
// are x^(D+63) and x^(D-1) mod P, each shifted into the high half of its quadword.
#include <immintrin.h>

/// x^n mod P, reflected (bit 31 is the coefficient of x^0).
static uint32_t x_pow(size_t n) {
    uint32_t c = 0x80000000u;
    while (n--) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1)));
    return c;
}

/// Fold constants for D = 128, 512 and 2048 bits: { for the low quadword, for the high quadword }.
static uint64_t fold_constants[3][2];
static int fold_constants_ready = 0;

static void compute_fold_constants(void) {
    static const size_t distances[3] = { 128, 512, 2048 };
    for (int i = 0; i < 3; i++) {
        fold_constants[i][0] = (uint64_t)x_pow(distances[i] + 63) << 32;
        fold_constants[i][1] = (uint64_t)x_pow(distances[i] - 1) << 32;
    }
    __atomic_store_n(&fold_constants_ready, 1, __ATOMIC_RELEASE); // idempotent, racing is harmless
}

#define FOLD_TARGET __attribute__((target("avx512f,avx512vl,vpclmulqdq,pclmul,sse4.2")))

FOLD_TARGET static inline __m512i fold512(__m512i x, __m512i k, __m512i next) {
    return _mm512_ternarylogic_epi64(_mm512_clmulepi64_epi128(x, k, 0x00),
                                     _mm512_clmulepi64_epi128(x, k, 0x11), next, 0x96);
}

FOLD_TARGET static inline __m128i fold128(__m128i x, __m128i k, __m128i next) {
    return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), next);
}

/// Loads the 256 bytes at `p` into `y`, and stores them at `copy` unless it is NULL; returns where
/// the next copy goes.
FOLD_TARGET static inline uint8_t *load256(const uint8_t *p, uint8_t *copy, __m512i y[4]) {
    for (int i = 0; i < 4; i++) y[i] = _mm512_loadu_si512(p + 64 * i);
    if (!copy) return NULL;
    for (int i = 0; i < 4; i++) _mm512_storeu_si512(copy + 64 * i, y[i]);
    return copy + 256;
}

/// The CRC of `length` (at least 256) bytes at `p`, continuing from `crc`; when `copy` is not
/// NULL the bytes are also copied there, read once for both.
FOLD_TARGET static uint32_t crc32c_fold(uint32_t crc, const uint8_t *p, size_t length, uint8_t *copy) {
    if (!__atomic_load_n(&fold_constants_ready, __ATOMIC_ACQUIRE)) compute_fold_constants();
    const __m128i k128 = _mm_set_epi64x((long long)fold_constants[0][1], (long long)fold_constants[0][0]);
    const __m512i k512 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)fold_constants[1][1], (long long)fold_constants[1][0]));
    const __m512i k2048 = _mm512_broadcast_i32x4(_mm_set_epi64x((long long)fold_constants[2][1], (long long)fold_constants[2][0]));

    __m512i x[4], y[4];
    copy = load256(p, copy, x);
    // The running CRC enters as the first four bytes' XOR.
    x[0] = _mm512_xor_si512(x[0], _mm512_zextsi128_si512(_mm_cvtsi32_si128((int)~crc)));
    p += 256; length -= 256;
    while (length >= 256) {
        copy = load256(p, copy, y);
        for (int i = 0; i < 4; i++) x[i] = fold512(x[i], k2048, y[i]);
        p += 256; length -= 256;
    }
    __m512i folded = fold512(fold512(fold512(x[0], k512, x[1]), k512, x[2]), k512, x[3]);
    while (length >= 64) {
        __m512i next = _mm512_loadu_si512(p);
        if (copy) { _mm512_storeu_si512(copy, next); copy += 64; }
        folded = fold512(folded, k512, next);
        p += 64; length -= 64;
    }
    __m128i r = _mm512_extracti32x4_epi32(folded, 0);
    r = fold128(r, k128, _mm512_extracti32x4_epi32(folded, 1));
    r = fold128(r, k128, _mm512_extracti32x4_epi32(folded, 2));
    r = fold128(r, k128, _mm512_extracti32x4_epi32(folded, 3));
    while (length >= 16) {
        __m128i y = _mm_loadu_si128((const __m128i *)p);
        if (copy) { _mm_storeu_si128((__m128i *)copy, y); copy += 16; }
        r = fold128(r, k128, y);
        p += 16; length -= 16;
    }
    if (copy && length) memcpy(copy, p, length);
    // The folded 128 bits are a message whose CRC from state 0 is the CRC so far.
    uint64_t c = _mm_crc32_u64(0, (uint64_t)_mm_cvtsi128_si64(r));
    c = _mm_crc32_u64(c, (uint64_t)_mm_extract_epi64(r, 1));
    uint32_t c32 = (uint32_t)c;
    while (length >= 8) { uint64_t w; memcpy(&w, p, 8); c32 = (uint32_t)_mm_crc32_u64(c32, w); p += 8; length -= 8; }
    while (length--) c32 = _mm_crc32_u8(c32, *p++);
    return ~c32;
}

#ifndef bit_AVX512F
#define bit_AVX512F (1u << 16)
#endif
#ifndef bit_AVX512VL
#define bit_AVX512VL (1u << 31)
#endif
#ifndef bit_VPCLMULQDQ
#define bit_VPCLMULQDQ (1u << 10)
#endif
#ifndef bit_PCLMUL
#define bit_PCLMUL (1u << 1)
#endif
#ifndef bit_OSXSAVE
#define bit_OSXSAVE (1u << 27)
#endif

static int detect_fold(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    if (!(c & bit_SSE4_2) || !(c & bit_PCLMUL) || !(c & bit_OSXSAVE)) return 0;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 0xE6) != 0xE6) return 0;   // the OS saves SSE, AVX and all AVX-512 state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b & bit_AVX512F) && (b & bit_AVX512VL) && (c & bit_VPCLMULQDQ);
}

static int fold_state = -1; // -1 unknown, 0 no, 1 yes
static int has_fold(void) {
    int s = __atomic_load_n(&fold_state, __ATOMIC_RELAXED);
    if (s < 0) { s = detect_fold(); __atomic_store_n(&fold_state, s, __ATOMIC_RELAXED); }
    return s;
}

/// Below this length the CRC instruction's three streams are as fast as folding.
#define FOLD_MINIMUM 512

static uint32_t crc32c_x86(uint32_t crc, const void *bytes, size_t length) {
    if (length >= FOLD_MINIMUM && has_fold()) return crc32c_fold(crc, (const uint8_t *)bytes, length, NULL);
    return crc32c_sse42(crc, bytes, length);
}

uint32_t larch_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t length) {
    if (length >= FOLD_MINIMUM && has_fold()) return crc32c_fold(crc, (const uint8_t *)source, length, (uint8_t *)destination);
    if (length) memcpy(destination, source, length);
    return larch_crc32c(crc, source, length);
}

int larch_crc32c_is_hardware(void);
uint32_t larch_crc32c_without_folding(uint32_t crc, const void *bytes, size_t length) {
    return larch_crc32c_is_hardware() ? crc32c_sse42(crc, bytes, length) : larch_crc32c_portable(crc, bytes, length);
}
#define HW_IMPL crc32c_x86
#define HAS_COPY_IMPL 1
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

#ifndef HAS_COPY_IMPL
uint32_t larch_crc32c_copy(uint32_t crc, void *destination, const void *source, size_t length) {
    if (length) memcpy(destination, source, length);
    return larch_crc32c(crc, source, length);
}
uint32_t larch_crc32c_without_folding(uint32_t crc, const void *bytes, size_t length) { return larch_crc32c(crc, bytes, length); }
#endif
