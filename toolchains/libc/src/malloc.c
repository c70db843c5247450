/* wasmelt's freestanding libc: malloc, calloc, realloc and free, only when the
 * component declares a heap (its `heap_size`, which the build passes as
 * WASMELT_HEAP_SIZE: that many bytes from __heap_base, never grown). A bump
 * allocator: each block carries its size in front of it. */
#ifdef WASMELT_HEAP_SIZE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WEAK __attribute__((weak))
#define ALIGN 8u

extern unsigned char __heap_base;
static uintptr_t next;  /* the first free byte; 0 until the first call */
static uintptr_t last;  /* the most recent block, which free can give back */

static uintptr_t heap_end(void) { return (uintptr_t)&__heap_base + WASMELT_HEAP_SIZE; }

WEAK void *malloc(size_t size) {
    if (!next) next = ((uintptr_t)&__heap_base + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    uintptr_t block = next + ALIGN;  /* the size lives in the ALIGN bytes before the block */
    if (size > heap_end() - block) return NULL;
    *(size_t *)(block - sizeof(size_t)) = size;
    next = (block + size + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
    last = block;
    return (void *)block;
}

WEAK void free(void *ptr) {
    if (ptr && (uintptr_t)ptr == last) {
        next = last - ALIGN;
        last = 0;
    }
}

WEAK void *calloc(size_t count, size_t size) {
    if (size && count > (size_t)-1 / size) return NULL;
    void *p = malloc(count * size);
    if (p) memset(p, 0, count * size);
    return p;
}

WEAK void *realloc(void *ptr, size_t size) {
    if (!ptr) return malloc(size);
    size_t old = *(size_t *)((uintptr_t)ptr - sizeof(size_t));
    if ((uintptr_t)ptr == last && size <= heap_end() - (uintptr_t)ptr) {  /* grow or shrink in place */
        *(size_t *)((uintptr_t)ptr - sizeof(size_t)) = size;
        next = ((uintptr_t)ptr + size + ALIGN - 1) & ~(uintptr_t)(ALIGN - 1);
        return ptr;
    }
    void *p = malloc(size);
    if (p) memcpy(p, ptr, old < size ? old : size);
    return p;
}
#endif
