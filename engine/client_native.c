/* The native front door of `wasmelt`: a build or test that the workspace's running server answers is
   forwarded without starting Python (engine/client.py is the same client in Python; the protocol is the
   one it documents). Every other case execs the Python entry point installed beside this executable.

   Built by scripts/setup (`python -m ziglang cc -O2`); the Python console script stays the entry point
   a plain `pip install` gives. The rc files are not read here: the request says its argv is unexpanded
   and the server applies them (wasmelt.rc.expand, with the request's cwd and environment). */

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

#define PROTOCOL "wsm\x02"              /* engine.client.PROTOCOL */
#define SOCKET_NAME "server.sock"       /* engine.client.SOCKET_NAME */
#define PYTHON_ENTRY "wasmelt-python"   /* scripts/setup renames pip's console script to this */
#define UNFINISHED_ENV "WASMELT_SERVER_UNFINISHED"  /* wasmelt.cli: a server was reached and did not finish */
#define SIGPIPE_EXIT 141                /* engine.client.SIGPIPE_EXIT */
#define RC_ANNOUNCED_ENV "WASMELT_RC_ANNOUNCED"  /* wasmelt.rc: the server applied (and announced) the rc files */

/* ---- XXH3-128 (seed 0, the default secret): engine.client.records_path names a workspace's records by it */

static const uint8_t SECRET[192] = {
    0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
    0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
    0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
    0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
    0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
    0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
    0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
    0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
    0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
    0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
    0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
    0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
};

#define P32_1 0x9E3779B1ULL
#define P32_2 0x85EBCA77ULL
#define P32_3 0xC2B2AE3DULL
#define P64_1 0x9E3779B185EBCA87ULL
#define P64_2 0xC2B2AE3D27D4EB4FULL
#define P64_3 0x165667B19E3779F9ULL
#define P64_4 0x85EBCA77C2B2AE63ULL
#define P64_5 0x27D4EB2F165667C5ULL
#define PMX1 0x165667919E3779F9ULL
#define PMX2 0x9FB21C651E98DF25ULL

typedef struct { uint64_t lo, hi; } u128;

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static uint32_t swap32(uint32_t x) { return __builtin_bswap32(x); }
static uint64_t swap64(uint64_t x) { return __builtin_bswap64(x); }
static u128 mul128(uint64_t a, uint64_t b) {
    unsigned __int128 r = (unsigned __int128)a * b;
    return (u128){(uint64_t)r, (uint64_t)(r >> 64)};
}
static uint64_t fold64(uint64_t a, uint64_t b) { u128 r = mul128(a, b); return r.lo ^ r.hi; }
static uint64_t avalanche(uint64_t x) { x ^= x >> 37; x *= PMX1; return x ^ (x >> 32); }
static uint64_t avalanche64(uint64_t x) {
    x ^= x >> 33; x *= P64_2; x ^= x >> 29; x *= P64_3; return x ^ (x >> 32);
}
static uint64_t mix16(const uint8_t *in, const uint8_t *sec, uint64_t seed) {
    return fold64(rd64(in) ^ (rd64(sec) + seed), rd64(in + 8) ^ (rd64(sec + 8) - seed));
}
static void mix32(u128 *acc, const uint8_t *a, const uint8_t *b, const uint8_t *sec, uint64_t seed) {
    acc->lo += mix16(a, sec, seed);
    acc->lo ^= rd64(b) + rd64(b + 8);
    acc->hi += mix16(b, sec + 16, seed);
    acc->hi ^= rd64(a) + rd64(a + 8);
}
static u128 finish_mid(u128 acc, size_t len) {
    uint64_t lo = acc.lo + acc.hi;
    uint64_t hi = acc.lo * P64_1 + acc.hi * P64_4 + (uint64_t)len * P64_2;
    return (u128){avalanche(lo), 0 - avalanche(hi)};
}
static void stripe(uint64_t acc[8], const uint8_t *in, const uint8_t *sec) {
    for (int i = 0; i < 8; i++) {
        uint64_t data = rd64(in + 8 * i), key = data ^ rd64(sec + 8 * i);
        acc[i ^ 1] += data;
        acc[i] += (key & 0xFFFFFFFFULL) * (key >> 32);
    }
}
static uint64_t merge(const uint64_t acc[8], const uint8_t *sec, uint64_t start) {
    for (int i = 0; i < 4; i++) start += fold64(acc[2 * i] ^ rd64(sec + 16 * i), acc[2 * i + 1] ^ rd64(sec + 16 * i + 8));
    return avalanche(start);
}

