"""Lowering one core module to one C translation unit made for MCUs:
linear memory as a static array, globals as statics, the value stack as C
locals, control flow as labels and gotos, traps through `wasmelt_trap`.

Exports become functions whose symbol is the export name verbatim (an asm
label); imports become undefined symbols named by the import's field name.
"""

from __future__ import annotations

import functools
import re
import struct
from dataclasses import dataclass, field

from ..discipline import const_value
from ..wasm.model import FUNC, GLOBAL, MEMORY, TABLE, FuncType, Module
from ..wasm.names import function_label, get_names
from .coalesce import COVERED, Check, module_checks
from .memory_layout import LayoutError, LayoutHints, derive
from .shadow_stack import pointer_alignment
from .tail_calls import TAIL_POOL, TailGroup, cycles, tail_edges

# wasmelt_trap(code) codes.
TRAP_CODES = {
    "unreachable": 1, "integer_divide_by_zero": 2, "integer_overflow": 3, "invalid_conversion": 4,
    "undefined_element": 5, "indirect_call_type_mismatch": 6, "out_of_bounds_memory": 7, "stack_overflow": 8,
    "out_of_bounds_table": 9,
}
TRAP_NAMES = {code: name for name, code in TRAP_CODES.items()}

# References are u32: a funcref is its function index + 1, an externref the
# host's handle; 0 is null for both.
CTYPE = {"i32": "u32", "i64": "u64", "f32": "f32", "f64": "f64", "funcref": "u32", "externref": "u32"}
TABLE_OPS = ("table.set", "table.fill", "table.copy", "table.init", "table.grow")
# Globals keep floats as their bits: any value (NaN payloads too) is then a C
# constant initialiser, and reading one hides it from constant folding.
STORAGE = {"i32": "u32", "i64": "u64", "f32": "u32", "f64": "u64", "funcref": "u32", "externref": "u32"}
GLOBAL_READ = {"i32": "{}", "i64": "{}", "f32": "wasmelt_bits_f32(wasmelt_opaque32({}))",
               "f64": "wasmelt_opaque_f64(wasmelt_bits_f64({}))", "funcref": "{}", "externref": "{}"}
GLOBAL_WRITE = {"i32": "{}", "i64": "{}", "f32": "wasmelt_f32_bits({})", "f64": "wasmelt_f64_bits({})",
                "funcref": "{}", "externref": "{}"}
ZERO = {"i32": "0u", "i64": "0ull", "f32": "0.0f", "f64": "0.0", "funcref": "0u", "externref": "0u"}


class LowerError(Exception):
    """The module uses something the builtin lowering does not support."""


@dataclass(frozen=True)
class LowerOptions:
    bounds: str = "none"  # none | check | mask
    memory_bytes: int | None = None  # the memory's size, overriding what memory_layout derives
    heap_size: int = 0  # an arena above __heap_base (a grow-free allocator, the firmware's buffers)
    hints: LayoutHints = LayoutHints()  # what the fuse or component report says of the memory
    # compiled from C or Rust by the component stage: an access's alignment hint holds (see wasmelt_ld32n)
    natural_alignment: bool = False


@dataclass
class Lowered:
    c_source: str
    header: str
    exports: dict[str, int]  # export name -> function index
    imports: dict[str, str]  # symbol -> "module.field"
    memory_bytes: int
    warnings: list[str] = field(default_factory=list)  # behaviour the target limits (shown at build time)
    memory: dict = field(default_factory=dict)  # the window memory_layout chose (MemoryLayout.facts)
    entries: list[str] = field(default_factory=list)  # exports the lowered code itself calls by symbol


# Undefined symbols a C compiler may leave for its runtime library.
COMPILER_RT = r"__aeabi_\w+|__gnu_\w+|__riscv_\w+|__(float|fix)\w+|__(u|)(div|mod|mul)\w+|__\w+[sdt]f[23]|__\w+(di|si|ti)[23]"
LIBC = r"(sqrt|floor|ceil|trunc|fmin|fmax|fabs)f?|mem(cpy|set|move|cmp)"
RUNTIME_NAME = re.compile(rf"^({COMPILER_RT}|{LIBC})$")

# Every symbol and C identifier the lowering and its runtime define starts
# with PREFIX, so no wasm name (an export's verbatim symbol, an import's
# field) can collide with one; wasm names in that namespace are refused.
PREFIX = "wasmelt_"


def function_symbol(index: int) -> str:
    """The object's local symbol for the defined wasm function `index`."""
    return f"{PREFIX}fn{index}"


def symbol_function(symbol: str) -> int | None:
    """The wasm function index of an internal symbol (function_symbol's inverse;
    a tail group's function, `wasmelt_tail<first>`, is its first member's)."""
    m = re.fullmatch(re.escape(PREFIX) + r"(?:fn|tail)(\d+)", symbol)
    return int(m.group(1)) if m else None


def import_symbols(m: Module) -> list[str]:
    """The undefined symbol of each imported function: its field name, or
    `module.field` where the field name is also an export's symbol or the
    field of an import from another module."""
    imports = m.imported(FUNC)
    exported = {e.name for e in m.exports if e.kind == FUNC}
    modules: dict[str, set[str]] = {}
    for imp in imports:
        modules.setdefault(imp.name, set()).add(imp.module)
    symbols = []
    for imp in imports:
        qualified = imp.name in exported or len(modules[imp.name]) > 1 or not imp.name
        symbol = f"{imp.module}.{imp.name}" if qualified else imp.name
        if symbol_name_problem(symbol):
            raise LowerError(f"import {imp.module!r}.{imp.name!r} cannot be named by an ELF symbol: the name "
                             f"{symbol_name_problem(symbol)}")
        if symbol in exported:
            raise LowerError(f"import {imp.module}.{imp.name} and the export `{symbol}` would be the same symbol; "
                             "rename one")
        symbols.append(symbol)
    return symbols


