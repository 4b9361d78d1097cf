/* ufidcert's own C port of MurmurHash3 128-bit, with the calling convention of
 * Open vSwitch's hash_bytes128() (lib/hash.c):
 *
 *     void f(const void *p, size_t n, uint32_t basis, ovs_u128 *out);
 *
 * It exists to exercise `ufidcert vectors --impl c:LIBRARY:SYMBOL`: the tests
 * compile it into a temporary shared library with gcc and load it through
 * ctypes, exactly as a vendor would check its own port.
 *
 * Exported symbols:
 *   ufidcert_murmur3_x64_128   MurmurHash3_x64_128 (OVS on x86_64/aarch64)
 *   ufidcert_murmur3_x86_128   MurmurHash3_x86_128 (OVS on other targets)
 *
 * -DUFIDCERT_BREAK_TAIL compiles a deliberately wrong port that ignores the
 * last byte of a partial tail block, so the tests can show that the command
 * reports a failing implementation.
 *
 * Written for little-endian hosts (input words are read little-endian with
 * memcpy, which is also what makes unaligned input safe).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef union {
    uint32_t u32[4];
    struct {
        uint64_t lo, hi;            /* little-endian layout, as OVS on LE */
    } u64;
} ovs_u128;

#ifdef UFIDCERT_BREAK_TAIL
#define TAIL_LEN(n) ((n) % 16 ? (n) % 16 - 1 : 0)
#else
#define TAIL_LEN(n) ((n) % 16)
#endif

static inline uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

static inline uint64_t load64(const uint8_t *p) { uint64_t v; memcpy(&v, p, 8); return v; }
static inline uint32_t load32(const uint8_t *p) { uint32_t v; memcpy(&v, p, 4); return v; }

/* Little-endian integer from up to 8 bytes. */
static uint64_t partial_le(const uint8_t *p, size_t len)
{
    uint64_t v = 0;
    for (size_t i = len; i > 0; i--) {
        v = (v << 8) | p[i - 1];
    }
    return v;
}

static uint64_t avalanche64(uint64_t k)
{
    k ^= k >> 33;
    k *= UINT64_C(0xff51afd7ed558ccd);
    k ^= k >> 33;
    k *= UINT64_C(0xc4ceb9fe1a85ec53);
    k ^= k >> 33;
    return k;
}

static uint32_t avalanche32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

#define X64_C1 UINT64_C(0x87c37b91114253d5)
#define X64_C2 UINT64_C(0x4cf5ad432745937f)

static inline uint64_t scramble_a(uint64_t k) { return rotl64(k * X64_C1, 31) * X64_C2; }
static inline uint64_t scramble_b(uint64_t k) { return rotl64(k * X64_C2, 33) * X64_C1; }

void ufidcert_murmur3_x64_128(const void *p, size_t n, uint32_t basis, ovs_u128 *out)
{
    const uint8_t *bytes = p;
    size_t full = n / 16;
    uint64_t a = basis, b = basis;

    for (size_t i = 0; i < full; i++) {
        const uint8_t *blk = bytes + 16 * i;

        a ^= scramble_a(load64(blk));
        a = rotl64(a, 27) + b;
        a = a * 5 + 0x52dce729;

        b ^= scramble_b(load64(blk + 8));
        b = rotl64(b, 31) + a;
        b = b * 5 + 0x38495ab5;
    }

    const uint8_t *rest = bytes + 16 * full;
    size_t rest_len = TAIL_LEN(n);
    if (rest_len > 8) {
        b ^= scramble_b(partial_le(rest + 8, rest_len - 8));
    }
    if (rest_len > 0) {
        a ^= scramble_a(partial_le(rest, rest_len > 8 ? 8 : rest_len));
    }

    a ^= (uint64_t) n;
    b ^= (uint64_t) n;
    a += b;
    b += a;
    a = avalanche64(a);
    b = avalanche64(b);
    a += b;
    b += a;

    out->u64.lo = a;
    out->u64.hi = b;
}

static const uint32_t X86_C[4] = { 0x239b961bu, 0xab0e9789u, 0x38b34ae5u, 0xa1e38b93u };
static const int X86_KROT[4] = { 15, 16, 17, 18 };
static const int X86_HROT[4] = { 19, 17, 15, 13 };
static const uint32_t X86_HADD[4] = { 0x561ccd1bu, 0x0bcaa747u, 0x96cd1c35u, 0x32ac3b17u };

static inline uint32_t scramble32(int lane, uint32_t k)
{
    return rotl32(k * X86_C[lane], X86_KROT[lane]) * X86_C[(lane + 1) % 4];
}

void ufidcert_murmur3_x86_128(const void *p, size_t n, uint32_t basis, ovs_u128 *out)
{
    const uint8_t *bytes = p;
    size_t full = n / 16;
    uint32_t h[4] = { basis, basis, basis, basis };

    for (size_t i = 0; i < full; i++) {
        const uint8_t *blk = bytes + 16 * i;
        for (int lane = 0; lane < 4; lane++) {
            uint32_t x = h[lane] ^ scramble32(lane, load32(blk + 4 * lane));
            x = rotl32(x, X86_HROT[lane]) + h[(lane + 1) % 4];
            h[lane] = x * 5 + X86_HADD[lane];
        }
    }

    const uint8_t *rest = bytes + 16 * full;
    size_t rest_len = TAIL_LEN(n);
    for (int lane = 0; lane < 4; lane++) {
        size_t start = 4 * (size_t) lane;
        if (rest_len > start) {
            size_t len = rest_len - start > 4 ? 4 : rest_len - start;
            h[lane] ^= scramble32(lane, (uint32_t) partial_le(rest + start, len));
        }
    }

    for (int lane = 0; lane < 4; lane++) {
        h[lane] ^= (uint32_t) n;
    }
    for (int round = 0; round < 2; round++) {
        h[0] += h[1] + h[2] + h[3];
        h[1] += h[0];
        h[2] += h[0];
        h[3] += h[0];
        if (round == 0) {
            for (int lane = 0; lane < 4; lane++) {
                h[lane] = avalanche32(h[lane]);
            }
        }
    }

    memcpy(out->u32, h, sizeof h);
}