static u128 xxh3_128(const uint8_t *in, size_t len) {
    if (len == 0)
        return (u128){avalanche64(rd64(SECRET + 64) ^ rd64(SECRET + 72)), avalanche64(rd64(SECRET + 80) ^ rd64(SECRET + 88))};
    if (len <= 3) {
        uint32_t combined = (uint32_t)in[len - 1] | (uint32_t)len << 8 | (uint32_t)in[0] << 16 | (uint32_t)in[len >> 1] << 24;
        uint32_t swapped = swap32(combined), high = swapped << 13 | swapped >> 19;
        uint64_t lo = (uint64_t)(rd32(SECRET) ^ rd32(SECRET + 4)) ^ combined;
        uint64_t hi = (uint64_t)(rd32(SECRET + 8) ^ rd32(SECRET + 12)) ^ high;
        return (u128){avalanche64(lo), avalanche64(hi)};
    }
    if (len <= 8) {
        uint64_t combined = (uint64_t)rd32(in) | (uint64_t)rd32(in + len - 4) << 32;
        uint64_t value = (rd64(SECRET + 16) ^ rd64(SECRET + 24)) ^ combined;
        u128 m = mul128(value, P64_1 + ((uint64_t)len << 2));
        m.hi += m.lo << 1;
        m.lo ^= m.hi >> 3;
        m.lo ^= m.lo >> 35;
        m.lo *= PMX2;
        m.lo ^= m.lo >> 28;
        return (u128){m.lo, avalanche(m.hi)};
    }
    if (len <= 16) {
        uint64_t first = rd64(in), last = rd64(in + len - 8);
        uint64_t val1 = (rd64(SECRET + 32) ^ rd64(SECRET + 40)) ^ first ^ last;
        uint64_t val2 = (rd64(SECRET + 48) ^ rd64(SECRET + 56)) ^ last;
        u128 m = mul128(val1, P64_1);
        uint64_t lo = m.lo + ((uint64_t)(len - 1) << 54);
        uint64_t hi = m.hi + val2 + (val2 & 0xFFFFFFFFULL) * (P32_2 - 1);
        lo ^= swap64(hi);
        u128 m2 = mul128(lo, P64_2);
        return (u128){avalanche(m2.lo), avalanche(m2.hi + hi * P64_2)};
    }
    if (len <= 128) {
        u128 acc = {(uint64_t)len * P64_1, 0};
        for (int i = (int)((len - 1) >> 5); i >= 0; i--)
            mix32(&acc, in + 16 * i, in + len - 16 * i - 16, SECRET + 32 * i, 0);
        return finish_mid(acc, len);
    }
    if (len <= 240) {
        u128 acc = {(uint64_t)len * P64_1, 0};
        size_t chunks = len >> 5;
        for (size_t i = 0; i < 4; i++) mix32(&acc, in + 32 * i, in + 32 * i + 16, SECRET + 32 * i, 0);
        acc.lo = avalanche(acc.lo);
        acc.hi = avalanche(acc.hi);
        for (size_t i = 4; i < chunks; i++) mix32(&acc, in + 32 * i, in + 32 * i + 16, SECRET + 32 * (i - 4) + 3, 0);
        mix32(&acc, in + len - 16, in + len - 32, SECRET + 103, 0);
        return finish_mid(acc, len);
    }
    uint64_t acc[8] = {P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1};
    const size_t per_block = (sizeof SECRET - 64) / 8, block = 64 * per_block;
    size_t blocks = (len - 1) / block;
    for (size_t b = 0; b < blocks; b++) {
        for (size_t s = 0; s < per_block; s++) stripe(acc, in + b * block + 64 * s, SECRET + 8 * s);
        for (int i = 0; i < 8; i++) {  /* scramble */
            uint64_t a = acc[i];
            a ^= a >> 47;
            a ^= rd64(SECRET + sizeof SECRET - 64 + 8 * i);
            acc[i] = a * P32_1;
        }
    }
    size_t stripes = ((len - 1) - block * blocks) / 64;
    for (size_t s = 0; s < stripes; s++) stripe(acc, in + blocks * block + 64 * s, SECRET + 8 * s);
    stripe(acc, in + len - 64, SECRET + sizeof SECRET - 64 - 7);
    return (u128){merge(acc, SECRET + 11, (uint64_t)len * P64_1),
                  merge(acc, SECRET + sizeof SECRET - 64 - 11, ~((uint64_t)len * P64_2))};
}

