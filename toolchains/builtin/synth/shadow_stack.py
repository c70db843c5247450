"""The static worst case of a module's shadow stack (clang's and rustc's
`__stack_pointer` global): each function's frame, and the deepest chain of calls.

A frame is what `global.get sp; i32.const N; i32.sub` takes; the function may
only write the pointer back from those values (or a local that holds one, plus a
constant). Anything else (a frame of run-time size, a pointer set from elsewhere,
recursion) makes the bound unknown: None. pointer_alignment(m, sp) is what every
value of the pointer is a multiple of (clang keeps it at 16).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..discipline import stack_pointer_global
from ..wasm.model import FUNC, Module


@dataclass(frozen=True)
class ShadowStack:
    pointer: int | None  # the global's module-wide index
    top: int | None  # its initial value
    frames: dict[int, int | None]  # function index -> bytes it takes (None: unknown)
    exports: dict[str, int | None]  # export name -> worst case through its calls
    worst: int | None  # over every entry point (exports, start); 0 when nothing moves the pointer


def _frame(body, sp: int) -> int | None:
    """Bytes one function body takes from the shadow stack, or None."""
    ops = [(i.op, i.imm) for i in body]

    def get_sp(k: int) -> bool:
        return 0 <= k < len(ops) and ops[k][0] == "global.get" and ops[k][1][0] == sp

    def frame_at(k: int) -> bool:  # ops[k-2:k+1] is `global.get sp; i32.const N; i32.sub`
        return get_sp(k - 2) and ops[k - 1][0] == "i32.const" and ops[k][0] == "i32.sub"

    frame, holders = 0, set()
    for k, (op, imm) in enumerate(ops):
        if get_sp(k):
            if frame_at(k + 2):
                frame += ops[k + 1][1][0] & 0xFFFFFFFF
            elif any(op_ in ("i32.sub", "i32.and") for op_, _ in ops[k + 1:k + 3]):
                return None  # a frame of run-time size (alloca), or realigned below the pointer
        elif op in ("local.set", "local.tee") and (get_sp(k - 1) or frame_at(k - 1)):
            holders.add(imm[0])
    for k, (op, imm) in enumerate(ops):  # a holder is only ever assigned from the pointer
        if op in ("local.set", "local.tee") and imm[0] in holders and not (get_sp(k - 1) or frame_at(k - 1)):
            return None
    for k, (op, imm) in enumerate(ops):
        if op != "global.set" or imm[0] != sp:
            continue
        if frame_at(k - 1) or ops[k - 1][0] == "local.tee" and frame_at(k - 2):
            continue  # the prologue
        if k >= 1 and ops[k - 1][0] == "local.get" and ops[k - 1][1][0] in holders:
            continue  # restoring a saved value
        if (k >= 3 and [o for o, _ in ops[k - 3:k]] == ["local.get", "i32.const", "i32.add"]
                and ops[k - 3][1][0] in holders or get_sp(k - 3) and ops[k - 2][0] == "i32.const"
                and ops[k - 1][0] == "i32.add" and ops[k - 2][1][0] >= 0):
            continue  # the epilogue: the frame given back
        return None
    return frame


def analyse(m: Module) -> ShadowStack:
    imported = len(m.imported(FUNC))
    sp = stack_pointer_global(m)
    if sp is None or not m.memories:
        return ShadowStack(None, None, {}, {}, 0)
    g = m.globals[sp - len(m.imported("global"))] if sp >= len(m.imported("global")) else None
    top = g.init[0].imm[0] & 0xFFFFFFFF if g and g.init and g.init[0].op == "i32.const" else None
    frames = {imported + d: _frame(f.body, sp) for d, f in enumerate(m.functions)}
    table_targets = sorted({i.imm[0] for e in m.elements for item in e.items for i in item if i.op == "ref.func"})
    calls: dict[int, set[int]] = {}
    for d, f in enumerate(m.functions):
        found = set()
        for ins in f.body:
            if ins.op in ("call", "return_call"):
                found.add(ins.imm[0])
            elif ins.op in ("call_indirect", "return_call_indirect"):
                wanted = m.types[ins.imm[0]]
                found.update(t for t in table_targets if m.func_type(t) == wanted)
            elif ins.op in ("call_ref", "return_call_ref"):
                found.update(table_targets)
        calls[imported + d] = found
    memo: dict[int, int | None] = {}

    def worst(f: int, path: frozenset) -> int | None:
        if f < imported:
            return 0  # the host's code runs on the native stack
        if f in path:
            return None  # recursion
        if f in memo:
            return memo[f]
        if frames[f] is None:
            return None
        below = 0
        for callee in calls[f]:
            depth = worst(callee, path | {f})
            if depth is None:
                memo[f] = None
                return None
            below = max(below, depth)
        memo[f] = frames[f] + below
        return memo[f]

    exports = {e.name: worst(e.index, frozenset()) for e in m.exports if e.kind == FUNC}
    entries = [worst(e.index, frozenset()) for e in m.exports if e.kind == FUNC]
    if m.start is not None:
        entries.append(worst(m.start, frozenset()))
    total = None if any(v is None for v in entries) else max(entries, default=0)
    return ShadowStack(sp, top, frames, exports, total)


ALIGNMENTS = (16, 8, 4)  # what the hint can tell the C compiler: 4 and 8 make word accesses plain on ARMv6-M
SIMPLE_PUSH = ("i32.const", "local.get", "global.get")  # instructions that only push one value


def _aligned(ops: list, k: int, sp: int, align: int, locals_: set[int], depth: int = 4) -> bool:
    """Whether the value instruction k leaves on the stack is a multiple of
    `align`, given that the pointer and the locals in `locals_` always are."""
    if k < 0 or depth == 0:
        return False
    op, imm = ops[k]
    if op == "global.get":
        return imm[0] == sp
    if op == "i32.const":
        return imm[0] % align == 0
    if op == "local.get":
        return imm[0] in locals_
    if op == "local.tee":
        return _aligned(ops, k - 1, sp, align, locals_, depth - 1)
    if op in ("i32.add", "i32.sub", "i32.and") and k >= 2 and ops[k - 1][0] in SIMPLE_PUSH:
        second = _aligned(ops, k - 1, sp, align, locals_, depth - 1)
        if op == "i32.and" and (second or ops[k - 1][0] == "i32.const" and ops[k - 1][1][0] % align == 0):
            return True  # masked down to a multiple, whatever the other operand
        return second and _aligned(ops, k - 2, sp, align, locals_, depth - 1)
    return False


def _keeps(m: Module, body, params: int, sp: int, align: int) -> bool:
    """Every `global.set` of the pointer in one body writes a multiple of
    `align`. Locals start at 0; the set of those only ever assigned
    multiples is found by dropping the others until none changes."""
    ops = [(i.op, i.imm) for i in body]
    locals_ = {imm[0] for op, imm in ops if op in ("local.set", "local.tee") and imm[0] >= params}
    while True:
        bad = {imm[0] for k, (op, imm) in enumerate(ops) if op in ("local.set", "local.tee") and imm[0] in locals_
               and not _aligned(ops, k - 1, sp, align, locals_)}
        if not bad:
            break
        locals_ -= bad
    return all(_aligned(ops, k - 1, sp, align, locals_) for k, (op, imm) in enumerate(ops)
               if op == "global.set" and imm[0] == sp)


def pointer_alignment(m: Module, sp: int) -> int:
    """The largest of ALIGNMENTS that every value of the defined global `sp`
    (module-wide index) is a multiple of: its initial value is, and every
    write keeps it (a frame taken or given back by a multiple, a saved value
    restored, a realigning mask); 1 when none is."""
    if m.imported("global") or not 0 <= sp < len(m.globals) or not m.globals[sp].init \
            or m.globals[sp].init[0].op != "i32.const":
        return 1
    top = m.globals[sp].init[0].imm[0]
    for align in ALIGNMENTS:
        if top % align == 0 and all(_keeps(m, f.body, len(m.types[f.type_index].params), sp, align)
                                    for f in m.functions):
            return align
    return 1
