"""How much linear memory the synthesized object holds: the window
[low, end) of wasm addresses the module uses, derived from its layout.

What is used: the data segments, the shadow stack below the `__stack_pointer`
global's initial value (its static worst case when known, else all of it), the
data up to `__data_end`/`__heap_base` (or the fuse report's used bytes), constant
addresses, and a `heap_size` arena above `__heap_base` (the C component's, from
its report, or the synth's for a module whose heap nothing declares). `memory_bytes`
overrides. Where the module may address beyond what can be derived (memory.size
or memory.grow, no layout, an allocator above `__heap_base` without `heap_size`)
the declared memory is kept, and `reason` says why. With bounds = "check" a
cut window from 0 may hold a zero pad above `end`, so most accesses check
their base against one limit (`shared_limit`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..discipline import PAGE, const_value, exported_global_value
from ..wasm.model import FUNC, GLOBAL, Module
from ..wasm.names import function_label, get_names
from .coalesce import access_size
from .shadow_stack import ShadowStack, analyse

ALIGN = 8  # the array's alignment: an address keeps its alignment inside the window
STACK_ALIGN = 16
# The least unused memory below the stack the window leaves out: a window from
# a higher address costs one more instruction per bounds check, more flash
# than a few hundred bytes of RAM are worth.
CUT_MIN = 256
# A cut window's zero pad grows to let accesses of a larger `offset + size`
# compare their bare base against its one limit while each byte more buys at
# least a byte of flash: a site's own bound costs about SITE_BYTES (Thumb-2's
# movw, or ARMv6-M's literal and its load). PAD_REACH caps it.
SITE_BYTES = 6
PAD_REACH = 256
LAYOUT_SEGMENTS = (".data", ".bss", ".rodata", ".tdata")  # lld's output sections: the zeroed data is a segment too


class LayoutError(Exception):
    """The attributes ask for a memory the module cannot run in."""


@dataclass(frozen=True)
class LayoutHints:
    """What an earlier stage's report says about the module's memory, for a
    module that no longer says it itself (DCE drops the `__data_end` export,
    trims zeroed data and the unused stack pointer)."""
    used_bytes: int | None = None  # the used extent: the fuse's, or a component's data end / stack top
    heap_base: int | None = None
    stack_top: int | None = None
    heap_size: int = 0  # the component's libc arena above heap_base (its `heap_size`)
    heap_owner: str | None = None  # the component that declares it
    heap_base_taken: bool | None = None  # whether its code takes __heap_base (the component's relocations say)

    @classmethod
    def from_report(cls, report: dict) -> "LayoutHints":
        """From a fuse report (`memory.used_bytes`) or a component report
        (`data_end`, `heap_base`, `stack_pointer_init`, `data_extent`, `heap_base_taken`)."""
        if "memory" in report:
            memory = report["memory"] or {}
            return cls(used_bytes=memory.get("used_bytes") or None, stack_top=memory.get("shared_stack_top"))
        if report.get("data_end") is None and report.get("heap_base") is None:
            return cls()
        ends = [report.get(k) or 0 for k in ("data_end", "stack_pointer_init", "data_extent")]
        return cls(max(ends) or None, report.get("heap_base"), report.get("stack_pointer_init"),
                   report.get("heap_size") or 0, report.get("label"), report.get("heap_base_taken"))


@dataclass(frozen=True)
class MemoryLayout:
    low: int  # the first wasm address the object holds
    end: int  # one past the last
    declared: int  # the module's declared minimum, in bytes
    reason: str  # how the window was chosen (the size report shows it)
    stack: ShadowStack
    stack_low: int | None = None  # the lowest address the shadow stack may reach
    heap_base: int | None = None
    heap_size: int = 0
    warnings: tuple[str, ...] = ()  # what the firmware should know of this memory (shown at build time)
    # bounds = "check" on a cut window: an access with offset + size <= reach
    # traps exactly when its base exceeds `limit`; the array holds `pad` zero
    # bytes above `end` (wasm addresses [end, end + pad)) for those it allows.
    limit: int | None = None
    reach: int = 0
    pad: int = 0

    @property
    def size(self) -> int:
        return self.end - self.low

    def facts(self) -> dict:
        """For the synth report and `wasmelt size`."""
        return {"low": self.low, "end": self.end, "bytes": self.size, "declared": self.declared,
                "reason": self.reason, "stack_top": self.stack.top, "stack_low": self.stack_low,
                "stack_worst": self.stack.worst, "stack_exports": self.stack.exports,
                "heap_base": self.heap_base, "heap_size": self.heap_size, "limit": self.limit,
                "reach": self.reach, "pad": self.pad}


def _round(value: int, to: int) -> int:
    return -(-value // to) * to


def constant_accesses(m: Module) -> tuple[list[tuple[int, int]], int]:
    """[start, end) of every load/store at a constant address, and the
    highest `offset + size` of any access: whatever its base (unsigned), an
    access reaches at least its offset, so a rebased module's accesses
    (`i32.const 0; ...; i32.store offset=2162708`) say where its data lies."""
    found, reach = [], 0
    for f in m.functions:
        body = f.body
        for k, ins in enumerate(body):
            size = access_size(ins.op)
            if not size:
                continue
            reach = max(reach, ins.imm[0].offset + size)
            store = ".store" in ins.op
            if store:  # i32.const a; <a constant value>; store (else the address is not in reach)
                address = body[k - 2] if k >= 2 and body[k - 1].op.endswith(".const") else None
            else:
                address = body[k - 1] if k else None
            if address is not None and address.op == "i32.const":
                start = (address.imm[0] & 0xFFFFFFFF) + ins.imm[0].offset
                found.append((start, start + size))
    return found, reach


def stack_floor(m: Module, top: int) -> int:
    """The highest address below the stack's top that data or a constant
    access uses: the shadow stack lies in [floor, top)."""
    segments = [(const_value(d.offset) & 0xFFFFFFFF, (const_value(d.offset) & 0xFFFFFFFF) + len(d.data))
                for d in m.datas if d.mode == "active" and const_value(d.offset) is not None]
    return max((e for s, e in [*segments, *constant_accesses(m)[0]] if s < top), default=0)


def _sizing_ops(m: Module) -> list[str]:
    imported = len(m.imported(FUNC))
    return [f"{ins.op} in {function_label(m, imported + d)}" for d, f in enumerate(m.functions)
            for ins in f.body if ins.op in ("memory.size", "memory.grow")][:3]


def _reads_heap_base(m: Module, heap_base: int) -> str | None:
    """Where the module takes `__heap_base` (an allocator above its data)."""
    imported = len(m.imported(FUNC))
    globals_ = {e.index for e in m.exports if e.kind == GLOBAL and e.name == "__heap_base"}
    for d, f in enumerate(m.functions):
        for ins in f.body:
            if ins.op == "global.get" and ins.imm[0] in globals_ or ins.op == "i32.const" and ins.imm[0] == heap_base:
                return function_label(m, imported + d)
    word = heap_base.to_bytes(4, "little")
    for i, d in enumerate(m.datas):
        if any(d.data[k:k + 4] == word for k in range(0, len(d.data) - 3, 4)):
            return f"data segment {i}"
    return None


def _layout_known(m: Module, used_bytes: int | None) -> bool:
    """Whether the module says where its zero-initialised data ends: the
    linker's `__data_end`/`__heap_base`, the fuse's report, or lld's named
    segments (its `.bss` is a segment of zeros)."""
    if used_bytes or exported_global_value(m, "__data_end") or exported_global_value(m, "__heap_base"):
        return True
    names = get_names(m).data
    return bool(names) and any(n in LAYOUT_SEGMENTS for n in names.values())


def access_reaches(m: Module) -> list[int]:
    """`offset + size` of every load and store. Also of those that share a
    group's check (coalesce.py): counting only the checks chose smaller pads
    and more flash on the size corpus (frames +16 B on m4, +44 B on m0), as
    the compiler already merges the checks of one base against one limit."""
    return [ins.imm[0].offset + size for f in m.functions for ins in f.body if (size := access_size(ins.op))]


def shared_limit(layout: MemoryLayout, reaches: list[int]) -> MemoryLayout:
    """A cut window with one limit, `end - 1`, for its accesses of small
    offsets: one compare of the bare base, the same constant at every site.
    Such an access may reach `reach - 1` bytes past `end`, so the array holds
    that much zero pad above it; the pad lies inside the declared memory, so
    whatever wasm traps on still traps, and what the object lets through
    there reads the declared memory's zeroes (and keeps what is written).
    A window from 0 only: the two-sided check compares `base + offset - low`,
    one constant per site either way."""
    if layout.low or layout.end >= layout.declared or not reaches:
        return layout
    # The accesses of the smallest offset + size share their exact bound
    # already: the pad pays for itself with the others.
    reach, pad, most = min(reaches), 0, min(PAD_REACH, layout.declared - layout.end + 1)
    for r in sorted({r for r in reaches if reach < r <= most}):
        if SITE_BYTES * sum(reach < x <= r for x in reaches) >= r - 1 - pad:
            reach, pad = r, r - 1
    if not pad:
        return layout
    why = f", a {pad} B zero pad above {layout.end} (one bounds limit for every access of offset + size <= {reach})"
    return replace(layout, reason=layout.reason + why, limit=layout.end - 1, reach=reach, pad=pad)


def derive(m: Module, bounds: str = "check", memory_bytes: int | None = None, heap_size: int = 0,
           hints: LayoutHints = LayoutHints()) -> MemoryLayout:
    layout = _derive(m, bounds, memory_bytes, heap_size, hints)
    return shared_limit(layout, access_reaches(m)) if bounds == "check" else layout


def _derive(m: Module, bounds: str, memory_bytes: int | None, heap_size: int, hints: LayoutHints) -> MemoryLayout:
    declared = m.memories[0].limits.min * PAGE if m.memories else 0
    stack = analyse(m)
    used_bytes = hints.used_bytes
    if stack.pointer is None and hints.stack_top is not None:
        # DCE dropped the stack pointer: nothing uses the stack below its top.
        stack = ShadowStack(None, hints.stack_top, {}, {}, 0)
    if not m.memories:
        return MemoryLayout(0, 0, 0, "the module has no memory", stack)
    if hints.heap_size:
        if heap_size:
            raise LayoutError(f"heap_size is declared twice: component {hints.heap_owner} has heap_size = "
                              f"{hints.heap_size} (its malloc arena, which the memory already includes) and the "
                              f"synth has heap_size = {heap_size}; drop the synth's heap_size (it is for a module "
                              "whose heap its component does not declare, such as a prebuilt .wasm), or change the "
                              "component's")
        if memory_bytes:
            raise LayoutError(f"memory_bytes and heap_size both size the memory: component {hints.heap_owner} has "
                              f"heap_size = {hints.heap_size}; drop memory_bytes (the memory then includes the heap)")
        heap_size = hints.heap_size

    def keep(why: str) -> MemoryLayout:
        return MemoryLayout(0, declared, declared, f"the declared {declared} bytes: {why}", stack)

    if memory_bytes:
        if memory_bytes > declared:
            raise LayoutError(f"memory_bytes = {memory_bytes} is more than the module's declared memory "
                              f"({declared} bytes): an access beyond {declared} traps in wasm, so the object keeps "
                              f"at most that; lower memory_bytes")
        if heap_size:
            raise LayoutError("memory_bytes and heap_size both size the memory: give one")
        sizing = _sizing_ops(m)
        warnings = (f"memory_bytes = {memory_bytes}; {', '.join(sizing)} still sees the declared {declared // PAGE} "
                    "page(s): code that computes the end of the memory from memory.size addresses beyond the "
                    "object's memory",) if sizing and memory_bytes < declared else ()
        return MemoryLayout(0, memory_bytes, declared, f"memory_bytes = {memory_bytes}", stack, warnings=warnings)
    sizing = _sizing_ops(m)
    if sizing:
        if heap_size:
            raise LayoutError(f"heap_size: the module sizes its own heap ({', '.join(sizing)}); set memory_bytes "
                              "instead, or drop heap_size to keep the declared memory")
        return keep(f"{', '.join(sizing)} reads or changes the memory's size")
    if any(d.mode == "active" and const_value(d.offset) is None for d in m.datas):
        return keep("a data segment has a non-constant address")
    if not _layout_known(m, used_bytes):
        return keep("the module exports no __data_end/__heap_base and has no fuse report, so where its data "
                    "ends is unknown; set memory_bytes to size it")
    segments = [(const_value(d.offset) & 0xFFFFFFFF, (const_value(d.offset) & 0xFFFFFFFF) + len(d.data))
                for d in m.datas if d.mode == "active"]
    constants, reach = constant_accesses(m)
    data_end = exported_global_value(m, "__data_end") or 0
    heap_base = exported_global_value(m, "__heap_base")
    heap_base = heap_base if heap_base is not None else hints.heap_base
    end = max([data_end, heap_base or 0, used_bytes or 0, stack.top or 0, reach]
              + [e for _, e in segments] + [e for _, e in constants])
    if heap_size:
        base = heap_base if heap_base is not None else _round(end, STACK_ALIGN)
        end = max(end, base + heap_size)
        heap_base = base
    elif heap_base is not None and hints.heap_base_taken is not False:
        reader = _reads_heap_base(m, heap_base)
        if reader:
            return keep(f"{reader} takes __heap_base (it allocates above its data); declare heap_size for that "
                        "arena, or set memory_bytes")
    end = _round(end, ALIGN)
    if end > declared:
        return keep(f"its layout reaches {end}, beyond the declared memory")
    low, stack_low, how = 0, None, "data, stack and constant addresses"
    if stack.top is not None:
        # The shadow stack grows down from its top; below it lies its static
        # worst case, or (unknown) everything down to the data or 0.
        below = [e for s, e in [*segments, *constants] if s < stack.top]
        floor = stack_floor(m, stack.top)
        known = {e: d for e, d in stack.exports.items() if d is not None}
        deepest = max(known, key=known.get, default=None)
        if deepest is not None and known[deepest] > stack.top - floor:
            raise LayoutError(f"the shadow stack's static worst case is {known[deepest]} B (through `{deepest}`), more "
                              f"than the {stack.top - floor} B below __stack_pointer's initial value {stack.top}: "
                              "every call that deep would trap (stack_overflow); raise the component's stack_size")
        bounded = stack.worst is not None and stack.top - _round(stack.worst, STACK_ALIGN) >= floor
        stack_low = stack.top - _round(stack.worst, STACK_ALIGN) if bounded else floor
        lowest_used = min([s for s, _ in segments] + [s for s, _ in constants] + [stack_low])
        windowed = bounds != "mask" and not any(i.op == "memory.init" for f in m.functions for i in f.body)
        unused = lowest_used // ALIGN * ALIGN if windowed and not below else 0
        if unused >= CUT_MIN:
            low = unused
        how = (f"shadow stack [{stack_low}, {stack.top}) "
               + ("(its static worst case)" if bounded else "(all of it: its depth is not bounded statically)")
               + (f", the unused {unused} B below it kept (less than {CUT_MIN} B: a window from 0 checks one "
                  "bound per access)" if 0 < unused < CUT_MIN else "")
               + f", data up to {end}")
    if heap_size:
        how += f", heap_size {heap_size} at {heap_base}"
    return MemoryLayout(low, end, declared, f"used: {how}", stack, stack_low, heap_base, heap_size)