/* ---- a growing byte buffer, and Python marshal (version 2) of str, list, dict and bool */

typedef struct { char *data; size_t len, cap; } Buf;

static void put(Buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2 + 256;
        b->data = realloc(b->data, b->cap);
        if (!b->data) abort();
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}
static void put_u32le(Buf *b, uint32_t v) {
    uint8_t w[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, w, 4);
}
/* marshal.dumps(s, 2) of a str: 'u', its UTF-8 length, its bytes (valid UTF-8: checked before) */
static void m_str(Buf *b, const char *s, size_t n) { put(b, "u", 1); put_u32le(b, (uint32_t)n); put(b, s, n); }
static void m_cstr(Buf *b, const char *s) { m_str(b, s, strlen(s)); }
static void m_bool(Buf *b, int v) { put(b, v ? "T" : "F", 1); }

/* Whether s[0:n] is what Python decodes without an error (UTF-8, no surrogates, <= U+10FFFF); and whether it
   is ASCII. A string that is not falls back to Python, whose surrogateescape this does not reproduce. */
static int utf8_ok(const unsigned char *s, size_t n, int *non_ascii) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c < 0x80) { i++; continue; }
        *non_ascii = 1;
        size_t need;
        unsigned lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
        else return 0;
        if (i + need >= n) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
        i += need + 1;
    }
    return 1;
}

/* ---- falling back to the Python entry point */

static struct sigaction saved_pipe;
/* The server sends an empty stderr frame once it has applied the rc files to our argv (engine.server):
   a command it then does not finish runs again in Python, which must not announce them (--announce_rc)
   a second time. */
static int rc_applied;

static void exec_python(char **argv, int unfinished) {
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - sizeof PYTHON_ENTRY - 1);
    char *slash = n > 0 ? memrchr(self, '/', (size_t)n) : NULL;
    if (!slash) {
        fprintf(stderr, "ERROR: wasmelt cannot find where it is installed (/proc/self/exe): %s\n", strerror(errno));
        exit(1);
    }
    memcpy(slash + 1, PYTHON_ENTRY, sizeof PYTHON_ENTRY);
    sigaction(SIGPIPE, &saved_pipe, NULL);
    if (unfinished) setenv(UNFINISHED_ENV, "1", 1);
    if (unfinished && rc_applied) setenv(RC_ANNOUNCED_ENV, "1", 1);
    execv(self, argv);
    fprintf(stderr, "ERROR: wasmelt's Python entry point %s cannot be run (%s): run the set-up again "
                    "(scripts/setup) or reinstall wasmelt with pip\n", self, strerror(errno));
    exit(1);
}

/* ---- the request: engine.client.command_message, with "expanded": False */

static const char *env_get(const char *name) {  /* the last definition, as os.environ keeps */
    size_t n = strlen(name);
    const char *found = NULL;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, name, n) == 0 && (*e)[n] == '=') found = *e + n + 1;
    return found;
}
static int nonempty(const char *s) { return s && *s; }

/* The locale Python decodes argv and the environment with is UTF-8 (or non-ASCII text goes to Python). */
static int utf8_locale(void) {
    const char *name = nonempty(env_get("LC_ALL")) ? env_get("LC_ALL")
                     : nonempty(env_get("LC_CTYPE")) ? env_get("LC_CTYPE") : env_get("LANG");
    if (!nonempty(name) || !strcmp(name, "C") || !strcmp(name, "POSIX")) return 1;  /* coerced to C.UTF-8 */
    const char *utf = env_get("PYTHONUTF8");
    return strcasestr(name, "utf-8") || strcasestr(name, "utf8") || (utf && !strcmp(utf, "1"));
}

/* What Python adds at its start (PEP 538): in the C or POSIX locale it sets LC_CTYPE=C.UTF-8, which its
   os.environ then holds; 1: the same here, 0: nothing, -1: a case left to Python. */
static int coerces_locale(void) {
    if (nonempty(env_get("LC_ALL"))) return 0;
    const char *how = env_get("PYTHONCOERCECLOCALE");
    if (how && !strcmp(how, "0")) return 0;
    if (how && !strcmp(how, "warn")) return -1;
    const char *name = nonempty(env_get("LC_CTYPE")) ? env_get("LC_CTYPE") : env_get("LANG");
    return !nonempty(name) || !strcmp(name, "C") || !strcmp(name, "POSIX");
}

