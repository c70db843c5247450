/* A printf-like formatter into a caller's buffer, as firmware logging
 * uses: %d %i %u %x %X %o %c %s %p %%, flags '-' '0' '+' ' ', a width and
 * a precision (also as '*'), the 'l' modifier; output truncated to fit. */
#include <stdarg.h>
#include <stdint.h>

#define EXPORT(name) __attribute__((export_name(name)))

typedef struct {
    char *buf;
    uint32_t cap, len;
} sink;

static void put(sink *s, char c) {
    if (s->len + 1 < s->cap) s->buf[s->len] = c;
    s->len++;
}

static void pad(sink *s, char c, int32_t n) {
    while (n-- > 0) put(s, c);
}

enum { LEFT = 1, ZERO = 2, PLUS = 4, SPACE = 8 };

static void number(sink *s, uint32_t value, int negative, uint32_t base, int upper, int flags, int32_t width,
                   int32_t precision) {
    static const char lower_digits[] = "0123456789abcdef", upper_digits[] = "0123456789ABCDEF";
    const char *digits = upper ? upper_digits : lower_digits;
    char tmp[12];
    int32_t n = 0;
    while (value) {
        tmp[n++] = digits[value % base];
        value /= base;
    }
    if (precision < 0 && !n) tmp[n++] = '0';
    int32_t zeros = precision > n ? precision - n : 0;
    char sign = negative ? '-' : (flags & PLUS) ? '+' : (flags & SPACE) ? ' ' : 0;
    int32_t total = n + zeros + (sign != 0);
    if ((flags & ZERO) && !(flags & LEFT) && precision < 0 && width > total) {
        zeros += width - total;
        total = width;
    }
    if (!(flags & LEFT)) pad(s, ' ', width - total);
    if (sign) put(s, sign);
    pad(s, '0', zeros);
    while (n) put(s, tmp[--n]);
    if (flags & LEFT) pad(s, ' ', width - total);
}

/* Formats into buf (always NUL-terminated when cap > 0); returns the length
 * the whole output would have, as snprintf does. */
EXPORT("fmt_vformat") uint32_t fmt_vformat(char *buf, uint32_t cap, const char *f, va_list ap) {
    sink s = {buf, cap, 0};
    while (*f) {
        char c = *f++;
        if (c != '%') {
            put(&s, c);
            continue;
        }
        int flags = 0;
        for (;; f++) {
            if (*f == '-') flags |= LEFT;
            else if (*f == '0') flags |= ZERO;
            else if (*f == '+') flags |= PLUS;
            else if (*f == ' ') flags |= SPACE;
            else break;
        }
        int32_t width = 0, precision = -1;
        if (*f == '*') {
            width = va_arg(ap, int32_t);
            if (width < 0) {
                flags |= LEFT;
                width = -width;
            }
            f++;
        }
        while (*f >= '0' && *f <= '9') width = width * 10 + (*f++ - '0');
        if (*f == '.') {
            precision = 0;
            f++;
            if (*f == '*') {
                precision = va_arg(ap, int32_t);
                f++;
            }
            while (*f >= '0' && *f <= '9') precision = precision * 10 + (*f++ - '0');
        }
        if (*f == 'l') f++;
        c = *f;
        if (c) f++;
        switch (c) {
        case 'd':
        case 'i': {
            int32_t v = va_arg(ap, int32_t);
            number(&s, v < 0 ? 0u - (uint32_t)v : (uint32_t)v, v < 0, 10, 0, flags, width, precision);
            break;
        }
        case 'u': number(&s, va_arg(ap, uint32_t), 0, 10, 0, flags & ~(PLUS | SPACE), width, precision); break;
        case 'x':
        case 'X': number(&s, va_arg(ap, uint32_t), 0, 16, c == 'X', flags & ~(PLUS | SPACE), width, precision); break;
        case 'o': number(&s, va_arg(ap, uint32_t), 0, 8, 0, flags & ~(PLUS | SPACE), width, precision); break;
        case 'p':
            put(&s, '0');
            put(&s, 'x');
            number(&s, (uint32_t)(uintptr_t)va_arg(ap, void *), 0, 16, 0, 0, 8, 8);
            break;
        case 'c':
            if (!(flags & LEFT)) pad(&s, ' ', width - 1);
            put(&s, (char)va_arg(ap, int));
            if (flags & LEFT) pad(&s, ' ', width - 1);
            break;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (!str) str = "(null)";
            int32_t n = 0;
            while (str[n] && (precision < 0 || n < precision)) n++;
            if (!(flags & LEFT)) pad(&s, ' ', width - n);
            for (int32_t i = 0; i < n; i++) put(&s, str[i]);
            if (flags & LEFT) pad(&s, ' ', width - n);
            break;
        }
        case '%': put(&s, '%'); break;
        default: /* an unknown conversion is copied as is */
            put(&s, '%');
            if (c) put(&s, c);
        }
    }
    if (cap) buf[s.len < cap ? s.len : cap - 1] = 0;
    return s.len;
}

EXPORT("fmt_format") uint32_t fmt_format(char *buf, uint32_t cap, const char *f, ...) {
    va_list ap;
    va_start(ap, f);
    uint32_t n = fmt_vformat(buf, cap, f, ap);
    va_end(ap);
    return n;
}

/* Known answers: case `which` formatted into a buffer of `cap` bytes;
 * returns the FNV-1a hash of the buffer's string when `part` is 0, the
 * length snprintf would report when it is 1. */
static char out[96];

EXPORT("fmt_kat") uint32_t fmt_kat(uint32_t which, uint32_t cap, uint32_t part) {
    uint32_t n;
    if (cap > sizeof out) cap = sizeof out;
    switch (which) {
    case 0: n = fmt_format(out, cap, "t=%d ms, id=%05u, mask=%#x", -1234, 42u, 0xbeefu); break;
    case 1: n = fmt_format(out, cap, "[%-8s|%8s|%.3s]", "left", "right", "truncate"); break;
    case 2: n = fmt_format(out, cap, "%+d % d %x %X %o %c%c %%", 17, 5, 0xcafeu, 0xcafeu, 8u, 'o', 'k'); break;
    case 3: n = fmt_format(out, cap, "%*d|%-*d|%.*d|%08d", 6, -42, 5, 7, 4, 3, -99); break;
    default: n = fmt_format(out, cap, "min=%d max=%u zero=%d %s", (int32_t)0x80000000u, 0xffffffffu, 0, (char *)0); break;
    }
    if (part) return n;
    uint32_t h = 2166136261u;
    for (uint32_t i = 0; out[i]; i++) h = (h ^ (uint8_t)out[i]) * 16777619u;
    return h;
}
