/* wasmelt's freestanding libc: <assert.h>. A failed assert traps (the wasm
 * `unreachable`; on the MCU, the object's trap handler); NDEBUG removes it.
 * Deliberately no include guard: the C standard lets NDEBUG change per include. */
#undef assert
#ifdef NDEBUG
#define assert(expr) ((void)0)
#else
#define assert(expr) ((expr) ? (void)0 : __builtin_trap())
#endif

#if !defined(__cplusplus) && defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L && __STDC_VERSION__ < 202311L
#ifndef static_assert
#define static_assert _Static_assert
#endif
#endif
