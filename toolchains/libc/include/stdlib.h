/* wasmelt's freestanding libc: <stdlib.h>. Integer arithmetic, conversions,
 * sorting and searching. malloc and friends exist only when the component
 * declares a heap: `heap_size = <bytes>` on the component (a grow-free arena;
 * the build defines WASMELT_HEAP_SIZE to it). */
#ifndef WASMELT_STDLIB_H
#define WASMELT_STDLIB_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define EXIT_SUCCESS 0
#define EXIT_FAILURE 1

typedef struct { int quot, rem; } div_t;
typedef struct { long quot, rem; } ldiv_t;
typedef struct { long long quot, rem; } lldiv_t;

int abs(int x);
long labs(long x);
long long llabs(long long x);
div_t div(int num, int den);
ldiv_t ldiv(long num, long den);
lldiv_t lldiv(long long num, long long den);

int atoi(const char *s);
long atol(const char *s);
long long atoll(const char *s);
long strtol(const char *restrict s, char **restrict end, int base);
unsigned long strtoul(const char *restrict s, char **restrict end, int base);
long long strtoll(const char *restrict s, char **restrict end, int base);
unsigned long long strtoull(const char *restrict s, char **restrict end, int base);

void qsort(void *base, size_t count, size_t size, int (*compare)(const void *, const void *));
void *bsearch(const void *key, const void *base, size_t count, size_t size,
              int (*compare)(const void *, const void *));

#ifdef WASMELT_HEAP_SIZE
/* A bump allocator over WASMELT_HEAP_SIZE bytes from __heap_base: it never
 * grows the memory; malloc returns NULL when the arena is used up; free gives
 * memory back only when it frees the most recent allocation. */
void *malloc(size_t size);
void *calloc(size_t count, size_t size);
void *realloc(void *ptr, size_t size);
void free(void *ptr);
#endif

/* abort() and exit() trap: a component has no process to end. */
_Noreturn void abort(void);
_Noreturn void exit(int status);

#ifdef __cplusplus
}
#endif

#endif
