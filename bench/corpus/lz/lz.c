/* An LZ77 byte compressor for logs and firmware images: a 4 KiB window,
 * a hash table of 3-byte prefixes, and a token stream of literal runs and
 * (length, distance) matches; plus its decompressor, which checks bounds.
 *
 * Stream: a control byte c; c < 0x80: c + 1 literals follow; otherwise a
 * match of (c & 0x7f) + 3 bytes at a distance of the next two bytes + 1. */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

#define WINDOW 4096u
#define HASH_BITS 10
#define MIN_MATCH 3u
#define MAX_MATCH (0x7fu + MIN_MATCH)
#define MAX_LITERALS 128u

static uint16_t head[1 << HASH_BITS];

static uint32_t hash3(const uint8_t *p) {
    return ((uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2]) * 2654435761u >> (32 - HASH_BITS);
}

static uint32_t flush_literals(uint8_t *out, uint32_t o, const uint8_t *lit, uint32_t n) {
    out[o++] = (uint8_t)(n - 1);
    for (uint32_t i = 0; i < n; i++) out[o++] = lit[i];
    return o;
}

/* Compresses n bytes; returns the stream's length, or 0 if it would not
 * fit in cap bytes (the worst case is n + n / 128 + 1). */
EXPORT("lz_compress") uint32_t lz_compress(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap) {
    if (cap < n + n / MAX_LITERALS + 1) return 0;
    for (uint32_t i = 0; i < (1u << HASH_BITS); i++) head[i] = 0xffff;
    uint32_t o = 0, i = 0, lit_start = 0;
    while (i + MIN_MATCH <= n) {
        uint32_t h = hash3(in + i), cand = head[h], len = 0;
        head[h] = (uint16_t)(i & 0xffff);
        if (cand != 0xffff) {
            cand |= i & ~0xffffu;
            if (cand > i) cand -= 0x10000;
        }
        if (cand != 0xffff && cand < i && i - cand <= WINDOW) {
            while (len < MAX_MATCH && i + len < n && in[cand + len] == in[i + len]) len++;
        }
        if (len >= MIN_MATCH) {
            while (i > lit_start) {
                uint32_t run = i - lit_start < MAX_LITERALS ? i - lit_start : MAX_LITERALS;
                o = flush_literals(out, o, in + lit_start, run);
                lit_start += run;
            }
            uint32_t dist = i - cand - 1;
            out[o++] = (uint8_t)(0x80 | (len - MIN_MATCH));
            out[o++] = (uint8_t)(dist >> 8);
            out[o++] = (uint8_t)dist;
            for (uint32_t k = 1; k < len && i + k + MIN_MATCH <= n; k++) head[hash3(in + i + k)] = (uint16_t)(i + k);
            i += len;
            lit_start = i;
        } else {
            i++;
        }
    }
    while (n > lit_start) {
        uint32_t run = n - lit_start < MAX_LITERALS ? n - lit_start : MAX_LITERALS;
        o = flush_literals(out, o, in + lit_start, run);
        lit_start += run;
    }
    return o;
}

/* Decompresses; returns the output length, or -1 on a corrupt stream. */
EXPORT("lz_decompress") int32_t lz_decompress(const uint8_t *in, uint32_t n, uint8_t *out, uint32_t cap) {
    uint32_t i = 0, o = 0;
    while (i < n) {
        uint32_t c = in[i++];
        if (c < 0x80) {
            uint32_t run = c + 1;
            if (i + run > n || o + run > cap) return -1;
            while (run--) out[o++] = in[i++];
        } else {
            if (i + 2 > n) return -1;
            uint32_t len = (c & 0x7f) + MIN_MATCH, dist = ((uint32_t)in[i] << 8 | in[i + 1]) + 1;
            i += 2;
            if (dist > o || o + len > cap) return -1;
            while (len--) {
                out[o] = out[o - dist];
                o++;
            }
        }
    }
    return (int32_t)o;
}

/* Known answers. 0: the compressed length of `sample`; 1: the round trip
 * gives `sample` back (1) or not (0); 2: the FNV-1a hash of what a
 * hand-made stream decodes to ("abcabcabcabc!", see below); 3: a corrupt
 * stream (a match before the start) is refused (-1). */
static const char sample[] =
    "sensor=12 status=ok sensor=13 status=ok sensor=12 status=warn sensor=12 status=ok "
    "sensor=14 status=ok sensor=12 status=ok sensor=12 status=ok sensor=15 status=fail";
static const uint8_t made[] = {2, 'a', 'b', 'c', 0x80 | 6, 0, 2, 0, '!'};
static const uint8_t corrupt[] = {0, 'x', 0x80, 0, 5};
static uint8_t packed[256], unpacked[256];

EXPORT("lz_kat") int32_t lz_kat(uint32_t which) {
    uint32_t n = sizeof sample - 1;
    if (which == 0) return (int32_t)lz_compress((const uint8_t *)sample, n, packed, sizeof packed);
    if (which == 1) {
        uint32_t m = lz_compress((const uint8_t *)sample, n, packed, sizeof packed);
        if (lz_decompress(packed, m, unpacked, sizeof unpacked) != (int32_t)n) return 0;
        for (uint32_t i = 0; i < n; i++)
            if (unpacked[i] != (uint8_t)sample[i]) return 0;
        return 1;
    }
    if (which == 2) {
        int32_t m = lz_decompress(made, sizeof made, unpacked, sizeof unpacked);
        uint32_t h = 2166136261u;
        for (int32_t i = 0; i < m; i++) h = (h ^ unpacked[i]) * 16777619u;
        return (int32_t)h;
    }
    return lz_decompress(corrupt, sizeof corrupt, unpacked, sizeof unpacked);
}
