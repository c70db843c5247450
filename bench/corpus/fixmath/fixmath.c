/* Q16.16 fixed-point math for MCUs without an FPU: rounding multiply,
 * saturating divide, exact square root, and sine / cosine by range
 * reduction and a Taylor series evaluated in fixed point. */
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

typedef int32_t fix16;

#define FIX16_ONE 0x10000
#define FIX16_PI 205887
#define FIX16_HALF_PI 102944
#define FIX16_TWO_PI 411775
#define FIX16_OVERFLOW ((fix16)0x80000000u)

/* a * b rounded to nearest (halves up). */
EXPORT("fix16_mul") fix16 fix16_mul(fix16 a, fix16 b) {
    int64_t product = (int64_t)a * b;
    return (fix16)((product + 0x8000) >> 16);
}

/* a / b truncated toward zero; FIX16_OVERFLOW for b == 0 or a result out of range. */
EXPORT("fix16_div") fix16 fix16_div(fix16 a, fix16 b) {
    if (b == 0) return FIX16_OVERFLOW;
    uint64_t num = (uint64_t)(a < 0 ? -(int64_t)a : a) << 16;
    uint64_t den = (uint64_t)(b < 0 ? -(int64_t)b : b);
    uint64_t q = 0, bit = 1;
    while (den < num && !(den >> 63)) {
        den <<= 1;
        bit <<= 1;
    }
    while (bit) {
        if (num >= den) {
            num -= den;
            q |= bit;
        }
        den >>= 1;
        bit >>= 1;
    }
    int negative = (a < 0) != (b < 0);
    if (q > (negative ? 0x80000000u : 0x7fffffffu)) return FIX16_OVERFLOW;
    return negative ? (fix16)(0u - (uint32_t)q) : (fix16)q;
}

/* floor(sqrt(x)) in Q16.16, exactly; FIX16_OVERFLOW for x < 0. */
EXPORT("fix16_sqrt") fix16 fix16_sqrt(fix16 x) {
    if (x < 0) return FIX16_OVERFLOW;
    uint64_t n = (uint64_t)x << 16, root = 0, bit = (uint64_t)1 << 46;
    while (bit > n) bit >>= 2;
    while (bit) {
        if (n >= root + bit) {
            n -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (fix16)root;
}

EXPORT("fix16_sin") fix16 fix16_sin(fix16 x) {
    x %= FIX16_TWO_PI;
    if (x > FIX16_PI) x -= FIX16_TWO_PI;
    if (x < -FIX16_PI) x += FIX16_TWO_PI;
    if (x > FIX16_HALF_PI) x = FIX16_PI - x;
    if (x < -FIX16_HALF_PI) x = -FIX16_PI - x;
    fix16 x2 = fix16_mul(x, x), term = x, result = x;
    static const int32_t divisors[4] = {-6, 120, -5040, 362880};
    for (int i = 0; i < 4; i++) {
        term = fix16_mul(term, x2);
        result += term / divisors[i];
    }
    return result;
}

EXPORT("fix16_cos") fix16 fix16_cos(fix16 x) {
    x %= FIX16_TWO_PI;
    return fix16_sin(x + FIX16_HALF_PI);
}
