/* wasmelt's freestanding libc: <stdlib.h> without a heap (no malloc); weak,
 * so a component's own definition wins. There is no errno: an out-of-range
 * strto* result is clamped to the type's limit, as the standard says. */
#include <limits.h>
#include <stdlib.h>

#define WEAK __attribute__((weak))

WEAK int abs(int x) { return x < 0 ? -x : x; }
WEAK long labs(long x) { return x < 0 ? -x : x; }
WEAK long long llabs(long long x) { return x < 0 ? -x : x; }
WEAK div_t div(int num, int den) { return (div_t){num / den, num % den}; }
WEAK ldiv_t ldiv(long num, long den) { return (ldiv_t){num / den, num % den}; }
WEAK lldiv_t lldiv(long long num, long long den) { return (lldiv_t){num / den, num % den}; }

WEAK _Noreturn void abort(void) { __builtin_trap(); }
WEAK _Noreturn void exit(int status) { (void)status; __builtin_trap(); }

static int strto_digit(char c) {
    if ((unsigned)c - '0' < 10) return c - '0';
    if ((unsigned)(c | 32) - 'a' < 26) return (c | 32) - 'a' + 10;
    return 99;
}

/* The magnitude of the number at s, `*negative` set from its sign; *overflow
 * when it does not fit in unsigned long long; *end past the last digit used. */
static unsigned long long strto_magnitude(const char *s, char **end, int base, int *negative, int *overflow) {
    const char *p = s;
    unsigned long long value = 0;
    int any = 0;
    *negative = *overflow = 0;
    while (*p == ' ' || (unsigned)*p - '\t' < 5) p++;
    if (*p == '+' || *p == '-') *negative = *p++ == '-';
    if ((base == 0 || base == 16) && p[0] == '0' && (p[1] | 32) == 'x' && strto_digit(p[2]) < 16) {
        p += 2;
        base = 16;
    } else if (base == 0) {
        base = *p == '0' ? 8 : 10;
    }
    if (base >= 2 && base <= 36) {
        for (int d; (d = strto_digit(*p)) < base; p++, any = 1) {
            if (value > (ULLONG_MAX - (unsigned)d) / (unsigned)base) *overflow = 1;
            value = value * (unsigned)base + (unsigned)d;
        }
    }
    if (end) *end = (char *)(any ? p : s);
    return any ? value : 0;
}

WEAK unsigned long long strtoull(const char *restrict s, char **restrict end, int base) {
    int negative, overflow;
    unsigned long long v = strto_magnitude(s, end, base, &negative, &overflow);
    if (overflow) return ULLONG_MAX;
    return negative ? -v : v;
}

WEAK long long strtoll(const char *restrict s, char **restrict end, int base) {
    int negative, overflow;
    unsigned long long v = strto_magnitude(s, end, base, &negative, &overflow);
    if (negative) return overflow || v > (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : (long long)-v;
    return overflow || v > LLONG_MAX ? LLONG_MAX : (long long)v;
}

WEAK unsigned long strtoul(const char *restrict s, char **restrict end, int base) {
    int negative, overflow;
    unsigned long long v = strto_magnitude(s, end, base, &negative, &overflow);
    if (overflow || v > ULONG_MAX) return ULONG_MAX;
    return negative ? -(unsigned long)v : (unsigned long)v;
}

WEAK long strtol(const char *restrict s, char **restrict end, int base) {
    int negative, overflow;
    unsigned long long v = strto_magnitude(s, end, base, &negative, &overflow);
    if (negative) return overflow || v > (unsigned long long)LONG_MAX + 1 ? LONG_MIN : (long)-v;
    return overflow || v > LONG_MAX ? LONG_MAX : (long)v;
}

WEAK int atoi(const char *s) { return (int)strtol(s, NULL, 10); }
WEAK long atol(const char *s) { return strtol(s, NULL, 10); }
WEAK long long atoll(const char *s) { return strtoll(s, NULL, 10); }

static void qsort_swap(unsigned char *a, unsigned char *b, size_t size) {
    while (size--) {
        unsigned char t = *a;
        *a++ = *b;
        *b++ = t;
    }
}

/* Shell sort: no recursion (the shadow stack stays flat) and no scratch memory. */
WEAK void qsort(void *base, size_t count, size_t size, int (*compare)(const void *, const void *)) {
    unsigned char *items = base;
    size_t gap = 1;
    while (gap < count / 3) gap = gap * 3 + 1;
    for (; gap; gap /= 3)
        for (size_t i = gap; i < count; i++)
            for (size_t j = i; j >= gap && compare(items + (j - gap) * size, items + j * size) > 0; j -= gap)
                qsort_swap(items + (j - gap) * size, items + j * size, size);
}

WEAK void *bsearch(const void *key, const void *base, size_t count, size_t size,
                   int (*compare)(const void *, const void *)) {
    const unsigned char *items = base;
    while (count) {
        const unsigned char *middle = items + (count / 2) * size;
        int order = compare(key, middle);
        if (order == 0) return (void *)middle;
        if (order > 0) {
            items = middle + size;
            count -= count / 2 + 1;
        } else {
            count /= 2;
        }
    }
    return NULL;
}