typedef struct { const char *key; size_t klen; const char *value; size_t vlen; } Var;

/* The marshalled request, or 0 when it holds text Python would read differently. */
static int request(Buf *m, int argc, char **argv, const char *cwd) {
    int non_ascii = 0;
    size_t count = 0;
    for (char **e = environ; *e; e++) count++;
    Var *vars = calloc(count + 2, sizeof *vars);
    size_t nvars = 0;
    for (char **e = environ; *e; e++) {  /* os.environ: entries with '=', a name where it first is, its last value */
        char *eq = strchr(*e, '=');
        if (!eq) continue;
        size_t klen = (size_t)(eq - *e), k;
        for (k = 0; k < nvars; k++)
            if (vars[k].klen == klen && !memcmp(vars[k].key, *e, klen)) break;
        if (k < nvars) vars[k].value = eq + 1, vars[k].vlen = strlen(eq + 1);
        else vars[nvars++] = (Var){*e, klen, eq + 1, strlen(eq + 1)};
    }
    int coerce = coerces_locale();
    if (coerce < 0) return 0;
    static char columns[24], lines[24];
    const Var coerced = {"LC_CTYPE", 8, "C.UTF-8", 7};
    int tty = isatty(2);
    Var added[3];
    size_t nadded = 0;
    if (coerce) {
        size_t k;
        for (k = 0; k < nvars && !(vars[k].klen == 8 && !memcmp(vars[k].key, "LC_CTYPE", 8)); k++) {}
        if (k < nvars) vars[k] = coerced; else added[nadded++] = coerced;
    }
    if (tty) {  /* the server draws progress for this terminal: its size, unless COLUMNS says one */
        int has_columns = 0;
        for (size_t k = 0; k < nvars; k++)
            if (vars[k].klen == 7 && !memcmp(vars[k].key, "COLUMNS", 7)) has_columns = 1;
        for (size_t k = 0; k < nadded; k++)
            if (!strcmp(added[k].key, "COLUMNS")) has_columns = 1;
        struct winsize ws;
        if (!has_columns && ioctl(2, TIOCGWINSZ, &ws) == 0) {
            snprintf(columns, sizeof columns, "%u", (unsigned)ws.ws_col);
            snprintf(lines, sizeof lines, "%u", (unsigned)ws.ws_row);
            added[nadded++] = (Var){"COLUMNS", 7, columns, strlen(columns)};
            size_t k;
            for (k = 0; k < nvars && !(vars[k].klen == 5 && !memcmp(vars[k].key, "LINES", 5)); k++) {}
            Var l = {"LINES", 5, lines, strlen(lines)};
            if (k < nvars) vars[k] = l; else added[nadded++] = l;
        }
    }
    for (int i = 1; i < argc; i++)
        if (!utf8_ok((unsigned char *)argv[i], strlen(argv[i]), &non_ascii)) return 0;
    if (!utf8_ok((const unsigned char *)cwd, strlen(cwd), &non_ascii)) return 0;
    for (size_t k = 0; k < nvars; k++)
        if (!utf8_ok((const unsigned char *)vars[k].key, vars[k].klen, &non_ascii) ||
            !utf8_ok((const unsigned char *)vars[k].value, vars[k].vlen, &non_ascii)) return 0;
    if (non_ascii && !utf8_locale()) return 0;

    put(m, "{", 1);
    m_cstr(m, "argv");
    put(m, "[", 1);
    put_u32le(m, (uint32_t)(argc - 1));
    for (int i = 1; i < argc; i++) m_cstr(m, argv[i]);
    m_cstr(m, "cwd");
    m_cstr(m, cwd);
    m_cstr(m, "env");
    put(m, "{", 1);
    for (size_t k = 0; k < nvars; k++) { m_str(m, vars[k].key, vars[k].klen); m_str(m, vars[k].value, vars[k].vlen); }
    for (size_t k = 0; k < nadded; k++) { m_str(m, added[k].key, added[k].klen); m_str(m, added[k].value, added[k].vlen); }
    put(m, "0", 1);
    m_cstr(m, "tty");
    m_bool(m, tty);
    m_cstr(m, "expanded");
    m_bool(m, 0);
    put(m, "0", 1);
    free(vars);
    return 1;
}

/* ---- finding the server: engine.workspace_root.guess, engine.client.cache_dir_for and records_path */