def c_identifier(name: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if ident and not ident[0].isdigit() else "_" + ident


PRELUDE = r"""/* Generated by wasmelt's builtin synth: do not edit. */
typedef __UINT8_TYPE__ u8;
typedef __UINT16_TYPE__ u16;
typedef __UINT32_TYPE__ u32;
typedef __UINT64_TYPE__ u64;
typedef __INT8_TYPE__ s8;
typedef __INT16_TYPE__ s16;
typedef __INT32_TYPE__ s32;
typedef __INT64_TYPE__ s64;
typedef float f32;
typedef double f64;
#define WASMELT_INLINE static inline __attribute__((always_inline))

/* Called on every trap; it must not return. Firmware overrides it. */
void wasmelt_trap(int code) __attribute__((noreturn));
__attribute__((weak, noreturn)) void wasmelt_trap(int code) { (void)code; for (;;) __builtin_trap(); }

WASMELT_INLINE u32 wasmelt_f32_bits(f32 x) { u32 u; __builtin_memcpy(&u, &x, 4); return u; }
WASMELT_INLINE f32 wasmelt_bits_f32(u32 u) { f32 x; __builtin_memcpy(&x, &u, 4); return x; }
WASMELT_INLINE u64 wasmelt_f64_bits(f64 x) { u64 u; __builtin_memcpy(&u, &x, 8); return u; }
WASMELT_INLINE f64 wasmelt_bits_f64(u64 u) { f64 x; __builtin_memcpy(&x, &u, 8); return x; }
/* A value the C compiler cannot see through. wasm requires a quiet NaN from
   x - 0.0, x * 1.0, -1.0 * x, demote(promote(x)) and the like, which the
   compiler folds to x (or -x) and so keeps a signalling NaN; hiding the
   identity constants, reinterpreted bits and promoted values prevents it. */
WASMELT_INLINE f32 wasmelt_f32_quiet(f32 x) { u32 b = wasmelt_f32_bits(x); return (b & 0x7fffffffu) > 0x7f800000u ? wasmelt_bits_f32(b | 0x00400000u) : x; }
WASMELT_INLINE f64 wasmelt_f64_quiet(f64 x) { u64 b = wasmelt_f64_bits(x); return (b & 0x7fffffffffffffffull) > 0x7ff0000000000000ull ? wasmelt_bits_f64(b | 0x0008000000000000ull) : x; }
WASMELT_INLINE u32 wasmelt_opaque32(u32 x) { __asm__("" : "+r"(x)); return x; }
/* Linear-memory access at any alignment, little-endian: memcpy, which the
   compiler turns into one load or store where the core allows unaligned
   ones; bytes for gcc on ARMv6-M, which would call memcpy for each (clang
   inlines a shorter byte sequence of its own). On Thumb without unaligned
   access (ARMv6-M), in a module with SHARED_SITES or more 32-bit loads (or
   stores), each is a `bl` to one shared routine (a word access when the
   address is aligned, else bytes) that changes only its result, one scratch
   register and the flags, in place of ~10 instructions of bytes and shifts.
   The "m" operands tell the compiler which bytes the routine reads or writes. */
#if defined(__arm__) && !defined(__ARM_FEATURE_UNALIGNED) && !defined(__clang__)
WASMELT_INLINE u16 wasmelt_ld16(const u8 *p) { return (u16)(p[0] | p[1] << 8); }
WASMELT_INLINE u32 wasmelt_ld32_inline(const u8 *p) { return (u32)p[0] | (u32)p[1] << 8 | (u32)p[2] << 16 | (u32)p[3] << 24; }
WASMELT_INLINE void wasmelt_st16(u8 *p, u16 v) { p[0] = (u8)v; p[1] = (u8)(v >> 8); }
WASMELT_INLINE void wasmelt_st32_inline(u8 *p, u32 v) { p[0] = (u8)v; p[1] = (u8)(v >> 8); p[2] = (u8)(v >> 16); p[3] = (u8)(v >> 24); }
#else
WASMELT_INLINE u16 wasmelt_ld16(const u8 *p) { u16 v; __builtin_memcpy(&v, p, 2); return v; }
WASMELT_INLINE u32 wasmelt_ld32_inline(const u8 *p) { u32 v; __builtin_memcpy(&v, p, 4); return v; }
WASMELT_INLINE void wasmelt_st16(u8 *p, u16 v) { __builtin_memcpy(p, &v, 2); }
WASMELT_INLINE void wasmelt_st32_inline(u8 *p, u32 v) { __builtin_memcpy(p, &v, 4); }
#endif
#if defined(__thumb__) && !defined(__ARM_FEATURE_UNALIGNED)
typedef struct { u8 b[4]; } wasmelt_word;
/* An address the compiler can prove aligned (a constant, a frame slot) keeps
   its one-instruction access; only the others go through the routine. */
#define WASMELT_KNOWN_ALIGNED(p) (__builtin_constant_p(((__UINTPTR_TYPE__)(p) & 3) == 0) && ((__UINTPTR_TYPE__)(p) & 3) == 0)
#endif
#if defined(__thumb__) && !defined(__ARM_FEATURE_UNALIGNED) && defined(WASMELT_SHARED_LD32)
WASMELT_INLINE u32 wasmelt_ld32(const u8 *p) {
  if (WASMELT_KNOWN_ALIGNED(p)) return wasmelt_ld32_inline(p);
  register u32 r0 __asm__("r0") = (u32)(__UINTPTR_TYPE__)p;
  __asm__("bl wasmelt_ld32u" : "+l"(r0) : "m"(*(const wasmelt_word *)p) : "r1", "lr", "cc");
  return r0;
}
#else
#define wasmelt_ld32 wasmelt_ld32_inline
#endif
#if defined(__thumb__) && !defined(__ARM_FEATURE_UNALIGNED) && defined(WASMELT_SHARED_ST32)
WASMELT_INLINE void wasmelt_st32(u8 *p, u32 v) {
  if (WASMELT_KNOWN_ALIGNED(p)) { wasmelt_st32_inline(p, v); return; }
  register u32 r0 __asm__("r0") = (u32)(__UINTPTR_TYPE__)p;
  register u32 r1 __asm__("r1") = v;
  __asm__("bl wasmelt_st32u" : "=m"(*(wasmelt_word *)p) : "l"(r0), "l"(r1) : "r2", "lr", "cc");
}
#else
#define wasmelt_st32 wasmelt_st32_inline
#endif
WASMELT_INLINE u64 wasmelt_ld64(const u8 *p) { return wasmelt_ld32(p) | (u64)wasmelt_ld32(p + 4) << 32; }
WASMELT_INLINE void wasmelt_st64(u8 *p, u64 v) { wasmelt_st32(p, (u32)v); wasmelt_st32(p + 4, (u32)(v >> 32)); }
/* An access whose alignment hint is its size, in a module compiled from C or
   Rust (`--natural-alignment`): the hint holds unless the program's behaviour
   is undefined, so on ARMv6-M it is one instruction, which faults on a
   misaligned address as the same C does natively there. Elsewhere the access
   of any alignment: as cheap where the core allows unaligned access. */
#if defined(__thumb__) && !defined(__ARM_FEATURE_UNALIGNED) && defined(WASMELT_NATURAL_ALIGNMENT)
WASMELT_INLINE u16 wasmelt_ld16n(const u8 *p) { return *(const u16 *)__builtin_assume_aligned(p, 2); }
WASMELT_INLINE u32 wasmelt_ld32n(const u8 *p) { return *(const u32 *)__builtin_assume_aligned(p, 4); }
WASMELT_INLINE void wasmelt_st16n(u8 *p, u16 v) { *(u16 *)__builtin_assume_aligned(p, 2) = v; }
WASMELT_INLINE void wasmelt_st32n(u8 *p, u32 v) { *(u32 *)__builtin_assume_aligned(p, 4) = v; }
WASMELT_INLINE u64 wasmelt_ld64n(const u8 *p) { return wasmelt_ld32n(p) | (u64)wasmelt_ld32n(p + 4) << 32; }
WASMELT_INLINE void wasmelt_st64n(u8 *p, u64 v) { wasmelt_st32n(p, (u32)v); wasmelt_st32n(p + 4, (u32)(v >> 32)); }
#else
#define wasmelt_ld16n wasmelt_ld16
#define wasmelt_ld32n wasmelt_ld32
#define wasmelt_ld64n wasmelt_ld64
#define wasmelt_st16n wasmelt_st16
#define wasmelt_st32n wasmelt_st32
#define wasmelt_st64n wasmelt_st64
#endif
WASMELT_INLINE f64 wasmelt_opaque_f64(f64 x) { u64 b = wasmelt_f64_bits(x);
  return wasmelt_bits_f64(((u64)wasmelt_opaque32((u32)(b >> 32)) << 32) | wasmelt_opaque32((u32)b)); }
"""

# Helpers emitted only when used, so an app that never divides pays nothing.
HELPERS = {
    "div32": r"""
static u32 wasmelt_i32_div_s(u32 a, u32 b) { if (!b) wasmelt_trap(2); if (a == 0x80000000u && b == 0xffffffffu) wasmelt_trap(3); return (u32)((s32)a / (s32)b); }
static u32 wasmelt_i32_div_u(u32 a, u32 b) { if (!b) wasmelt_trap(2); return a / b; }
static u32 wasmelt_i32_rem_s(u32 a, u32 b) { if (!b) wasmelt_trap(2); if (b == 0xffffffffu) return 0; return (u32)((s32)a % (s32)b); }
static u32 wasmelt_i32_rem_u(u32 a, u32 b) { if (!b) wasmelt_trap(2); return a % b; }
""",
    "div64": r"""
static u64 wasmelt_i64_div_s(u64 a, u64 b) { if (!b) wasmelt_trap(2); if (a == 0x8000000000000000ull && b == ~0ull) wasmelt_trap(3); return (u64)((s64)a / (s64)b); }
static u64 wasmelt_i64_div_u(u64 a, u64 b) { if (!b) wasmelt_trap(2); return a / b; }
static u64 wasmelt_i64_rem_s(u64 a, u64 b) { if (!b) wasmelt_trap(2); if (b == ~0ull) return 0; return (u64)((s64)a % (s64)b); }
static u64 wasmelt_i64_rem_u(u64 a, u64 b) { if (!b) wasmelt_trap(2); return a % b; }
""",
    "bits": r"""
WASMELT_INLINE u32 wasmelt_i32_clz(u32 x) { return x ? (u32)__builtin_clz(x) : 32; }
WASMELT_INLINE u32 wasmelt_i32_ctz(u32 x) { return x ? (u32)__builtin_ctz(x) : 32; }
WASMELT_INLINE u32 wasmelt_i32_popcnt(u32 x) { return (u32)__builtin_popcount(x); }
WASMELT_INLINE u64 wasmelt_i64_clz(u64 x) { return x ? (u64)__builtin_clzll(x) : 64; }
WASMELT_INLINE u64 wasmelt_i64_ctz(u64 x) { return x ? (u64)__builtin_ctzll(x) : 64; }
WASMELT_INLINE u64 wasmelt_i64_popcnt(u64 x) { return (u64)__builtin_popcountll(x); }
WASMELT_INLINE u32 wasmelt_i32_rotl(u32 x, u32 n) { n &= 31; return n ? (x << n) | (x >> (32 - n)) : x; }
WASMELT_INLINE u32 wasmelt_i32_rotr(u32 x, u32 n) { n &= 31; return n ? (x >> n) | (x << (32 - n)) : x; }
WASMELT_INLINE u64 wasmelt_i64_rotl(u64 x, u64 n) { n &= 63; return n ? (x << n) | (x >> (64 - n)) : x; }
WASMELT_INLINE u64 wasmelt_i64_rotr(u64 x, u64 n) { n &= 63; return n ? (x >> n) | (x << (64 - n)) : x; }
""",
    "float": r"""
WASMELT_INLINE f32 wasmelt_f32_abs(f32 x) { return wasmelt_bits_f32(wasmelt_f32_bits(x) & 0x7fffffffu); }
WASMELT_INLINE f32 wasmelt_f32_neg(f32 x) { return wasmelt_bits_f32(wasmelt_f32_bits(x) ^ 0x80000000u); }
WASMELT_INLINE f32 wasmelt_f32_copysign(f32 x, f32 y) { return wasmelt_bits_f32((wasmelt_f32_bits(x) & 0x7fffffffu) | (wasmelt_f32_bits(y) & 0x80000000u)); }
WASMELT_INLINE f64 wasmelt_f64_abs(f64 x) { return wasmelt_bits_f64(wasmelt_f64_bits(x) & 0x7fffffffffffffffull); }
WASMELT_INLINE f64 wasmelt_f64_neg(f64 x) { return wasmelt_bits_f64(wasmelt_f64_bits(x) ^ 0x8000000000000000ull); }
WASMELT_INLINE f64 wasmelt_f64_copysign(f64 x, f64 y) { return wasmelt_bits_f64((wasmelt_f64_bits(x) & 0x7fffffffffffffffull) | (wasmelt_f64_bits(y) & 0x8000000000000000ull)); }
static f32 wasmelt_f32_min(f32 a, f32 b) { if (a != a || b != b) return wasmelt_bits_f32(0x7fc00000u); if (a == b) return wasmelt_bits_f32(wasmelt_f32_bits(a) | wasmelt_f32_bits(b)); return a < b ? a : b; }
static f32 wasmelt_f32_max(f32 a, f32 b) { if (a != a || b != b) return wasmelt_bits_f32(0x7fc00000u); if (a == b) return wasmelt_bits_f32(wasmelt_f32_bits(a) & wasmelt_f32_bits(b)); return a > b ? a : b; }
static f64 wasmelt_f64_min(f64 a, f64 b) { if (a != a || b != b) return wasmelt_bits_f64(0x7ff8000000000000ull); if (a == b) return wasmelt_bits_f64(wasmelt_f64_bits(a) | wasmelt_f64_bits(b)); return a < b ? a : b; }
static f64 wasmelt_f64_max(f64 a, f64 b) { if (a != a || b != b) return wasmelt_bits_f64(0x7ff8000000000000ull); if (a == b) return wasmelt_bits_f64(wasmelt_f64_bits(a) & wasmelt_f64_bits(b)); return a > b ? a : b; }
/* Round half to even without libm: adding and removing 2^23 (2^52) rounds
   in the current (nearest-even) mode; larger magnitudes are integers. */
static f32 wasmelt_f32_nearest(f32 x) { f32 a = wasmelt_f32_abs(x); if (!(a < 8388608.0f)) return wasmelt_f32_quiet(x); volatile f32 t = a + 8388608.0f; return wasmelt_f32_copysign(t - 8388608.0f, x); }
static f64 wasmelt_f64_nearest(f64 x) { f64 a = wasmelt_f64_abs(x); if (!(a < 4503599627370496.0)) return wasmelt_f64_quiet(x); volatile f64 t = a + 4503599627370496.0; return wasmelt_f64_copysign(t - 4503599627370496.0, x); }
static f32 wasmelt_f32_trunc(f32 x) { f32 a = wasmelt_f32_abs(x); if (!(a < 8388608.0f)) return wasmelt_f32_quiet(x); f32 r = (f32)(s32)a; return wasmelt_f32_copysign(r, x); }
static f64 wasmelt_f64_trunc(f64 x) { f64 a = wasmelt_f64_abs(x); if (!(a < 4503599627370496.0)) return wasmelt_f64_quiet(x); f64 r = (f64)(s64)a; return wasmelt_f64_copysign(r, x); }
static f32 wasmelt_f32_floor(f32 x) { f32 t = wasmelt_f32_trunc(x); return (t > x) ? wasmelt_f32_copysign(t - 1.0f, x) : t; }
static f32 wasmelt_f32_ceil(f32 x) { f32 t = wasmelt_f32_trunc(x); return (t < x) ? wasmelt_f32_copysign(t + 1.0f, x) : t; }
static f64 wasmelt_f64_floor(f64 x) { f64 t = wasmelt_f64_trunc(x); return (t > x) ? wasmelt_f64_copysign(t - 1.0, x) : t; }
static f64 wasmelt_f64_ceil(f64 x) { f64 t = wasmelt_f64_trunc(x); return (t < x) ? wasmelt_f64_copysign(t + 1.0, x) : t; }
""",
    "sqrt": r"""
/* Correctly rounded square roots without libm: the FPU's instruction where
   there is one, else digit by digit on the integer significand (so the object
   never calls a `sqrt` an export of that name would replace). */
#if !(defined(__ARM_FP) && (__ARM_FP & 8))
static f64 wasmelt_f64_sqrt(f64 x) {
  u64 b = wasmelt_f64_bits(x), m = b & 0xfffffffffffffull, r = 0, rem = 0;
  s32 e = (s32)((b >> 52) & 0x7ff);
  if (e == 0x7ff) return m ? wasmelt_bits_f64(b | 0x0008000000000000ull) : (b >> 63) ? wasmelt_bits_f64(0x7ff8000000000000ull) : x;
  if (!e && !m) return x;
  if (b >> 63) return wasmelt_bits_f64(0x7ff8000000000000ull);
  if (e) m |= 1ull << 52; else { e = 1; while (!(m >> 52)) { m <<= 1; e--; } }
  e -= 1023;
  if (e & 1) { m <<= 1; e--; }
  for (s32 i = 54; i >= 0; i--) {  /* r = isqrt(m << 56), 55 bits */
    rem = (rem << 2) | (2 * i >= 56 ? (m >> (2 * i - 56)) & 3u : 0u);
    u64 t = (r << 2) | 1u;
    r <<= 1;
    if (rem >= t) { rem -= t; r |= 1u; }
  }
  u64 q = r >> 2;
  if ((r & 2u) && ((r & 1u) || rem || (q & 1u))) q++;
  return wasmelt_bits_f64(((u64)(e / 2 + 1022) << 52) + q);
}
#else
static f64 wasmelt_f64_sqrt(f64 x) { return __builtin_sqrt(x); }
#endif
#if !(defined(__ARM_FP) && (__ARM_FP & 4))
/* sqrt rounded twice (to double, then float) is still correctly rounded. */
static f32 wasmelt_f32_sqrt(f32 x) { if (x != x) return wasmelt_f32_quiet(x); return (f32)wasmelt_f64_sqrt((f64)x); }
#else
static f32 wasmelt_f32_sqrt(f32 x) { return __builtin_sqrtf(x); }
#endif
""",
    "trunc": r"""
static u32 wasmelt_i32_trunc_f32_s(f32 x) { if (x != x) wasmelt_trap(4); if (!(x >= -2147483648.0f && x < 2147483648.0f)) wasmelt_trap(3); return (u32)(s32)x; }
static u32 wasmelt_i32_trunc_f32_u(f32 x) { if (x != x) wasmelt_trap(4); if (!(x > -1.0f && x < 4294967296.0f)) wasmelt_trap(3); return (u32)x; }
static u32 wasmelt_i32_trunc_f64_s(f64 x) { if (x != x) wasmelt_trap(4); if (!(x > -2147483649.0 && x < 2147483648.0)) wasmelt_trap(3); return (u32)(s32)x; }
static u32 wasmelt_i32_trunc_f64_u(f64 x) { if (x != x) wasmelt_trap(4); if (!(x > -1.0 && x < 4294967296.0)) wasmelt_trap(3); return (u32)x; }
static u64 wasmelt_i64_trunc_f32_s(f32 x) { if (x != x) wasmelt_trap(4); if (!(x >= -9223372036854775808.0f && x < 9223372036854775808.0f)) wasmelt_trap(3); return (u64)(s64)x; }
static u64 wasmelt_i64_trunc_f32_u(f32 x) { if (x != x) wasmelt_trap(4); if (!(x > -1.0f && x < 18446744073709551616.0f)) wasmelt_trap(3); return (u64)x; }
static u64 wasmelt_i64_trunc_f64_s(f64 x) { if (x != x) wasmelt_trap(4); if (!(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) wasmelt_trap(3); return (u64)(s64)x; }
static u64 wasmelt_i64_trunc_f64_u(f64 x) { if (x != x) wasmelt_trap(4); if (!(x > -1.0 && x < 18446744073709551616.0)) wasmelt_trap(3); return (u64)x; }
""",
    "trunc_sat": r"""
static u32 wasmelt_i32_trunc_sat_f32_s(f32 x) { if (x != x) return 0; if (x < -2147483648.0f) return 0x80000000u; if (x >= 2147483648.0f) return 0x7fffffffu; return (u32)(s32)x; }
static u32 wasmelt_i32_trunc_sat_f32_u(f32 x) { if (!(x > -1.0f)) return 0; if (x >= 4294967296.0f) return 0xffffffffu; return (u32)x; }
static u32 wasmelt_i32_trunc_sat_f64_s(f64 x) { if (x != x) return 0; if (x <= -2147483649.0) return 0x80000000u; if (x >= 2147483648.0) return 0x7fffffffu; return (u32)(s32)x; }
static u32 wasmelt_i32_trunc_sat_f64_u(f64 x) { if (!(x > -1.0)) return 0; if (x >= 4294967296.0) return 0xffffffffu; return (u32)x; }
static u64 wasmelt_i64_trunc_sat_f32_s(f32 x) { if (x != x) return 0; if (x < -9223372036854775808.0f) return 0x8000000000000000ull; if (x >= 9223372036854775808.0f) return 0x7fffffffffffffffull; return (u64)(s64)x; }
static u64 wasmelt_i64_trunc_sat_f32_u(f32 x) { if (!(x > -1.0f)) return 0; if (x >= 18446744073709551616.0f) return ~0ull; return (u64)x; }
static u64 wasmelt_i64_trunc_sat_f64_s(f64 x) { if (x != x) return 0; if (x < -9223372036854775808.0) return 0x8000000000000000ull; if (x >= 9223372036854775808.0) return 0x7fffffffffffffffull; return (u64)(s64)x; }
static u64 wasmelt_i64_trunc_sat_f64_u(f64 x) { if (!(x > -1.0)) return 0; if (x >= 18446744073709551616.0) return ~0ull; return (u64)x; }
""",
    "promote": r"""
__attribute__((noinline)) static f64 wasmelt_f64_promote(f32 x) { return wasmelt_f64_quiet((f64)x); }
""",
    "shared_ld32": r"""
#if defined(__thumb__) && !defined(__ARM_FEATURE_UNALIGNED)
/* r0 = the address -> r0 = the word there; changes r1 and the flags. */
__asm__(".pushsection .text.wasmelt_ld32u,\"ax\",%progbits\n.syntax unified\n.p2align 1\n.thumb\n"
        ".thumb_func\n.type wasmelt_ld32u, %function\nwasmelt_ld32u:\n"
        "movs r1, #3\ntst r0, r1\nbne 1f\nldr r0, [r0]\nbx lr\n"
        "1: push {r2}\nldrb r1, [r0, #3]\nldrb r2, [r0, #2]\nlsls r1, r1, #8\norrs r1, r2\nldrb r2, [r0, #1]\n"
        "lsls r1, r1, #8\norrs r1, r2\nldrb r0, [r0]\nlsls r1, r1, #8\norrs r0, r1\npop {r2}\nbx lr\n"
        ".size wasmelt_ld32u, .-wasmelt_ld32u\n.popsection");
#endif
""",
    "shared_st32": r"""
#if defined(__thumb__) && !defined(__ARM_FEATURE_UNALIGNED)
/* Stores r1 at the address r0; changes r2 and the flags. */
__asm__(".pushsection .text.wasmelt_st32u,\"ax\",%progbits\n.syntax unified\n.p2align 1\n.thumb\n"
        ".thumb_func\n.type wasmelt_st32u, %function\nwasmelt_st32u:\n"
        "movs r2, #3\ntst r0, r2\nbne 1f\nstr r1, [r0]\nbx lr\n"
        "1: strb r1, [r0]\nlsrs r2, r1, #8\nstrb r2, [r0, #1]\nlsrs r2, r1, #16\nstrb r2, [r0, #2]\n"
        "lsrs r2, r1, #24\nstrb r2, [r0, #3]\nbx lr\n.size wasmelt_st32u, .-wasmelt_st32u\n.popsection");
#endif
""",
    "bulk": r"""
static void wasmelt_memory_fill(u32 d, u32 v, u32 n) { WASMELT_CHECK_RANGE(d, n); u8 *p = WASMELT_MEM + d; while (n--) *(volatile u8 *)p++ = (u8)v; }
static void wasmelt_memory_copy(u32 d, u32 s, u32 n) { WASMELT_CHECK_RANGE(d, n); WASMELT_CHECK_RANGE(s, n); u8 *dp = WASMELT_MEM + d; const u8 *sp = WASMELT_MEM + s;
  if (dp < sp) { while (n--) *(volatile u8 *)dp++ = *sp++; } else { dp += n; sp += n; while (n--) *(volatile u8 *)--dp = *--sp; } }
""",
}


# How an export reaches wasmelt_init. On Arm, a `bl` in inline assembly that
# clobbers only lr and the flags, into one routine in assembly that keeps every
# other register (r0-r4 pushed: ARMv6-M pushes low registers only; r12 and the
# hard-float argument registers d0-d7 around a start function's call only): the
# export then keeps its arguments where the caller put them instead of moving
# them to callee-saved registers around an ordinary call. Once initialised, the
# routine is a flag test; the first call copies each data segment by bytes
# (a loop of four instructions) and runs the start function. Elsewhere, the
# ordinary call of a C function.
INIT_CALL = {True: '#define WASMELT_FIRST_CALL() __asm__ volatile("bl wasmelt_init" ::: "lr", "cc", "memory")',
             False: "#define WASMELT_FIRST_CALL() wasmelt_init()"}
POOL_EVERY = 8  # segments between literal pools (a Thumb literal load reaches 1 KiB forward)


def thumb_init(copies: list[tuple[int, str, int]], start: str | None) -> str:
    """wasmelt_init for Thumb: `copies` are (byte offset in wasmelt_memory,
    image symbol, length); `start` the C function that runs the start function."""
    # The flag is the odd byte of a 2-aligned pair, so its address's low byte,
    # stored into it, is not 0: one instruction sets it. Once initialised the
    # routine branches to its last pop, within a Thumb-1 conditional branch's
    # 256 B while no literal pool lies between (POOL_EVERY copies), else past
    # a pop of its own.
    done = ["bne 9f"] if len(copies) <= POOL_EVERY else ["beq 2f", "pop {r0, r1, r2, r3, r4, pc}", "2:"]
    asm = ["push {r0, r1, r2, r3, r4, lr}", "ldr r0, =wasmelt_ready+1", "ldrb r1, [r0]", "cmp r1, #0", *done,
           "strb r0, [r0]"]
    for k, (at, image, length) in enumerate(copies):
        if k and k % POOL_EVERY == 0:
            asm += ["b 3f", ".ltorg", "3:"]
        asm += [f"ldr r0, =wasmelt_memory+{at}", f"ldr r1, ={image}",
                f"movs r2, #{length}" if length < 256 else f"ldr r2, ={length}",
                "1: subs r2, #1", "ldrb r3, [r1, r2]", "strb r3, [r0, r2]", "bne 1b"]
    lines = ['__asm__(".pushsection .text.wasmelt_init,\\"ax\\",%progbits\\n.syntax unified\\n.p2align 1\\n.thumb\\n"',
             '        ".globl wasmelt_init\\n.thumb_func\\n.type wasmelt_init, %function\\nwasmelt_init:\\n"',
             "        " + "".join(f'"{a}\\n"' for a in asm)]
    if start:
        lines += ['        "mov r4, r12\\n"', "#if defined(__ARM_PCS_VFP)", '        "vpush {d0-d7}\\n"', "#endif",
                  f'        "bl {start}\\n"', "#if defined(__ARM_PCS_VFP)", '        "vpop {d0-d7}\\n"', "#endif",
                  '        "mov r12, r4\\n"']
    lines.append('        "9: pop {r0, r1, r2, r3, r4, pc}\\n.ltorg\\n.size wasmelt_init, .-wasmelt_init\\n.popsection");')
    return "\n".join(lines)


HELPER_ORDER = ("bits", "float", "sqrt", "promote", "div32", "div64", "trunc", "trunc_sat", "bulk", "shared_ld32",
                "shared_st32")
# 32- and 64-bit accesses: which shared ARMv6-M routine they call, how often.
WIDE_ACCESSES = {**{op: ("ld32", 1) for op in ("i32.load", "f32.load", "i64.load32_s", "i64.load32_u")},
                 **{op: ("ld32", 2) for op in ("i64.load", "f64.load")},
                 **{op: ("st32", 1) for op in ("i32.store", "f32.store", "i64.store32")},
                 **{op: ("st32", 2) for op in ("i64.store", "f64.store")}}
SHARED_SITES = 4
ENTRY_FLOOR = 32  # instructions below which the C compiler inlines a function into its callers anyway


class Body:
    """Emits one function: a typed value stack mapped to C locals."""

    def __init__(self, lowering: "Lowering", index: int, ftype: FuncType, local_types: list[str]):
        self.lw = lowering
        self.index = index
        self.ftype = ftype
        self.local_types = local_types
        self.stack: list[str] = []  # value types
        self.slots: set[tuple[int, str]] = set()
        self.lines: list[str] = []
        self.frames: list[dict] = []
        self.label_count = 0
        self.dead = 0  # >0: inside unreachable code, counting nested blocks
        self.at = 0  # the position in the body of the instruction being lowered

    def slot(self, depth: int, t: str) -> str:
        self.slots.add((depth, t))
        return f"s{depth}{t[0]}{t[1:]}"

    def push(self, t: str) -> str:
        self.stack.append(t)
        return self.slot(len(self.stack) - 1, t)

    def pop(self) -> tuple[str, str]:
        t = self.stack.pop()
        return self.slot(len(self.stack), t), t

    def top(self, n: int = 0) -> str:
        depth = len(self.stack) - 1 - n
        return self.slot(depth, self.stack[depth])

    def emit(self, line: str) -> None:
        self.lines.append("  " * (1 + len(self.frames)) + line)

    def new_label(self) -> str:
        self.label_count += 1
        return f"L{self.label_count}"

    def block_sig(self, bt) -> tuple[list[str], list[str]]:
        if bt.type_index is not None:
            t = self.lw.m.types[bt.type_index]
            return list(t.params), list(t.results)
        return [], ([bt.result] if bt.result else [])

    def move_to(self, base: int, types: list[str]) -> None:
        """Copy the top len(types) values into the slots starting at base."""
        n = len(types)
        first = len(self.stack) - n
        for i, t in enumerate(types):
            src = self.slot(first + i, t)
            dst = self.slot(base + i, t)
            if src != dst:
                self.emit(f"{dst} = {src};")

    def branch(self, depth: int) -> None:
        frame = self.frames[-1 - depth]
        if frame["kind"] == "loop":
            self.move_to(frame["base"], frame["params"])
            self.emit(f"goto {frame['label']}_top;")
        elif frame["kind"] == "function":
            self.emit_return()
        else:
            self.move_to(frame["base"], frame["results"])
            self.emit(f"goto {frame['label']};")
            frame["used"] = True

    def emit_return(self) -> None:
        results = self.ftype.results
        if not results:
            self.emit("return;")
        elif len(results) == 1:
            self.emit(f"return {self.top()};")
        else:
            vals = ", ".join(self.slot(len(self.stack) - len(results) + i, t) for i, t in enumerate(results))
            self.emit(f"return (struct {self.lw.result_struct(results)}){{{vals}}};")


class Lowering:
    def __init__(self, m: Module, options: LowerOptions):
        self.m = m
        self.options = options
        self.helpers: set[str] = set()
        self.n_func_imports = len(m.imported(FUNC))
        self.structs: dict[tuple[str, ...], str] = {}
        for kind in (TABLE, MEMORY, GLOBAL):
            if m.imported(kind):
                raise LowerError(f"the module imports a {kind} ({m.imported(kind)[0].module}.{m.imported(kind)[0].name}); "
                                 "synth needs every memory, table and global defined in the module")
        wide = [f"memory {i}" for i, mem in enumerate(m.memories) if mem.limits.is64]
        wide += [f"table {i}" for i, t in enumerate(m.tables) if t.limits.is64]
        if wide:
            raise LowerError(f"{wide[0]} has 64-bit addresses (memory64/table64); synth lowers 32-bit memories and "
                             "tables only")
        if len(m.memories) > 1:
            raise LowerError("the module has several memories; fuse it with memory = \"shared\" first")
        try:
            self.layout = derive(m, options.bounds, options.memory_bytes, options.heap_size, options.hints)
        except LayoutError as e:
            raise LowerError(str(e)) from None
        size = self.layout.end  # the addresses [layout.low, size) are the object's
        if options.bounds == "mask" and size & (size - 1):
            size = 1 << (size - 1).bit_length()
        self.memory_bytes = size
        self.checks = module_checks(m, from_zero=self.layout.low == 0)  # each access's bounds check (coalesce.py)
        self.memory_pages = m.memories[0].limits.min if m.memories else 0
        # The shadow stack's pointer: a new value outside the memory is an
        # overflow (it wrapped below 0), trapped in every bounds mode before a
        # frame could be written outside the linear memory.
        self.stack_pointers = {i for i, name in get_names(m).globals.items() if name.endswith("__stack_pointer")
                               and m.memories and m.globals[i].type.valtype == "i32"}

        # A stack pointer whose initial value lies in [low, end] stays there: it
        # is a static of this translation unit and every global.set of it traps
        # unless the new value does too. Each read tells the C compiler so, and
        # it drops the bounds checks of frame accesses that range proves.
        self.known_stack_pointers = {i for i in self.stack_pointers if self._initially_in_window(i)}
        # What every value of it is a multiple of: frame slots then have known
        # alignment, so ARMv6-M accesses them with one instruction.
        self.stack_alignment = {i: pointer_alignment(m, i) for i in self.stack_pointers}

    def _initially_in_window(self, index: int) -> bool:
        g = self.m.globals[index]
        value = const_value(g.init) if g.type.mutable and g.init else None
        return value is not None and self.layout.low <= (value & 0xFFFFFFFF) <= self.memory_bytes

    def result_struct(self, results) -> str:
        key = tuple(results)
        if key not in self.structs:
            self.structs[key] = f"wasmelt_r{len(self.structs)}"
        return self.structs[key]

    def ret_type(self, results) -> str:
        if not results:
            return "void"
        if len(results) == 1:
            return CTYPE[results[0]]
        return f"struct {self.result_struct(results)}"

    def fname(self, index: int) -> str:
        if index < self.n_func_imports:
            return f"{PREFIX}imp{index}"
        return function_symbol(index)

    # -- memory access ---------------------------------------------------------

    def address(self, b: Body, base: str, offset: int, size: int) -> str:
        """A C expression for the byte address of an access (after checks):
        with bounds = "check", the access's check (coalesce.py) of its own
        bytes, of its group's, or none when an earlier access checked them."""
        ea = f"{base} + {offset}u" if offset else base
        if self.options.bounds == "check":
            check = self.checks[b.index].get(b.at, Check(0, offset, size))
            if check is COVERED:
                return f"(u32)({base} + {offset}ull)"
            checked = f"(u32)({base} - {check.shift}u)" if check.shift else base
            return f"WASMELT_EA({checked}, {check.lo}ull, {check.size}, (u32)({base} + {offset}ull))"
        if self.options.bounds == "mask":
            return f"(({ea}) & {self.memory_bytes - 1}u)"
        return f"({ea})"

    def lower(self) -> Lowered:
        m = self.m
        shared = self.shared_accesses()
        defines = [f"WASMELT_SHARED_{k.upper()}" for k in shared] + ["WASMELT_NATURAL_ALIGNMENT"] * \
            self.options.natural_alignment
        out: list[str] = [PRELUDE.replace("#define WASMELT_INLINE", "".join(f"#define {d}\n" for d in defines)
                                          + "#define WASMELT_INLINE", 1)]
        self.helpers.update(f"shared_{k}" for k in shared)
        mem = self.memory_bytes
        if m.memories:
            out += self.memory_declaration()
        # Imports: undefined symbols named by the field name.
        imports: dict[str, str] = {}
        symbols = import_symbols(m)
        for i, imp in enumerate(m.imported(FUNC)):
            t = m.types[imp.desc]
            imports[symbols[i]] = f"{imp.module}.{imp.name}"
        decls: list[str] = []
        for i, imp in enumerate(m.imported(FUNC)):
            t = m.types[imp.desc]
            if len(t.results) > 1:
                raise LowerError(f"import {imp.module}.{imp.name} returns several values; the object contract has one")
            params = ", ".join(CTYPE[p] for p in t.params) or "void"
            decls.append(f'extern {self.ret_type(t.results)} {self.fname(i)}({params}) __asm__("{_c_string(symbols[i])}");')
        # Function prototypes.
        for d, func in enumerate(m.functions):
            index = self.n_func_imports + d
            t = m.types[func.type_index]
            params = ", ".join(f"{CTYPE[p]} l{i}" for i, p in enumerate(t.params)) or "void"
            decls.append(f"static {self.ret_type(t.results)} {self.fname(index)}({params});")
            if index in self.export_entries:
                wrapper, name = self.export_entries[index]
                decls.append(f'{self.ret_type(t.results)} {wrapper}({params}) __asm__("{_c_string(name)}");')
        # Globals.
        for g_index, g in enumerate(m.globals):
            if g.type.valtype not in CTYPE:
                raise LowerError(f"global {g_index} has type {g.type.valtype}; synth supports numeric globals")
            value = self.const(g.init, g.type.valtype)
            qual = "" if g.type.mutable else "const "
            decls.append(f"static {qual}{STORAGE[g.type.valtype]} {PREFIX}g{g_index} = {value};")
        # Tables: function indices and signature ids.
        table_code = self.tables()
        # Data segments: constant images copied into memory at start.
        init_lines, copies = [], []
        for d_index, d in enumerate(m.datas):
            if d.mode == "active":
                start = self.offset(d.offset, f"data segment {d_index}")
                if start + len(d.data) > mem:
                    raise LowerError(f"data segment {d_index} ({len(d.data)} bytes at offset {start}) ends beyond the "
                                     f"{mem} bytes of linear memory synthesized: instantiating the module would trap")
            if d.data:
                used = " __attribute__((used))" if d.mode == "active" else ""  # the Thumb initialiser is assembly
                decls.append(f"static const u8 wasmelt_data{d_index}[{len(d.data)}]{used} = {{{', '.join(str(b) for b in d.data)}}};")
            if d.mode == "active" and d.data:
                init_lines.append(f"  for (u32 i = 0; i < {len(d.data)}u; i++) WASMELT_MEM[{start}u + i] = wasmelt_data{d_index}[i];")
                copies.append((start - self.layout.low, f"wasmelt_data{d_index}", len(d.data)))
        if any(i.op in ("memory.init", "data.drop") for f in m.functions for i in f.body):
            decls.append(f"static u8 wasmelt_dropped[{max(len(m.datas), 1)}];")
        bodies = []
        for d, func in enumerate(m.functions):
            bodies.append(self.function(self.n_func_imports + d, func))
        needs_init = bool(init_lines) or m.start is not None
        if needs_init:
            start = f"{PREFIX}start" if m.start is not None else None
            init = [*([f"__attribute__((used)) static void {start}(void) {{ {self.fname(m.start)}(); }}"] if start else []),
                    "#if defined(__thumb__)", "static u8 wasmelt_ready[2] __attribute__((used, aligned(2)));",
                    thumb_init(copies, start), INIT_CALL[True], "#else", "static u8 wasmelt_ready;",
                    "void wasmelt_init(void) {", "  if (wasmelt_ready) return;", "  wasmelt_ready = 1;", *init_lines,
                    *([f"  {start}();"] if start else []), "}", INIT_CALL[False], "#endif"]
        else:
            init = ["void wasmelt_init(void) { }"]  # always defined, so the header's declaration holds
        exports: dict[str, int] = {}
        wrappers = []
        for n, e in enumerate(m.exports):
            if e.kind != FUNC or symbol_name_problem(e.name):
                continue  # not representable as a symbol: left out (synth warns)
            exports[e.name] = e.index
            t = m.func_type(e.index)
            params = ", ".join(f"{CTYPE[p]} a{i}" for i, p in enumerate(t.params)) or "void"
            args = ", ".join(f"a{i}" for i in range(len(t.params)))
            call = f"{self.fname(e.index)}({args})"
            ret = self.ret_type(t.results)
            body = ("  WASMELT_FIRST_CALL();\n" if needs_init else "") + (f"  return {call};" if t.results else f"  {call};")
            wrapper = f"{PREFIX}x{n}"
            wrappers.append(f'{ret} {wrapper}({params}) __asm__("{_c_string(e.name)}");\n'
                            f"{ret} {wrapper}({params}) {{\n{body}\n}}")
        structs = [f"struct {name} {{ {' '.join(f'{CTYPE[t]} v{i};' for i, t in enumerate(key))} }};"
                   for key, name in self.structs.items()]
        helper_code = [HELPERS[h] for h in HELPER_ORDER
                       if h in self.helpers]
        source = "\n".join(out + structs + decls + helper_code + table_code + init + bodies + wrappers) + "\n"
        return Lowered(source, self.header(exports, imports), exports, imports, mem, self.warnings(),
                       entries=[name for _, name in self.export_entries.values()])

    def shared_accesses(self) -> list[str]:
        """`ld32` / `st32` when the module has SHARED_SITES or more 32-bit loads
        (stores; a 64-bit one is two): on ARMv6-M they then call one shared
        routine each, which pays for itself from about that many. An access
        trusting its alignment hint (`hint_holds`) is not one of them."""
        sites = {"ld32": 0, "st32": 0}
        for f in self.m.functions:
            for ins in f.body:
                width = WIDE_ACCESSES.get(ins.op)
                if width and not self.hint_holds(ins.imm[0], 4 * width[1]):
                    sites[width[0]] += width[1]
        return [k for k, n in sites.items() if n >= SHARED_SITES]

    def memory_declaration(self) -> list[str]:
        """The linear memory: `wasmelt_memory` holds the wasm addresses
        [low, WASMELT_MEM_BYTES) (memory_layout.py), and WASMELT_MEM is where
        wasm address 0 would be, so `WASMELT_MEM + address` is the byte."""
        low, end = self.layout.low, self.memory_bytes
        out = [f"#define WASMELT_MEM_BYTES {end}u", f"#define WASMELT_MEM_LOW {low}u",
               f"u8 wasmelt_memory[{max(end - low + self.layout.pad, 1)}] __attribute__((aligned(8)));",
               # Local absolute symbols (no bytes): where the window lies, for tools reading the image.
               f'__asm__(".set wasmelt_memory_low, {low}\\n.set wasmelt_memory_end, {end}");']
        if low:  # through an integer: `wasmelt_memory - low` would point outside the array
            out.append("#define WASMELT_MEM ((u8 *)((__UINTPTR_TYPE__)wasmelt_memory - WASMELT_MEM_LOW))")
        else:
            out.append("#define WASMELT_MEM wasmelt_memory")
        # One unsigned compare each: an address below low wraps to a huge distance from it.
        out.append("#define WASMELT_SP_OK(v) ((u32)((v) - WASMELT_MEM_LOW) <= WASMELT_MEM_BYTES - WASMELT_MEM_LOW)")
        # WASMELT_EA(c, lo, n, a): the address a, after a trap unless the wasm
        # addresses [c + lo, c + lo + n) lie in the memory (c the base, lo and n
        # constants; for a group of accesses, coalesce.py, the bytes of them all).
        if self.options.bounds == "check" and low and end - low >= 16:
            # With lo up to low the distance fits 32 bits (the usual case);
            # the constant lo selects the form at compile time.
            out.append("#define WASMELT_EA(c, lo, n, a) (((n) > WASMELT_MEM_BYTES - WASMELT_MEM_LOW || ((lo) <= WASMELT_MEM_LOW "
                       "? (u32)((c) + (u32)(lo) - WASMELT_MEM_LOW) : (u64)(c) + (lo) - WASMELT_MEM_LOW) > "
                       "(WASMELT_MEM_BYTES - WASMELT_MEM_LOW) - (n)) ? (wasmelt_trap(7), 0u) : (a))")
        elif self.options.bounds == "check" and low:
            out.append("#define WASMELT_EA(c, lo, n, a) ((u64)(c) + (lo) < WASMELT_MEM_LOW || "
                       "(u64)(c) + (lo) + (n) > WASMELT_MEM_BYTES ? (wasmelt_trap(7), 0u) : (a))")
        elif self.options.bounds == "check" and self.layout.limit is not None:
            # A cut window from 0 (memory_layout.shared_limit): a check of a small
            # lo + n traps when its base exceeds the one limit, and the zero
            # pad above the window holds what it may reach past the end.
            out.append(f"#define WASMELT_MEM_LIMIT {self.layout.limit}u")
            out.append(f"#define WASMELT_EA(c, lo, n, a) (((lo) + (n) <= {self.layout.reach}u ? (c) > WASMELT_MEM_LIMIT : "
                       "(lo) + (n) > WASMELT_MEM_BYTES || (c) > WASMELT_MEM_BYTES - (lo) - (n)) "
                       "? (wasmelt_trap(7), 0u) : (a))")
        elif self.options.bounds == "check":
            # lo and n are constants: the bound folds, and the check is one compare
            # of the 32-bit base (gcc keeps a 64-bit sum as written).
            out.append("#define WASMELT_EA(c, lo, n, a) ((lo) + (n) > WASMELT_MEM_BYTES || (c) > WASMELT_MEM_BYTES - (lo) - (n) "
                       "? (wasmelt_trap(7), 0u) : (a))")
        if self.options.bounds == "check":
            out.append(f"#define WASMELT_CHECK_RANGE(a, n) do {{ if ({'(u32)(a) < WASMELT_MEM_LOW || ' if low else ''}"
                       "(u64)(a) + (n) > WASMELT_MEM_BYTES) wasmelt_trap(7); } while (0)")
        else:
            out.append("#define WASMELT_CHECK_RANGE(a, n) ((void)0)")
        return out

    def warnings(self) -> list[str]:
        found = []
        for op, what in (("memory.grow", f"memory.size stays {self.memory_pages}): the linear memory is a fixed array "
                                         f"of {self.memory_bytes} bytes"),
                         ("table.grow", "table.size stays): tables are fixed arrays")):
            growing = [function_label(self.m, self.n_func_imports + d) for d, f in enumerate(self.m.functions)
                       if any(i.op == op for i in f.body)]
            if growing:
                found.append(f"{op} in {', '.join(growing)} always fails on the target (returns -1 for any growth "
                             f"above 0, {what}")
        return found

    def header(self, exports: dict[str, int], imports: dict[str, str]) -> str:
        lines = ["/* Generated by wasmelt's builtin synth: the object's exports and imports. */",
                 "#pragma once", "#include <stdint.h>", ""]
        ctypes = {"i32": "uint32_t", "i64": "uint64_t", "f32": "float", "f64": "double", "funcref": "uint32_t",
                  "externref": "uint32_t"}
        taken: set[str] = set()

        def ident(prefix: str, name: str) -> str:
            base = prefix + c_identifier(name).lstrip("_")
            found, n = base, 1
            while found in taken:
                n += 1
                found = f"{base}_{n}"
            taken.add(found)
            return found

        for name, index in exports.items():
            t = self.m.func_type(index)
            if len(t.results) > 1:
                lines.append(f"/* export `{_comment(name)}` returns {len(t.results)} values in a struct */")
                continue
            ret = ctypes[t.results[0]] if t.results else "void"
            params = ", ".join(ctypes[p] for p in t.params) or "void"
            lines.append(f'{ret} {ident("wasm_", name)}({params}) __asm__("{_c_string(name)}");')
        lines += ["", "/* Imports the firmware must define: */"]
        for symbol, full in imports.items():
            imp = next(i for i in self.m.imported(FUNC) if f"{i.module}.{i.name}" == full)
            t = self.m.types[imp.desc]
            ret = ctypes[t.results[0]] if t.results else "void"
            params = ", ".join(ctypes[p] for p in t.params) or "void"
            lines.append(f'{ret} {ident("host_", symbol)}({params}) __asm__("{_c_string(symbol)}");  /* {_comment(full)} */')
        lines += ["", "/* Called on a trap; must not return. Codes: " +
                  ", ".join(f"{c} {n}" for n, c in TRAP_CODES.items()) + ". */",
                  "void wasmelt_trap(int code);", "/* Copies data segments; exports call it on first use. */",
                  "void wasmelt_init(void);", ""]
        if self.m.memories:
            lines += self.memory_header()
        return "\n".join(lines)

    def memory_header(self) -> list[str]:
        """The linear memory for the firmware: where it is, and checked
        conversions between wasm addresses and firmware pointers
        (docs/object-contract.md, "Shared buffers")."""
        low, end, layout = self.layout.low, self.memory_bytes, self.layout
        lines = [f"/* The linear memory: wasm addresses [WASMELT_MEMORY_LOW, WASMELT_MEMORY_END) are the bytes of",
                 f"   wasmelt_memory ({layout.reason}). */",
                 "extern uint8_t wasmelt_memory[];",
                 f"#define WASMELT_MEMORY_LOW {low}u", f"#define WASMELT_MEMORY_END {end}u"]
        if layout.heap_size:
            lines += ["/* heap_size: [WASMELT_HEAP_BASE, +WASMELT_HEAP_SIZE) is the heap (the C component's malloc "
                      "arena, else free for an allocator or the firmware's buffers). */",
                      f"#define WASMELT_HEAP_BASE {layout.heap_base}u",
                      f"#define WASMELT_HEAP_SIZE {layout.heap_size}u"]
        lines += [
            "/* The firmware's pointer to `length` bytes at wasm address `offset`, or 0 (NULL) unless all of them",
            "   are in the memory. */",
            "static inline void *wasmelt_pointer(uint32_t offset, uint32_t length) {",
            "  const uint32_t size = WASMELT_MEMORY_END - WASMELT_MEMORY_LOW;",
            f"  if ({'offset < WASMELT_MEMORY_LOW || ' if low else ''}length > size || offset - WASMELT_MEMORY_LOW > size - length) "
            "return 0;",
            "  return wasmelt_memory + (offset - WASMELT_MEMORY_LOW);",
            "}",
            "/* The wasm address of `length` bytes at firmware pointer `p`, or 0 (wasm's null) unless all of them",
            "   are in the memory. */",
            "static inline uint32_t wasmelt_offset(const void *p, uint32_t length) {",
            "  const uint32_t size = WASMELT_MEMORY_END - WASMELT_MEMORY_LOW;",
            "  const uintptr_t at = (uintptr_t)p, base = (uintptr_t)wasmelt_memory;",
            "  if (at < base || length > size || at - base > size - length) return 0;",
            "  return (uint32_t)(at - base) + WASMELT_MEMORY_LOW;",
            "}", ""]
        return lines

    def const(self, expr, valtype: str) -> str:
        """A global's initial value as a C constant (floats as their bits)."""
        if len(expr) != 2:
            raise LowerError("a global initialiser must be a single constant")
        ins = expr[0]
        if ins.op == "i32.const":
            return f"{ins.imm[0] & 0xFFFFFFFF}u"
        if ins.op == "i64.const":
            return f"{ins.imm[0] & 0xFFFFFFFFFFFFFFFF}ull"
        if ins.op == "f32.const":
            return f"{struct.unpack('<I', ins.imm[0])[0]}u"
        if ins.op == "f64.const":
            return f"{struct.unpack('<Q', ins.imm[0])[0]}ull"
        if ins.op == "global.get":  # an earlier immutable global: its constant
            return self.const(self.m.globals[ins.imm[0]].init, valtype)
        if ins.op == "ref.null":
            return "0u"
        if ins.op == "ref.func":
            return f"{ins.imm[0] + 1}u"
        raise LowerError(f"unsupported constant expression {ins.op}")

    def offset(self, expr, what: str) -> int:
        """An active segment's offset: a constant, or an immutable global's."""
        if len(expr) == 2 and expr[0].op == "global.get":
            g = self.m.globals[expr[0].imm[0]]
            expr = g.init
        value = const_value(expr)
        if value is None:
            raise LowerError(f"{what} has an offset that is not a constant")
        return value & 0xFFFFFFFF  # offsets are unsigned: i32.const -16 is 4294967280

    def mutable_tables(self) -> bool:
        return any(i.op in TABLE_OPS for f in self.m.functions for i in f.body)

    def tables(self) -> list[str]:
        m = self.m
        code = []
        mutable = self.mutable_tables()
        for t_index, table in enumerate(m.tables):
            if table.elem not in ("funcref", "externref"):
                raise LowerError(f"table {t_index} holds {table.elem}; synth supports funcref and externref tables")
            size = table.limits.min
            entries = [0] * size  # 0 = null; otherwise function index + 1
            for e_index, e in enumerate(m.elements):
                if e.mode != "active" or e.table != t_index:
                    continue
                start = self.offset(e.offset, f"element segment {e_index}")
                if start + len(e.items) > size:
                    raise LowerError(f"element segment {e_index} ({len(e.items)} entries at offset {start}) ends beyond "
                                     f"the {size} entries of table {t_index}: instantiating the module would trap")
                for k, item in enumerate(e.items):
                    entries[start + k] = self.element_value(item, e_index)
            code.append(f"#define WASMELT_TABLE{t_index}_SIZE {size}u")
            # Tables no instruction writes stay constant (.rodata, 16-bit entries).
            kind = "static u32" if mutable else "static const u16"
            code.append(f"{kind} wasmelt_table{t_index}[{max(size, 1)}] = {{{', '.join(map(str, entries)) or '0'}}};")
        if mutable or any(i.op == "elem.drop" for f in m.functions for i in f.body):
            for e_index, e in enumerate(m.elements):
                if e.mode == "passive" and e.items:
                    values = ", ".join(str(self.element_value(item, e_index)) for item in e.items)
                    code.append(f"static const u32 wasmelt_elem{e_index}[{len(e.items)}] = {{{values}}};")
            code.append(f"static u8 wasmelt_elem_dropped[{max(len(m.elements), 1)}];")
        return code

    def element_value(self, item, e_index: int) -> int:
        ins = item[0]
        if ins.op == "ref.func":
            return ins.imm[0] + 1
        if ins.op == "ref.null":
            return 0
        if ins.op == "global.get":
            return int(self.const(self.m.globals[ins.imm[0]].init, "funcref").rstrip("u"))
        raise LowerError(f"element segment {e_index} has an item `{ins.op}`; synth supports ref.func and ref.null")

    # -- function bodies --------------------------------------------------------

    def function(self, index: int, func) -> str:
        group = self.tail_groups.get(index)
        if group is not None:
            return self.tail_group(group) if index == group.members[0] else self.tail_entry(group, index)
        m = self.m
        t = m.types[func.type_index]
        b, decls = self.body(index, func)
        params = ", ".join(f"{CTYPE[p]} l{i}" for i, p in enumerate(t.params)) or "void"
        return "\n".join([f"static {self.ret_type(t.results)} {self.fname(index)}({params}) {{", *decls,
                          *b.lines, "}"])

    def body(self, index: int, func, first_label: int = 0) -> tuple[Body, list[str]]:
        """A function's lowered statements, and the declarations of its locals
        (parameters excluded) and value-stack slots."""
        m = self.m
        t = m.types[func.type_index]
        local_types = list(t.params) + [vt for n, vt in func.locals for _ in range(n)]
        for vt in local_types:
            if vt not in CTYPE:
                raise LowerError(f"{function_label(m, index)} has a local of type {vt}; synth supports numbers only")
        b = Body(self, index, t, local_types)
        b.label_count = first_label
        b.frames.append({"kind": "function", "label": "Lret", "base": 0, "params": [], "results": list(t.results),
                         "height": 0, "used": False})
        for b.at, ins in enumerate(func.body[:-1]):
            self.instr(b, ins)
        # The final `end` returns the function's results.
        if not b.dead:
            b.emit_return()
        decl_locals = [f"  {CTYPE[vt]} l{i} = {ZERO[vt]};" for i, vt in enumerate(local_types) if i >= len(t.params)]
        decl_slots = [f"  {CTYPE[vt]} {b.slot(d, vt)};" for d, vt in sorted(b.slots)]
        return b, decl_locals + decl_slots

    # -- tail calls --------------------------------------------------------------

    @functools.cached_property
    def tail_groups(self) -> dict[int, TailGroup]:
        """member -> its TailGroup, for every function in a cycle of tail calls."""
        def targets(type_index: int, table: int) -> list[int]:
            t = self.m.types[type_index]
            return [fi for fi in set(self._table_functions(table)) if self.m.func_type(fi) == t]

        groups = {}
        for members in cycles(tail_edges(self.m, targets)):
            params, counts = {}, dict.fromkeys(TAIL_POOL, 0)
            for f in members:
                ctypes = [CTYPE[p] for p in self.m.func_type(f).params]
                params[f] = tuple(f"t{ctypes[:i].count(c)}_{c}" for i, c in enumerate(ctypes))
                for c in TAIL_POOL:
                    counts[c] = max(counts[c], ctypes.count(c))
            if len(members) == 1:  # the function itself, its parameters in their order
                pool = tuple(zip([CTYPE[p] for p in self.m.func_type(members[0]).params], params[members[0]]))
                name = self.fname(members[0])
            else:
                pool = tuple((c, f"t{k}_{c}") for c in TAIL_POOL for k in range(counts[c]))
                name = f"{PREFIX}tail{members[0]}"
            group = TailGroup(members, name, params, pool)
            groups.update(dict.fromkeys(members, group))
        return groups

    def tail_group(self, group: TailGroup) -> str:
        """The group's C function (and, for several members, the first one's entry)."""
        t = self.m.func_type(group.members[0])
        params = [f"{c} {name}" for c, name in group.pool]
        several = len(group.members) > 1
        params = ", ".join(["u32 which"] * several + params) or "void"
        lines = [f"static {self.ret_type(t.results)} {group.name}({params}) {{"]
        if several:
            lines.append("  switch (which) {" + "".join(f" case {k}u: goto Ltail{f};" for k, f in
                                                      enumerate(group.members) if k) + " default: break; }")
        labels = 0
        for f in group.members:
            func = self.m.functions[f - self.n_func_imports]
            b, decls = self.body(f, func, labels)
            labels = b.label_count
            moves = [f"  {CTYPE[p]} l{i} = {group.params[f][i]};" for i, p in enumerate(self.m.func_type(f).params)]
            lines += [f"Ltail{f}:;", "  {", *moves, *decls, *b.lines, "  }"]
            if several:
                lines.append("  __builtin_unreachable();  /* every body returns or jumps */")
        lines.append("}")
        return "\n".join(lines) + ("\n" + self.tail_entry(group, group.members[0]) if several else "")

    def tail_entry(self, group: TailGroup, index: int) -> str:
        """A member's own function, when it shares the group's: the group entered at it."""
        t = self.m.func_type(index)
        params = ", ".join(f"{CTYPE[p]} l{i}" for i, p in enumerate(t.params)) or "void"
        given = {name: f"l{i}" for i, name in enumerate(group.params[index])}
        zero = {CTYPE[vt]: z for vt, z in ZERO.items()}
        args = [f"{group.members.index(index)}u", *(given.get(name, zero[c]) for c, name in group.pool)]
        call = f"{group.name}({', '.join(args)})"
        return (f"static {self.ret_type(t.results)} {self.fname(index)}({params}) {{ "
                f"{'return ' if t.results else ''}{call}; }}")

    def tail_jump(self, b: Body, target: int, args: list[str]) -> str | None:
        """The statements of a tail call to `target` that stay in the caller's
        group (its arguments into the group's parameters, then the jump), or None."""
        group = self.tail_groups.get(b.index)
        if group is None or target not in group.params:
            return None
        return " ".join([*(f"{name} = {a};" for name, a in zip(group.params[target], args)), f"goto Ltail{target};"])

    def instr(self, b: Body, ins) -> None:
        op, imm = ins.op, ins.imm
        if b.dead:
            if op in ("block", "loop", "if"):
                b.dead += 1
                return
            if op == "else" and b.dead == 1:
                b.dead = 0
                frame = b.frames[-1]
                frame["has_else"], frame["then_live"] = True, False
                b.stack = b.stack[: frame["height"]] + frame["params"]
                b.lines.append("  " * len(b.frames) + "} else {")
                return
            if op == "end":
                b.dead -= 1
                if b.dead == 0:
                    self.end_block(b, reachable=False)
                return
            return
        handler = getattr(self, "op_" + op.replace(".", "_"), None)
        if handler is not None:
            handler(b, imm)
            return
        if op in SIMPLE:
            self.simple(b, op)
            return
        where = function_label(self.m, b.index).encode("unicode_escape").decode("ascii")  # names may hold newlines
        raise LowerError(f"instruction `{op}` in {where} is not supported by the builtin synth")

    def unreachable_after(self, b: Body) -> None:
        b.dead = 1  # until the end (or else) of the enclosing block

    # control
    def op_unreachable(self, b, imm):
        b.emit("wasmelt_trap(1);")
        self.unreachable_after(b)

    def op_nop(self, b, imm):
        pass

    def _open(self, b: Body, kind: str, bt) -> dict:
        params, results = b.block_sig(bt)
        base = len(b.stack) - len(params)
        frame = {"kind": kind, "label": b.new_label(), "base": base, "params": params, "results": results,
                 "height": base, "used": False}
        return frame

    def op_block(self, b, imm):
        frame = self._open(b, "block", imm[0])
        b.frames.append(frame)

    def op_loop(self, b, imm):
        frame = self._open(b, "loop", imm[0])
        b.emit(f"{frame['label']}_top:;")
        b.frames.append(frame)

    def op_if(self, b, imm):
        cond, _ = b.pop()
        frame = self._open(b, "if", imm[0])
        b.emit(f"if ({cond}) {{")
        b.frames.append(frame)
        frame["has_else"] = False

    def op_else(self, b, imm):
        frame = b.frames[-1]
        b.move_to(frame["base"], frame["results"])
        b.stack = b.stack[: frame["height"]] + frame["params"]
        frame["has_else"], frame["then_live"] = True, True
        b.lines.append("  " * len(b.frames) + "} else {")

    def end_block(self, b: Body, reachable: bool) -> None:
        frame = b.frames.pop()
        if reachable:
            b.move_to(frame["base"], frame["results"])
        if frame["kind"] == "if":
            b.lines.append("  " * (len(b.frames) + 1) + "}")
        b.stack = b.stack[: frame["height"]] + frame["results"]
        if frame["used"]:
            b.emit(f"{frame['label']}:;")
        # After the block, code runs if something falls out of it, branches to
        # its label, or (for an `if`) takes a branch that fell through.
        falls_out_of_if = frame["kind"] == "if" and (not frame.get("has_else") or frame.get("then_live"))
        b.dead = 0 if (reachable or frame["used"] or falls_out_of_if) else 1

    def op_end(self, b, imm):
        self.end_block(b, reachable=True)

    def op_br(self, b, imm):
        b.branch(imm[0])
        self.unreachable_after(b)

    def op_br_if(self, b, imm):
        cond, _ = b.pop()
        b.emit(f"if ({cond}) {{")
        b.frames.append({"kind": "scope", "label": "", "base": 0, "params": [], "results": [], "height": 0, "used": False})
        b.branch(imm[0] + 1)
        b.frames.pop()
        b.emit("}")

    def op_br_table(self, b, imm):
        depths, default = imm
        index, _ = b.pop()
        b.emit(f"switch ({index}) {{")
        scope = {"kind": "scope", "label": "", "base": 0, "params": [], "results": [], "height": 0, "used": False}
        b.frames.append(scope)
        for k, depth in enumerate(depths):
            b.emit(f"case {k}u: {{")
            b.frames.append(scope)
            b.branch(depth + 2)
            b.frames.pop()
            b.emit("}")
        b.emit("default: {")
        b.frames.append(scope)
        b.branch(default + 2)
        b.frames.pop()
        b.emit("}")
        b.frames.pop()
        b.emit("}")
        self.unreachable_after(b)

    def op_return(self, b, imm):
        b.emit_return()
        self.unreachable_after(b)

    def _call(self, b: Body, target: str, t: FuncType, returning: bool = False) -> None:
        args = [b.pop()[0] for _ in t.params][::-1]
        call = f"{target}({', '.join(args)})"
        if returning:
            if t.results:
                self.emit_call_results(b, call, t)
                b.emit_return()
            else:
                b.emit(f"{call};")
                b.emit("return;")
            self.unreachable_after(b)
            return
        self.emit_call_results(b, call, t)

    def emit_call_results(self, b: Body, call: str, t: FuncType) -> None:
        if not t.results:
            b.emit(f"{call};")
        elif len(t.results) == 1:
            dst = b.push(t.results[0])
            b.emit(f"{dst} = {call};")
        else:
            b.emit("{")
            b.emit(f"  struct {self.result_struct(t.results)} r = {call};")
            for i, rt in enumerate(t.results):
                dst = b.push(rt)
                b.emit(f"  {dst} = r.v{i};")
            b.emit("}")

    def op_call(self, b, imm):
        entry = self.export_entries.get(imm[0])
        self._call(b, entry[0] if entry else self.fname(imm[0]), self.m.func_type(imm[0]))

    @functools.cached_property
    def export_entries(self) -> dict[int, tuple[str, str]]:
        """Defined function -> the wrapper (and symbol) of its first export, which the module's
        own calls of it then go through: the function keeps one caller, the
        wrapper, and the C compiler puts its body there instead of leaving an
        export that is a call (push, call wasmelt_init, pop, branch: 12 B). A
        call from inside the module finds the memory initialised, so the wrapper's
        first-call test is all it adds (a few instructions): only for functions of
        ENTRY_FLOOR instructions or more, none the module can call again before
        returning (recursion, through calls or tables: each round would pay it),
        and none named as the C compiler's runtime (synth's check_runtime_names
        tells such an export's calls from the compiler's by the name alone)."""
        m, base = self.m, self.n_func_imports
        def targets(ins) -> list[int]:
            if ins.op in ("call", "return_call"):
                return [ins.imm[0]]
            return self._table_functions(ins.imm[1]) if ins.op in ("call_indirect", "return_call_indirect") else []

        edges = {base + d: {fi for i in f.body for fi in targets(i) if fi >= base} for d, f in enumerate(m.functions)}
        recursive = {fi for group in cycles(edges) for fi in group}
        called = {fi for f in m.functions for i in f.body if i.op == "call" for fi in i.imm[:1]}
        in_tables = {fi for t in range(len(m.imported(TABLE)) + len(m.tables)) for fi in self._table_functions(t)}
        entries: dict[int, tuple[str, str]] = {}
        for n, e in enumerate(m.exports):
            fi = e.index
            if (e.kind != FUNC or fi not in called or fi < base or fi in entries or symbol_name_problem(e.name)
                    or RUNTIME_NAME.match(e.name) or fi in recursive or fi in in_tables or fi in self.tail_groups
                    or len(m.functions[fi - base].body) < ENTRY_FLOOR):
                continue
            entries[fi] = (f"{PREFIX}x{n}", e.name)
        return entries

    def op_return_call(self, b, imm):
        t = self.m.func_type(imm[0])
        jump = self.tail_jump(b, imm[0], [b.top(len(t.params) - 1 - i) for i in range(len(t.params))])
        if jump is not None:
            for _ in t.params:
                b.pop()
            b.emit(jump)
            self.unreachable_after(b)
            return
        self._call(b, self.fname(imm[0]), self.m.func_type(imm[0]), returning=True)

    def _indirect(self, b: Body, imm, returning: bool) -> None:
        type_index, table = imm
        t = self.m.types[type_index]
        index, _ = b.pop()
        candidates = sorted(set(self._table_functions(table)))
        matching = [fi for fi in candidates if self.m.func_type(fi) == t]
        b.emit(f"if ({index} >= WASMELT_TABLE{table}_SIZE || !wasmelt_table{table}[{index}]) wasmelt_trap(5);")
        # Dispatch by function index: a switch the compiler turns into a jump
        # table; entries of another signature trap as the spec requires.
        args = [b.pop()[0] for _ in t.params][::-1]
        arg_list = ", ".join(args)
        results = []
        if t.results and len(t.results) == 1:
            dst = b.push(t.results[0])
            results = [dst]
        elif len(t.results) > 1:
            for rt in t.results:
                results.append(b.push(rt))
        b.emit(f"switch (wasmelt_table{table}[{index}]) {{")
        for fi in matching:
            call = f"{self.fname(fi)}({arg_list})"
            jump = self.tail_jump(b, fi, args) if returning else None
            if jump is not None:
                b.emit(f"case {fi + 1}u: {jump}")
            elif not t.results:
                b.emit(f"case {fi + 1}u: {call}; break;")
            elif len(t.results) == 1:
                b.emit(f"case {fi + 1}u: {results[0]} = {call}; break;")
            else:
                moves = " ".join(f"{r} = r.v{i};" for i, r in enumerate(results))
                b.emit(f"case {fi + 1}u: {{ struct {self.result_struct(t.results)} r = {call}; {moves} break; }}")
        b.emit("default: wasmelt_trap(6);")
        b.emit("}")
        if returning:
            b.emit_return()
            self.unreachable_after(b)

    def _table_functions(self, table: int) -> list[int]:
        """The functions a table can hold: its active elements', or, when
        instructions write tables, every function a reference can name."""
        found = []
        mutable = self.mutable_tables()
        for e in self.m.elements:
            if mutable or (e.mode == "active" and e.table == table):
                found += [item[0].imm[0] for item in e.items if item[0].op == "ref.func"]
        if mutable:
            found += [i.imm[0] for f in self.m.functions for i in f.body if i.op == "ref.func"]
            found += [g.init[0].imm[0] for g in self.m.globals if g.init and g.init[0].op == "ref.func"]
        return found

    def op_call_indirect(self, b, imm):
        self._indirect(b, imm, False)

    def op_return_call_indirect(self, b, imm):
        self._indirect(b, imm, True)

    # parametric
    def op_drop(self, b, imm):
        b.pop()

    def op_select(self, b, imm):
        cond, _ = b.pop()
        y, _ = b.pop()
        x, t = b.pop()
        dst = b.push(t)
        b.emit(f"{dst} = {cond} ? {x} : {y};")

    # variables
    def op_local_get(self, b, imm):
        t = b.local_types[imm[0]]
        b.emit(f"{b.push(t)} = l{imm[0]};")

    def op_local_set(self, b, imm):
        v, _ = b.pop()
        b.emit(f"l{imm[0]} = {v};")

    def op_local_tee(self, b, imm):
        b.emit(f"l{imm[0]} = {b.top()};")

    def op_global_get(self, b, imm):
        t = self.m.globals[imm[0]].type.valtype
        dst = b.push(t)
        b.emit(f"{dst} = {GLOBAL_READ[t].format(f'{PREFIX}g{imm[0]}')};")
        facts = [f"!WASMELT_SP_OK({dst})"] if imm[0] in self.known_stack_pointers else []
        if self.stack_alignment.get(imm[0], 1) > 1:
            facts.append(f"({dst} & {self.stack_alignment[imm[0]] - 1}u)")
        if facts:
            b.emit(f"if ({' || '.join(facts)}) __builtin_unreachable();")

    def op_global_set(self, b, imm):
        v, t = b.pop()
        if imm[0] in self.stack_pointers:
            b.emit(f"if (!WASMELT_SP_OK({v})) wasmelt_trap(8);")
        b.emit(f"{PREFIX}g{imm[0]} = {GLOBAL_WRITE[t].format(v)};")

    # memory
    def hint_holds(self, memarg, size: int) -> bool:
        """Whether the access may trust its alignment hint (wasmelt_ld32n and the like): the
        module's hints hold, and this one says the access is aligned to its size."""
        return self.options.natural_alignment and 1 << memarg.align >= size

    def _load(self, b, imm, t: str, ctype: str, size: int, convert: str) -> None:
        addr, _ = b.pop()
        ea = self.address(b, addr, imm[0].offset, size)
        dst = b.push(t)
        n = "n" if self.hint_holds(imm[0], size) else ""
        raw = f"WASMELT_MEM[{ea}]" if size == 1 else f"wasmelt_ld{size * 8}{n}(WASMELT_MEM + {ea})"
        value = {"f32": f"wasmelt_bits_f32({raw})", "f64": f"wasmelt_bits_f64({raw})"}.get(ctype, f"({ctype}){raw}")
        b.emit(f"{dst} = {convert.format(value)};")

    def _store(self, b, imm, ctype: str, size: int, convert: str) -> None:
        value, _ = b.pop()
        addr, _ = b.pop()
        ea = self.address(b, addr, imm[0].offset, size)
        bits = {"f32": f"wasmelt_f32_bits({value})", "f64": f"wasmelt_f64_bits({value})"}.get(ctype, convert.format(value))
        if size == 1:
            b.emit(f"WASMELT_MEM[{ea}] = {bits};")
        else:
            n = "n" if self.hint_holds(imm[0], size) else ""
            b.emit(f"wasmelt_st{size * 8}{n}(WASMELT_MEM + {ea}, (u{size * 8}){bits});")

    def op_memory_size(self, b, imm):
        b.emit(f"{b.push('i32')} = {self.memory_pages}u;")

    def op_memory_grow(self, b, imm):
        # The linear memory never grows on the MCU; growing by 0 succeeds
        # everywhere (it is how code asks the size), so it answers the size.
        n, _ = b.pop()
        b.emit(f"{b.push('i32')} = {n} == 0u ? {self.memory_pages}u : 0xffffffffu;")

    def op_memory_fill(self, b, imm):
        self.helpers.add("bulk")
        n, _ = b.pop()
        v, _ = b.pop()
        d, _ = b.pop()
        b.emit(f"wasmelt_memory_fill({d}, {v}, {n});")

    def op_memory_copy(self, b, imm):
        self.helpers.add("bulk")
        n, _ = b.pop()
        s, _ = b.pop()
        d, _ = b.pop()
        b.emit(f"wasmelt_memory_copy({d}, {s}, {n});")

    def op_memory_init(self, b, imm):
        seg = imm[0]
        n, _ = b.pop()
        s, _ = b.pop()
        d, _ = b.pop()
        # Active segments count as dropped once instantiation applied them.
        length = len(self.m.datas[seg].data) if self.m.datas[seg].mode == "passive" else 0
        copy = f" for (u32 i = 0; i < {n}; i++) WASMELT_MEM[{d} + i] = wasmelt_data{seg}[{s} + i];" if length else ""
        b.emit(f"{{ u32 len = wasmelt_dropped[{seg}] ? 0u : {length}u; if ((u64){s} + {n} > len || (u64){d} + {n} > WASMELT_MEM_BYTES) "
               f"wasmelt_trap(7);{copy} }}")

    def op_data_drop(self, b, imm):
        b.emit(f"wasmelt_dropped[{imm[0]}] = 1;")

    # references and tables
    def op_ref_null(self, b, imm):
        t = imm[0] if imm and imm[0] in CTYPE else "funcref"
        b.emit(f"{b.push(t)} = 0u;")

    def op_ref_func(self, b, imm):
        b.emit(f"{b.push('funcref')} = {imm[0] + 1}u;")

    def op_ref_is_null(self, b, imm):
        v, _ = b.pop()
        b.emit(f"{b.push('i32')} = {v} == 0u;")

    def op_table_get(self, b, imm):
        i, _ = b.pop()
        b.emit(f"if ({i} >= WASMELT_TABLE{imm[0]}_SIZE) wasmelt_trap(9);")
        b.emit(f"{b.push(self.m.tables[imm[0]].elem)} = wasmelt_table{imm[0]}[{i}];")

    def op_table_set(self, b, imm):
        v, _ = b.pop()
        i, _ = b.pop()
        b.emit(f"if ({i} >= WASMELT_TABLE{imm[0]}_SIZE) wasmelt_trap(9);")
        b.emit(f"wasmelt_table{imm[0]}[{i}] = {v};")

    def op_table_size(self, b, imm):
        b.emit(f"{b.push('i32')} = WASMELT_TABLE{imm[0]}_SIZE;")

    def op_table_grow(self, b, imm):
        n, _ = b.pop()  # tables never grow on the MCU; by 0 they answer the size, as memory.grow does
        b.pop()
        b.emit(f"{b.push('i32')} = {n} == 0u ? WASMELT_TABLE{imm[0]}_SIZE : 0xffffffffu;")

    def op_table_fill(self, b, imm):
        n, _ = b.pop()
        v, _ = b.pop()
        i, _ = b.pop()
        b.emit(f"if ((u64){i} + {n} > WASMELT_TABLE{imm[0]}_SIZE) wasmelt_trap(9);")
        b.emit(f"for (u32 k = 0; k < {n}; k++) wasmelt_table{imm[0]}[{i} + k] = {v};")

    def op_table_copy(self, b, imm):
        dst, src = imm
        n, _ = b.pop()
        s, _ = b.pop()
        d, _ = b.pop()
        b.emit(f"if ((u64){s} + {n} > WASMELT_TABLE{src}_SIZE || (u64){d} + {n} > WASMELT_TABLE{dst}_SIZE) "
               "wasmelt_trap(9);")
        b.emit(f"if ({d} <= {s}) {{ for (u32 k = 0; k < {n}; k++) wasmelt_table{dst}[{d} + k] = wasmelt_table{src}[{s} + k]; }}"
               f" else {{ for (u32 k = {n}; k-- > 0;) wasmelt_table{dst}[{d} + k] = wasmelt_table{src}[{s} + k]; }}")

    def op_table_init(self, b, imm):
        seg, table = imm
        n, _ = b.pop()
        s, _ = b.pop()
        d, _ = b.pop()
        e = self.m.elements[seg]
        length = len(e.items) if e.mode == "passive" else 0  # active and declarative ones count as dropped
        copy = (f" for (u32 k = 0; k < {n}; k++) wasmelt_table{table}[{d} + k] = wasmelt_elem{seg}[{s} + k];"
                if length else "")
        b.emit(f"{{ u32 len = wasmelt_elem_dropped[{seg}] ? 0u : {length}u; if ((u64){s} + {n} > len || "
               f"(u64){d} + {n} > WASMELT_TABLE{table}_SIZE) wasmelt_trap(9);{copy} }}")

    def op_elem_drop(self, b, imm):
        b.emit(f"wasmelt_elem_dropped[{imm[0]}] = 1;")

    # constants
    def op_i32_const(self, b, imm):
        b.emit(f"{b.push('i32')} = {imm[0] & 0xFFFFFFFF}u;")

    def op_i64_const(self, b, imm):
        b.emit(f"{b.push('i64')} = {imm[0] & 0xFFFFFFFFFFFFFFFF}ull;")

    def op_f32_const(self, b, imm):
        b.emit(f"{b.push('f32')} = {_f32_literal(imm[0])};")

    def op_f64_const(self, b, imm):
        b.emit(f"{b.push('f64')} = {_f64_literal(imm[0])};")

    def simple(self, b: Body, op: str) -> None:
        result_type, template, helper = SIMPLE[op]
        names = sorted(set(re.findall(r"\{(\w)\}", template)))
        values = {}
        for name in reversed(names):
            values[name] = b.pop()[0]
        if helper:
            self.helpers.add(helper)
        dst = b.push(result_type)
        b.emit(f"{dst} = {template.format(**values)};")


# ±0.0 and ±1.0: the constants of the identities a C compiler folds away.
IDENTITY_BITS = {0x00000000, 0x80000000, 0x3F800000, 0xBF800000,
                 0x0000000000000000, 0x8000000000000000, 0x3FF0000000000000, 0xBFF0000000000000}


def _f32_literal(raw: bytes) -> str:
    bits = struct.unpack('<I', raw)[0]
    return f"wasmelt_bits_f32(wasmelt_opaque32({bits}u))" if bits in IDENTITY_BITS else f"wasmelt_bits_f32({bits}u)"


def _f64_literal(raw: bytes) -> str:
    bits = struct.unpack('<Q', raw)[0]
    literal = f"wasmelt_bits_f64({bits}ull)"
    return f"wasmelt_opaque_f64({literal})" if bits in IDENTITY_BITS else literal


def _c_string(text: str) -> str:
    """The body of a C string literal holding `text`'s UTF-8 bytes: printable
    ASCII as is, everything else (and quotes, backslashes, ?) as octal escapes."""
    return "".join(chr(b) if 0x20 <= b < 0x7F and b not in b'"\\?' else f"\\{b:03o}" for b in text.encode())


def _comment(text: str) -> str:
    """`text` safe inside a C comment."""
    return _c_string(text).replace("*/", "*\\057")


def symbol_name_problem(name: str) -> str | None:
    """Why a wasm name cannot be an ELF symbol, or None."""
    if not name:
        return "is empty"
    if "\0" in name:
        return "contains a NUL character"
    if name.startswith("\x01"):
        return "starts with the byte 0x01, which the C compiler strips from symbol names"
    return None


def _build_simple() -> dict[str, tuple[str, str, str | None]]:
    s: dict[str, tuple[str, str, str | None]] = {}
    for t, bits in (("i32", 32), ("i64", 64)):
        u, sg = CTYPE[t], ("s32" if bits == 32 else "s64")
        s[f"{t}.eqz"] = ("i32", "{a} == 0", None)
        for name, c in (("eq", "=="), ("ne", "!=")):
            s[f"{t}.{name}"] = ("i32", "{a} " + c + " {b}", None)
        for name, c in (("lt", "<"), ("gt", ">"), ("le", "<="), ("ge", ">=")):
            s[f"{t}.{name}_s"] = ("i32", f"({sg}){{a}} {c} ({sg}){{b}}", None)
            s[f"{t}.{name}_u"] = ("i32", "{a} " + c + " {b}", None)
        for name in ("clz", "ctz", "popcnt"):
            s[f"{t}.{name}"] = (t, f"wasmelt_{t}_{name}({{a}})", "bits")
        s[f"{t}.add"] = (t, "{a} + {b}", None)
        s[f"{t}.sub"] = (t, "{a} - {b}", None)
        s[f"{t}.mul"] = (t, "{a} * {b}", None)
        for name in ("div_s", "div_u", "rem_s", "rem_u"):
            s[f"{t}.{name}"] = (t, f"wasmelt_{t}_{name}({{a}}, {{b}})", "div32" if bits == 32 else "div64")
        s[f"{t}.and"] = (t, "{a} & {b}", None)
        s[f"{t}.or"] = (t, "{a} | {b}", None)
        s[f"{t}.xor"] = (t, "{a} ^ {b}", None)
        s[f"{t}.shl"] = (t, f"{{a}} << ({{b}} & {bits - 1})", None)
        s[f"{t}.shr_s"] = (t, f"({u})(({sg}){{a}} >> ({{b}} & {bits - 1}))", None)
        s[f"{t}.shr_u"] = (t, f"{{a}} >> ({{b}} & {bits - 1})", None)
        s[f"{t}.rotl"] = (t, f"wasmelt_{t}_rotl({{a}}, {{b}})", "bits")
        s[f"{t}.rotr"] = (t, f"wasmelt_{t}_rotr({{a}}, {{b}})", "bits")
    for t in ("f32", "f64"):
        for name, c in (("eq", "=="), ("ne", "!="), ("lt", "<"), ("gt", ">"), ("le", "<="), ("ge", ">=")):
            s[f"{t}.{name}"] = ("i32", "{a} " + c + " {b}", None)
        for name in ("abs", "neg", "ceil", "floor", "trunc", "nearest"):
            s[f"{t}.{name}"] = (t, f"wasmelt_{t}_{name}({{a}})", "float")
        s[f"{t}.sqrt"] = (t, f"wasmelt_{t}_sqrt({{a}})", "sqrt")
        s[f"{t}.add"] = (t, "{a} + {b}", None)
        s[f"{t}.sub"] = (t, "{a} - {b}", None)
        s[f"{t}.mul"] = (t, "{a} * {b}", None)
        s[f"{t}.div"] = (t, "{a} / {b}", None)
        for name in ("min", "max", "copysign"):
            s[f"{t}.{name}"] = (t, f"wasmelt_{t}_{name}({{a}}, {{b}})", "float")
    s["i32.wrap_i64"] = ("i32", "(u32){a}", None)
    for it in ("i32", "i64"):
        for ft in ("f32", "f64"):
            for sign in ("s", "u"):
                s[f"{it}.trunc_{ft}_{sign}"] = (it, f"wasmelt_{it}_trunc_{ft}_{sign}({{a}})", "trunc")
                s[f"{it}.trunc_sat_{ft}_{sign}"] = (it, f"wasmelt_{it}_trunc_sat_{ft}_{sign}({{a}})", "trunc_sat")
    s["i64.extend_i32_s"] = ("i64", "(u64)(s64)(s32){a}", None)
    s["i64.extend_i32_u"] = ("i64", "(u64){a}", None)
    for ft in ("f32", "f64"):
        s[f"{ft}.convert_i32_s"] = (ft, f"({ft})(s32){{a}}", None)
        s[f"{ft}.convert_i32_u"] = (ft, f"({ft}){{a}}", None)
        s[f"{ft}.convert_i64_s"] = (ft, f"({ft})(s64){{a}}", None)
        s[f"{ft}.convert_i64_u"] = (ft, f"({ft}){{a}}", None)
    s["f32.demote_f64"] = ("f32", "(f32)wasmelt_opaque_f64({a})", None)
    # zig's compiler-rt keeps a signalling NaN signalling when it widens: quiet it here.
    s["f64.promote_f32"] = ("f64", "wasmelt_f64_promote({a})", "promote")
    s["i32.reinterpret_f32"] = ("i32", "wasmelt_f32_bits({a})", None)
    s["i64.reinterpret_f64"] = ("i64", "wasmelt_f64_bits({a})", None)
    s["f32.reinterpret_i32"] = ("f32", "wasmelt_bits_f32(wasmelt_opaque32({a}))", None)
    s["f64.reinterpret_i64"] = ("f64", "wasmelt_opaque_f64(wasmelt_bits_f64({a}))", None)
    s["i32.extend8_s"] = ("i32", "(u32)(s32)(s8){a}", None)
    s["i32.extend16_s"] = ("i32", "(u32)(s32)(s16){a}", None)
    s["i64.extend8_s"] = ("i64", "(u64)(s64)(s8){a}", None)
    s["i64.extend16_s"] = ("i64", "(u64)(s64)(s16){a}", None)
    s["i64.extend32_s"] = ("i64", "(u64)(s64)(s32){a}", None)
    return s


SIMPLE = _build_simple()

_LOADS = {
    "i32.load": ("i32", "u32", 4, "{}"), "i64.load": ("i64", "u64", 8, "{}"),
    "f32.load": ("f32", "f32", 4, "{}"), "f64.load": ("f64", "f64", 8, "{}"),
    "i32.load8_s": ("i32", "s8", 1, "(u32)(s32){}"), "i32.load8_u": ("i32", "u8", 1, "(u32){}"),
    "i32.load16_s": ("i32", "s16", 2, "(u32)(s32){}"), "i32.load16_u": ("i32", "u16", 2, "(u32){}"),
    "i64.load8_s": ("i64", "s8", 1, "(u64)(s64){}"), "i64.load8_u": ("i64", "u8", 1, "(u64){}"),
    "i64.load16_s": ("i64", "s16", 2, "(u64)(s64){}"), "i64.load16_u": ("i64", "u16", 2, "(u64){}"),
    "i64.load32_s": ("i64", "s32", 4, "(u64)(s64){}"), "i64.load32_u": ("i64", "u32", 4, "(u64){}"),
}
_STORES = {
    "i32.store": ("u32", 4, "{}"), "i64.store": ("u64", 8, "{}"), "f32.store": ("f32", 4, "{}"),
    "f64.store": ("f64", 8, "{}"), "i32.store8": ("u8", 1, "(u8){}"), "i32.store16": ("u16", 2, "(u16){}"),
    "i64.store8": ("u8", 1, "(u8){}"), "i64.store16": ("u16", 2, "(u16){}"), "i64.store32": ("u32", 4, "(u32){}"),
}
for _op, (_t, _ct, _size, _conv) in _LOADS.items():
    setattr(Lowering, "op_" + _op.replace(".", "_"),
            lambda self, b, imm, t=_t, ct=_ct, size=_size, conv=_conv: self._load(b, imm, t, ct, size, conv))
for _op, (_ct, _size, _conv) in _STORES.items():
    setattr(Lowering, "op_" + _op.replace(".", "_"),
            lambda self, b, imm, ct=_ct, size=_size, conv=_conv: self._store(b, imm, ct, size, conv))


def lower(module: Module, options: LowerOptions = LowerOptions()) -> Lowered:
    lowering = Lowering(module, options)
    lowered = lowering.lower()
    layout = lowering.layout
    lowered.memory = {**layout.facts(), "end": lowering.memory_bytes, "bytes": lowering.memory_bytes - layout.low}
    lowered.warnings += layout.warnings
    if layout.size < layout.declared and not options.memory_bytes and options.bounds != "check":
        beyond = ("reads and writes whatever RAM lies there" if options.bounds == "none"
                  else "wraps inside it")
        lowered.warnings.append(f"bounds = \"{options.bounds}\": the linear memory holds only the addresses "
                                f"[{layout.low}, {lowering.memory_bytes}) the module uses ({layout.reason}), not its "
                                f"declared {layout.declared} bytes; an access outside them {beyond}. Use bounds = "
                                "\"check\" to trap instead, or set memory_bytes")
    return lowered
