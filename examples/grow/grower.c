/* A component with a growing bump allocator: each allocation past the end
 * of memory calls memory.grow. Fusion with address rebasing cannot allow
 * that, so `wasmelt build //examples/grow` fails at this component. */
#include <stdint.h>

extern unsigned char __heap_base;
static unsigned char *heap_top;

static void *bump_alloc(uint32_t size) {
    if (!heap_top) heap_top = &__heap_base;
    unsigned char *block = heap_top;
    heap_top += size;
    while ((uintptr_t)heap_top > __builtin_wasm_memory_size(0) * 65536u)
        __builtin_wasm_memory_grow(0, 1);
    return block;
}

__attribute__((export_name("make_buffer"))) int32_t make_buffer(int32_t n) {
    unsigned char *buffer = bump_alloc((uint32_t)n);
    for (int32_t i = 0; i < n; i++) buffer[i] = (unsigned char)i;
    return (int32_t)(uintptr_t)buffer;
}