static char *join(const char *dir, const char *name) {
    size_t d = strlen(dir);
    char *out = malloc(d + strlen(name) + 2);
    memcpy(out, dir, d);
    size_t at = d;
    if (d == 0 || dir[d - 1] != '/') out[at++] = '/';
    strcpy(out + at, name);
    return out;
}

static int mentions_workspace(const char *path) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    Buf b = {0};
    char chunk[65536];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof chunk)) > 0) put(&b, chunk, (size_t)n);
    close(fd);
    int found = n == 0 && b.len && memmem(b.data, b.len, "[workspace]", 11) != NULL;
    free(b.data);
    return found;
}

static char *guess(const char *cwd) {
    char *dir = strdup(cwd);
    while (1) {
        char *file = join(dir, "BUILD.toml");
        int found = mentions_workspace(file);
        free(file);
        if (found) return dir;
        char *slash = strrchr(dir, '/');
        if (!slash || (slash == dir && dir[1] == '\0')) return NULL;
        if (slash == dir) dir[1] = '\0'; else *slash = '\0';
    }
}

static int server_disabled(void) {  /* engine.client.server_disabled */
    const char *v = env_get("WASMELT_SERVER");
    if (!v) return 0;
    char word[8];
    size_t n = 0;
    while (*v == ' ' || (*v >= '\t' && *v <= '\r') || (*v >= 0x1c && *v <= 0x1f)) v++;
    for (; *v && n < sizeof word - 1; v++) word[n++] = (char)(*v >= 'A' && *v <= 'Z' ? *v + 32 : *v);
    while (n && (word[n - 1] == ' ' || (word[n - 1] >= '\t' && word[n - 1] <= '\r') ||
                 (word[n - 1] >= 0x1c && word[n - 1] <= 0x1f))) n--;
    word[n] = '\0';
    if (*v) return 0;  /* longer than any of the words */
    return !strcmp(word, "0") || !strcmp(word, "false") || !strcmp(word, "no") || !strcmp(word, "");
}

/* ---- the answer: engine.client.relay */

static volatile int sock_fd = -1;

static void on_sigint(int sig) {  /* as wasmelt.cli: the hang-up is how the server learns of it */
    (void)sig;
    if (sock_fd >= 0) close(sock_fd);
    static const char msg[] = "interrupted\n";
    ssize_t ignored = write(2, msg, sizeof msg - 1);
    (void)ignored;
    _exit(130);
}

static int read_exact(int fd, char *p, size_t n) {
    while (n) {
        ssize_t got = recv(fd, p, n, 0);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 0;
        p += got;
        n -= (size_t)got;
    }
    return 1;
}

/* 1 written, 0 another error (as an OSError: the server did not finish); exits 141 on a closed pipe. */
static int write_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t put_n = write(fd, p, n);
        if (put_n < 0 && errno == EINTR) continue;
        if (put_n < 0 && errno == EPIPE) {  /* `wasmelt build 2>&1 | head`: our reader left */
            close(sock_fd);
            exit(SIGPIPE_EXIT);
        }
        if (put_n <= 0) return 0;
        p += put_n;
        n -= (size_t)put_n;
    }
    return 1;
}

