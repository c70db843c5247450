"""Which linear-memory accesses share one bounds check: those of one base in a
run of code where nothing observable happens, checked once at the first.

A run is straight-line code between control flow, calls and anything else that
can trap otherwise or be seen after a trap (a store ends it, as its last
access). Inside it, values are numbered: a local read twice without a write
between, a `local.tee`, the same pure expression, is one value, and `x + c`
(an i32 constant) is `x` shifted by c. Accesses whose bases are one value
shifted by constants form a group; the first one checks, for all of them, that
the bytes from the lowest to the highest they touch lie in the memory, and the
others check nothing. The group traps exactly when one of its accesses would:
the same trap (code 7, out of bounds), with no side effect skipped, only
earlier. A base `x + c` that wraps lies below the memory's end only when `x`
is beyond it, so a group spans less than 2^32 minus the declared memory, and
its check takes the lowest base of the group (`x + c_min`), which is then an
access of the group and traps itself when it wraps.

Values and what their checks proved outlive a run up to the next join (a
loop, an else, an end) or jump: a later access whose bytes an earlier check
already held, after a store or a call, checks nothing (stores at offsets 28,
24, ... 0 of one base check once, at 28).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..discipline import PAGE
from ..wasm.model import FUNC, Module

ACCESS = {"8": 1, "16": 2, "32": 4}  # i32.load8_u -> 1, i64.store32 -> 4
_I32 = 1 << 32

# What a run may hold besides accesses: pure, trap-free, no side effect (ops -> operands).
_INT_BINARY = ("add", "sub", "mul", "and", "or", "xor", "shl", "shr_s", "shr_u", "rotl", "rotr", "eq", "ne",
               "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u")
_FLOAT_BINARY = ("add", "sub", "mul", "div", "min", "max", "copysign", "eq", "ne", "lt", "gt", "le", "ge")
_UNARY = ("clz", "ctz", "popcnt", "eqz", "extend8_s", "extend16_s", "abs", "neg", "ceil", "floor", "trunc",
          "nearest", "sqrt")
PURE = {**{f"{t}.{op}": 2 for t in ("i32", "i64") for op in _INT_BINARY},
        **{f"{t}.{op}": 2 for t in ("f32", "f64") for op in _FLOAT_BINARY},
        **{f"{t}.{op}": 1 for t in ("i32", "i64") for op in _UNARY[:6]}, "i64.extend32_s": 1,
        **{f"{t}.{op}": 1 for t in ("f32", "f64") for op in _UNARY[6:]},
        "i32.wrap_i64": 1, "i64.extend_i32_s": 1, "i64.extend_i32_u": 1, "f32.demote_f64": 1, "f64.promote_f32": 1,
        "i32.reinterpret_f32": 1, "i64.reinterpret_f64": 1, "f32.reinterpret_i32": 1, "f64.reinterpret_i64": 1,
        **{f"{it}.trunc_sat_{ft}_{s}": 1 for it in ("i32", "i64") for ft in ("f32", "f64") for s in "su"},
        **{f"{ft}.convert_{it}_{s}": 1 for it in ("i32", "i64") for ft in ("f32", "f64") for s in "su"}}
# What ends a run but keeps the values and what is known of them: code after it
# runs only after it (i32.div_s and the like, that may trap, too).
SOFT = {"call", "call_indirect", "global.set", "br_if", "select", "memory.size", "memory.grow", "memory.fill",
        "memory.copy", "memory.init", "data.drop", "table.get", "table.set", "table.size", "table.grow", "table.fill",
        "table.copy", "table.init", "elem.drop", "ref.null", "ref.func", "ref.is_null"}
LOADS = {f"{t}.load" for t in ("i32", "i64", "f32", "f64")} | {f"{t}.load{b}_{s}" for t in ("i32", "i64")
                                                              for b in (8, 16) for s in "su"} | {"i64.load32_s", "i64.load32_u"}
STORES = {f"{t}.store" for t in ("i32", "i64", "f32", "f64")} | {f"{t}.store{b}" for t in ("i32", "i64")
                                                                for b in (8, 16)} | {"i64.store32"}


COVERED = None  # the check of an access that an earlier one's covers


@dataclass(frozen=True)
class Check:
    """The bounds check an access emits: that the wasm addresses
    [c + lo, c + lo + size) lie in the memory, where c is the access's base
    minus `shift` (mod 2^32)."""
    shift: int
    lo: int
    size: int

    @property
    def reach(self) -> int:
        """`offset + size` of the one access the check stands for."""
        return self.lo + self.size


def access_size(op: str) -> int | None:
    """Bytes a load or store touches (None for other instructions)."""
    if ".load" not in op and ".store" not in op:
        return None
    kind, _, rest = op.partition(".")
    for bits, size in ACCESS.items():
        if rest.removeprefix("load").removeprefix("store").startswith(bits):
            return size
    return 8 if kind in ("i64", "f64") else 16 if kind == "v128" else 4


@dataclass(frozen=True)
class _Access:
    at: int  # its position in the body
    shift: int  # its base is the group's value plus this (signed 32-bit)
    offset: int
    size: int


def _group_checks(members: list[_Access], span: int) -> dict[int, Check | None]:
    """The checks of one group, in program order: the first covers them all."""
    shifts = sorted({a.shift for a in members})
    if shifts[-1] - shifts[0] >= span:  # too far apart: each shift is a group of its own
        return {k: c for s in shifts for k, c in _group_checks([a for a in members if a.shift == s], span).items()}
    lo = min(a.shift - shifts[0] + a.offset for a in members)
    hi = max(a.shift - shifts[0] + a.offset + a.size for a in members)
    first = members[0]
    return {first.at: Check(first.shift - shifts[0], lo, hi - lo), **{a.at: COVERED for a in members[1:]}}


def function_checks(body: list, declared: int, from_zero: bool = True) -> dict[int, Check | None]:
    """Position of each load and store in `body` -> its check, or None when an
    earlier access of its group checks for it. `from_zero`: the memory starts
    at address 0, so a checked base holds every byte above it up to the top
    of its check."""
    span = _I32 - declared  # how far apart a group's bases may lie
    checks: dict[int, Check | None] = {}
    ids: dict[tuple, int] = {}  # value numbering: an expression -> its number
    stack: list[tuple[int | None, int]] = []  # the run's values: (number, i32 constant added); None: a constant
    local: dict[int, tuple[int | None, int]] = {}
    groups: dict[int, list[_Access]] = {}
    known: dict[int, list[tuple[int, int, int]]] = {}  # value -> checked (shift, lo, hi) of it, since the last join

    def number(key: tuple) -> int:
        return ids.setdefault(key, len(ids))

    def fresh() -> tuple[int, int]:
        return number(("fresh", len(ids))), 0

    def pop() -> tuple[int | None, int]:
        return stack.pop() if stack else fresh()  # a value from before the run

    def covered(value: int, a: _Access) -> bool:
        """Whether a check since the last join holds the access's bytes."""
        return any(0 <= a.shift - s < span and (from_zero or lo <= a.shift - s + a.offset)
                   and a.shift - s + a.offset + a.size <= hi for s, lo, hi in known.get(value, ()))

    def close(join: bool) -> None:
        """The run ends; at a join (or other control flow) what is known of values too."""
        for value, members in groups.items():
            checks.update((a.at, COVERED) for a in members if covered(value, a))
            members = [a for a in members if not covered(value, a)]
            for at, check in _group_checks(members, span).items() if members else ():
                checks[at] = check
                if check is not COVERED:
                    shift = next(a.shift for a in members if a.at == at) - check.shift
                    known.setdefault(value, []).append((shift, check.lo, check.reach))
        groups.clear()
        stack.clear()
        if join:
            local.clear()
            known.clear()

    for at, ins in enumerate(body):
        op = ins.op
        if op in LOADS or op in STORES:
            if op in STORES:
                pop()
            value, shift = pop()
            size = access_size(op)
            if value is None:  # a constant address: the compiler folds its check
                checks[at] = Check(0, ins.imm[0].offset, size)
            else:
                groups.setdefault(value, []).append(
                    _Access(at, shift - _I32 if shift >> 31 else shift, ins.imm[0].offset, size))
            if op in STORES:
                close(join=False)
            else:
                stack.append(fresh())
        elif op == "i32.const":
            stack.append((None, ins.imm[0] % _I32))
        elif op == "local.get":
            stack.append(local.setdefault(ins.imm[0], fresh()))
        elif op in ("local.set", "local.tee"):
            local[ins.imm[0]] = pop()
            if op == "local.tee":
                stack.append(local[ins.imm[0]])
        elif op in ("i32.add", "i32.sub"):
            (b, cb), (a, ca) = pop(), pop()
            if b is None:
                stack.append((a, (ca + cb if op == "i32.add" else ca - cb) % _I32))
            elif a is None and op == "i32.add":
                stack.append((b, (ca + cb) % _I32))
            else:
                stack.append((number((op, a, ca, b, cb)), 0))
        elif op in PURE:
            stack.append((number((op, *(pop() for _ in range(PURE[op])))), 0))
        elif op in ("i64.const", "f32.const", "f64.const"):
            stack.append((number((op, ins.imm[0])), 0))
        elif op == "global.get":  # a new value each time: a call or global.set between may change it
            stack.append(fresh())
        elif op == "drop":
            pop()
        elif op == "select" and len(stack) >= 3:
            del stack[-3:]
            stack.append(fresh())
        elif op not in ("nop", "block"):  # a call, a side effect, another trap, control flow: the run ends
            close(join=op not in SOFT and op.partition(".")[0] not in ("i32", "i64", "f32", "f64"))
    close(join=True)
    return checks


def module_checks(m: Module, from_zero: bool = True) -> dict[int, dict[int, Check | None]]:
    """Every defined function (by its module-wide index) -> function_checks."""
    declared = m.memories[0].limits.min * PAGE if m.memories else 0
    imported = len(m.imported(FUNC))
    return {imported + d: function_checks(f.body, declared, from_zero) for d, f in enumerate(m.functions)}