/* The exit code, or -1 when the server refused the command or went away before finishing. */
static int relay(int fd, Buf *m) {
    Buf out = {0};
    put(&out, PROTOCOL, 4);
    uint32_t n = (uint32_t)m->len;
    uint8_t be[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    put(&out, be, 4);
    put(&out, m->data, m->len);
    for (size_t at = 0; at < out.len;) {
        ssize_t sent = send(fd, out.data + at, out.len - at, MSG_NOSIGNAL);
        if (sent < 0 && errno == EINTR) continue;
        if (sent <= 0) return -1;
        at += (size_t)sent;
    }
    free(out.data);
    char *body = NULL;
    size_t cap = 0;
    while (1) {
        unsigned char head[5];
        if (!read_exact(fd, (char *)head, 5)) return -1;
        size_t size = (size_t)head[1] << 24 | (size_t)head[2] << 16 | (size_t)head[3] << 8 | head[4];
        if (size + 1 > cap) {
            cap = size + 1;
            body = realloc(body, cap);
            if (!body) abort();
        }
        if (size && !read_exact(fd, body, size)) return -1;
        body[size] = '\0';
        if (head[0] == 'e' && !size) {
            rc_applied = 1;
        } else if (head[0] == 'o' || head[0] == 'e') {
            if (!write_all(head[0] == 'o' ? 1 : 2, body, size)) return -1;
        } else if (head[0] == 'x') {
            char *end;
            errno = 0;
            long code = strtol(body, &end, 10);
            if (end == body || *end || errno) return -1;
            return (int)(code & 0xff);
        } else {
            return -1;
        }
    }
}

#ifdef CLIENT_NATIVE_TEST
/* tests/engine/test_client_native.py: `hash` digests each hex line of stdin; `request ARGS...` writes
   the marshalled request of ARGS (in this process's cwd and environment). */
int main(int argc, char **argv) {
    if (argc >= 2 && !strcmp(argv[1], "hash")) {
        static char line[1 << 16];
        static uint8_t data[1 << 15];
        while (fgets(line, sizeof line, stdin)) {
            size_t n = 0;
            for (char *p = line; p[0] && p[0] != '\n' && p[1]; p += 2) {
                unsigned v;
                sscanf(p, "%2x", &v);
                data[n++] = (uint8_t)v;
            }
            u128 h = xxh3_128(data, n);
            printf("%016llx%016llx\n", (unsigned long long)h.hi, (unsigned long long)h.lo);
        }
        return 0;
    }
    char *cwd = getcwd(NULL, 0);
    Buf m = {0};
    if (argc < 2 || strcmp(argv[1], "request") || !request(&m, argc - 1, argv + 1, cwd)) return 1;
    fwrite(m.data, 1, m.len, stdout);
    return 0;
}
#else
int main(int argc, char **argv) {
    struct sigaction ignore = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ignore, &saved_pipe);  /* as in Python: a closed pipe is EPIPE, restored for the exec */
    if (argc < 2 || (strcmp(argv[1], "build") && strcmp(argv[1], "test"))) exec_python(argv, 0);
    if (nonempty(env_get("WASMELT_INSIDE_ACTION")) || server_disabled()) exec_python(argv, 0);
    if (fcntl(1, F_GETFD) < 0 || fcntl(2, F_GETFD) < 0) exec_python(argv, 0);
    struct sigaction old;
    sigaction(SIGINT, NULL, &old);
    if (old.sa_handler == SIG_DFL) {  /* Python installs its handler only then */
        struct sigaction handler = {.sa_handler = on_sigint};
        sigaction(SIGINT, &handler, NULL);
    }
    char *cwd = getcwd(NULL, 0);
    char *root = cwd ? guess(cwd) : NULL;
    if (!root) exec_python(argv, 0);
    const char *cache_env = env_get("WASMELT_CACHE");
    char *cache = nonempty(cache_env) ? realpath(cache_env, NULL) : join(root, ".wasmelt");
    if (!cache) exec_python(argv, 0);
    u128 h = xxh3_128((const uint8_t *)root, strlen(root));
    char name[8 + 17];
    snprintf(name, sizeof name, "records/%016llx", (unsigned long long)h.hi);
    char *records = join(cache, name), *path = join(records, SOCKET_NAME);
    struct stat st;
    if (stat(path, &st) != 0) exec_python(argv, 0);
    Buf m = {0};
    if (!request(&m, argc, argv, cwd)) exec_python(argv, 0);

    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (strlen(path) < 100) {
        strcpy(addr.sun_path, path);
    } else {  /* engine.client.short_socket_path: reached through /proc/self/fd */
        int dir = open(records, O_PATH | O_CLOEXEC);
        if (dir < 0) exec_python(argv, 0);
        snprintf(addr.sun_path, sizeof addr.sun_path, "/proc/self/fd/%d/%s", dir, SOCKET_NAME);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) exec_python(argv, 0);
    int rc;
    do rc = connect(fd, (struct sockaddr *)&addr, sizeof addr); while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int refused = errno == ECONNREFUSED;
        close(fd);
        struct stat again;  /* a killed server's socket, unless a new server's was put in its place since */
        if (refused && stat(path, &again) == 0 && again.st_ino == st.st_ino) unlink(path);
        exec_python(argv, 0);
    }
    sock_fd = fd;
    int code = relay(fd, &m);
    sock_fd = -1;
    close(fd);
    if (code >= 0) return code;
    static const char msg[] = "wasmelt: the server did not finish the command; running it in this process\n";
    if (!write_all(2, msg, sizeof msg - 1)) exec_python(argv, 1);
    exec_python(argv, 1);
    return 1;
}
#endif
