"""Canonical-ABI adapters generated into the fused core: one function per
seam that copies strings, lists and what contains them from the caller's
region into memory from the callee's `cabi_realloc` (and results back)."""

from __future__ import annotations

from dataclasses import dataclass

from . import canonical_abi as abi
from .wasm.model import BlockType, FuncType, Function, Instr, MemArg
from .wit import FuncSig, Type


@dataclass(frozen=True)
class Side:
    """One component at a seam: how its addresses map to the fused memory."""

    name: str
    delta: int  # added to its pointers to get a fused-memory address
    memory: int
    realloc: int | None  # fused function index of its cabi_realloc
    region: tuple[int, int] = (0, 1 << 32)  # where its pointers may point (its own addressing)
    shared_stack: int = 0  # and below this, the stack it shares


class AdapterError(Exception):
    pass


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def copy_function(frm: Side, to: Side) -> tuple[FuncType, Function]:
    """(ptr in frm, n, align) -> a copy of the n bytes in memory from `to`'s
    cabi_realloc: one per direction, shared by every seam that goes that way.
    A pointer not aligned for its elements traps, as in the component model,
    and so does a block reaching outside the memory `frm` may point into."""
    def op(name, *imm):
        return Instr(name, tuple(imm))

    lo, hi = (_i32(v) for v in frm.region)
    inside = [op("local.get", 1), op("if", BlockType()), op("block", BlockType())]
    if frm.shared_stack:  # within the shared stack: n <= top and ptr <= top - n
        inside += [op("local.get", 0), op("i32.const", _i32(frm.shared_stack)), op("local.get", 1), op("i32.sub"),
                   op("i32.le_u"), op("local.get", 1), op("i32.const", _i32(frm.shared_stack)), op("i32.le_u"),
                   op("i32.and"), op("br_if", 0)]
    inside += [op("local.get", 0), op("i32.const", lo), op("i32.sub"),
               op("i32.const", _i32(frm.region[1] - frm.region[0])), op("i32.gt_u"),
               op("local.get", 1), op("i32.const", hi), op("local.get", 0), op("i32.sub"), op("i32.gt_u"),
               op("i32.or"), op("if", BlockType()), op("unreachable"), op("end"), op("end"), op("end")]
    body = inside + [
            Instr("local.get", (0,)), Instr("local.get", (2,)), Instr("i32.const", (1,)), Instr("i32.sub"),
            Instr("i32.and"), Instr("if", (BlockType(),)), Instr("unreachable"), Instr("end"),
            Instr("i32.const", (0,)), Instr("i32.const", (0,)), Instr("local.get", (2,)), Instr("local.get", (1,)),
            Instr("call", (to.realloc,)), Instr("local.tee", (3,))]
    if to.delta:
        body += [Instr("i32.const", (to.delta,)), Instr("i32.add")]
    body.append(Instr("local.get", (0,)))
    if frm.delta:
        body += [Instr("i32.const", (frm.delta,)), Instr("i32.add")]
    body += [Instr("local.get", (1,)), Instr("memory.copy", (to.memory, frm.memory)), Instr("local.get", (3,)),
             Instr("end")]
    return FuncType(("i32", "i32", "i32"), ("i32",)), Function(0, [(1, "i32")], body)


def utf8_validator() -> tuple[FuncType, Function]:
    """(ptr, len) in the fused memory: traps unless the bytes are UTF-8 (no
    overlong forms, surrogates or code points past U+10FFFF), as lifting a
    string does in the component model. One per fused core, shared by seams."""
    def op(name, *imm):
        return Instr(name, tuple(imm))

    def trap_if(*cond):
        return [*cond, op("if", BlockType()), op("unreachable"), op("end")]

    def set_if_eq(byte, local, value):
        return [op("local.get", 3), op("i32.const", byte), op("i32.eq"), op("if", BlockType()),
                op("i32.const", value), op("local.set", local), op("end")]

    p, end, b, need, lo, hi = 0, 2, 3, 4, 5, 6
    body = [op("local.get", p), op("local.get", 1), op("i32.add"), op("local.set", end),
            op("block", BlockType()), op("loop", BlockType()),
            op("local.get", p), op("local.get", end), op("i32.ge_u"), op("br_if", 1),
            op("local.get", p), op("i32.load8_u", MemArg(0, 0)), op("local.set", b),
            op("local.get", p), op("i32.const", 1), op("i32.add"), op("local.set", p),
            op("local.get", b), op("i32.const", 0x80), op("i32.lt_u"), op("br_if", 0),
            *trap_if(op("local.get", b), op("i32.const", 0xC2), op("i32.lt_u")),
            *trap_if(op("local.get", b), op("i32.const", 0xF5), op("i32.ge_u")),
            op("i32.const", 0x80), op("local.set", lo), op("i32.const", 0xBF), op("local.set", hi),
            op("local.get", b), op("i32.const", 0xE0), op("i32.lt_u"), op("if", BlockType()),
            op("i32.const", 1), op("local.set", need),
            op("else"),
            op("local.get", b), op("i32.const", 0xF0), op("i32.lt_u"), op("if", BlockType()),
            op("i32.const", 2), op("local.set", need), *set_if_eq(0xE0, lo, 0xA0), *set_if_eq(0xED, hi, 0x9F),
            op("else"),
            op("i32.const", 3), op("local.set", need), *set_if_eq(0xF0, lo, 0x90), *set_if_eq(0xF4, hi, 0x8F),
            op("end"), op("end"),
            op("loop", BlockType()),
            *trap_if(op("local.get", p), op("local.get", end), op("i32.ge_u")),
            *trap_if(op("local.get", p), op("i32.load8_u", MemArg(0, 0)), op("local.tee", b), op("local.get", lo),
                     op("i32.lt_u"), op("local.get", b), op("local.get", hi), op("i32.gt_u"), op("i32.or")),
            op("local.get", p), op("i32.const", 1), op("i32.add"), op("local.set", p),
            op("i32.const", 0x80), op("local.set", lo), op("i32.const", 0xBF), op("local.set", hi),
            op("local.get", need), op("i32.const", 1), op("i32.sub"), op("local.tee", need), op("br_if", 0),
            op("end"),
            op("br", 0), op("end"), op("end"), op("end")]
    return FuncType(("i32", "i32"), ()), Function(0, [(5, "i32")], body)


def handle_functions(table: int, capacity: int, dtor: int | None) -> dict[str, tuple[FuncType, Function]]:
    """resource.new / rep / drop over one resource type's handle table: `capacity`
    u32 slots at fused address `table`, each its rep + 1 (0 = free); handle =
    slot + 1. A bad or dead handle traps, as in the component model."""
    def op(name, *imm):
        return Instr(name, tuple(imm))

    slot = [op("local.get", 0), op("i32.const", 1), op("i32.sub"), op("local.tee", 1),
            op("i32.const", capacity), op("i32.ge_u"), op("if", BlockType()), op("unreachable"), op("end"),
            op("local.get", 1), op("i32.const", 2), op("i32.shl"), op("i32.load", MemArg(2, table)),
            op("local.tee", 2), op("i32.eqz"), op("if", BlockType()), op("unreachable"), op("end")]
    new = [op("block", BlockType()), op("loop", BlockType()),
           op("local.get", 1), op("i32.const", capacity), op("i32.eq"), op("br_if", 1),
           op("local.get", 1), op("i32.const", 2), op("i32.shl"), op("i32.load", MemArg(2, table)), op("i32.eqz"),
           op("if", BlockType()),
           op("local.get", 1), op("i32.const", 2), op("i32.shl"), op("local.get", 0), op("i32.const", 1),
           op("i32.add"), op("i32.store", MemArg(2, table)),
           op("local.get", 1), op("i32.const", 1), op("i32.add"), op("return"), op("end"),
           op("local.get", 1), op("i32.const", 1), op("i32.add"), op("local.set", 1), op("br", 0),
           op("end"), op("end"), op("unreachable"), op("end")]
    rep = slot + [op("local.get", 2), op("i32.const", 1), op("i32.sub"), op("end")]
    drop = slot + [op("local.get", 1), op("i32.const", 2), op("i32.shl"), op("i32.const", 0),
                   op("i32.store", MemArg(2, table))]
    if dtor is not None:
        drop += [op("local.get", 2), op("i32.const", 1), op("i32.sub"), op("call", dtor)]
    drop.append(op("end"))
    return {"new": (FuncType(("i32",), ("i32",)), Function(0, [(1, "i32")], new)),
            "rep": (FuncType(("i32",), ("i32",)), Function(0, [(2, "i32")], rep)),
            "drop": (FuncType(("i32",), ()), Function(0, [(2, "i32")], drop))}


_LOAD = {1: "i32.load8_u", 2: "i32.load16_u", 4: "i32.load"}


class _Emitter:
    def __init__(self, params: tuple[str, ...]):
        self.params = params
        self.extra: list[str] = []
        self.body: list[Instr] = []

    def local(self, valtype: str) -> int:
        self.extra.append(valtype)
        return len(self.params) + len(self.extra) - 1

    def op(self, name: str, *imm) -> None:
        self.body.append(Instr(name, tuple(imm)))

    def address(self, local: int, side: Side) -> None:
        """Push a side's pointer as a fused-memory address."""
        self.op("local.get", local)
        if side.delta:
            self.op("i32.const", side.delta)
            self.op("i32.add")


class SeamAdapter:
    """Builds the body of the adapter for one seam: caller `src` lowers,
    callee `dst` lifts `callee` (fused index) with optional post-return."""

    def __init__(self, sig: FuncSig, src: Side, dst: Side, callee: int, post_return: int | None, where: str,
                 borrow_reps: dict | None = None, utf8: int | None = None, copiers: dict | None = None):
        self.sig, self.src, self.dst = sig, src, dst
        self.callee, self.post_return, self.where = callee, post_return, where
        # (resource, interface) -> fused function turning a handle into its rep,
        # for the resources the callee defines (it receives borrows as reps).
        self.borrow_reps = borrow_reps or {}
        self.utf8 = utf8  # fused index of the shared UTF-8 validator
        self.copiers = copiers or {}  # (from side, to side) -> fused index of copy_function(from, to)
        params, results = abi.core_signature(sig, lower=True)
        self.type = FuncType(params, results)
        self.e = _Emitter(params)

    # -- moving a block of memory ------------------------------------------

    def _copy_block(self, frm: Side, to: Side, ptr: int, nbytes: int, align: int) -> int:
        """Allocate nbytes in `to`, copy from `frm`'s ptr (through the shared
        copy function for that direction); returns the local holding the new
        pointer (in `to`'s addressing)."""
        e = self.e
        if to.realloc is None:
            raise AdapterError(f"{self.where}: {to.name} must export cabi_realloc to receive "
                               f"{self.sig.text()}'s data; give it a grow-free bump cabi_realloc")
        new = e.local("i32")
        e.op("local.get", ptr)
        e.op("local.get", nbytes)
        e.op("i32.const", align)
        e.op("call", self.copiers[(frm.name, to.name)])
        e.op("local.set", new)
        return new

    def _copy_buffer(self, t: Type, frm: Side, to: Side, ptr: int, length: int) -> int:
        """A string's or list's contents; returns the local with the new pointer."""
        e = self.e
        if t.kind == "string":
            new = self._copy_block(frm, to, ptr, length, 1)
            e.address(new, to)
            e.op("local.get", length)
            e.op("call", self.utf8)
            return new
        elem = t.items[0]
        esize = abi.size(elem)
        nbytes = length
        if esize != 1:
            nbytes = e.local("i32")
            e.op("local.get", length)
            e.op("i32.const", esize)
            e.op("i32.mul")
            e.op("local.set", nbytes)
        new = self._copy_block(frm, to, ptr, nbytes, abi.alignment(elem))
        if abi.has_pointers(elem):
            cur, end = e.local("i32"), e.local("i32")
            e.address(new, to)
            e.op("local.tee", cur)
            e.op("local.get", nbytes)
            e.op("i32.add")
            e.op("local.set", end)
            e.op("block", BlockType())
            e.op("loop", BlockType())
            e.op("local.get", cur)
            e.op("local.get", end)
            e.op("i32.eq")
            e.op("br_if", 1)
            self._fix_memory(elem, frm, to, cur, 0)
            e.op("local.get", cur)
            e.op("i32.const", esize)
            e.op("i32.add")
            e.op("local.set", cur)
            e.op("br", 0)
            e.op("end")
            e.op("end")
        return new

    # -- values already copied into `to`'s memory ------------------------------

    def _fix_memory(self, t: Type, frm: Side, to: Side, base: int, offset: int) -> None:
        """The value at fused address base+offset (in `to`'s memory) was copied
        byte for byte; give it its own copies of what it points to."""
        e = self.e
        if not abi.has_pointers(t):
            return
        mem = MemArg(2, offset, to.memory)
        if t.kind in ("string", "list"):
            ptr, length = e.local("i32"), e.local("i32")
            e.op("local.get", base)
            e.op("i32.load", mem)
            e.op("local.set", ptr)
            e.op("local.get", base)
            e.op("i32.load", MemArg(2, offset + 4, to.memory))
            e.op("local.set", length)
            new = self._copy_buffer(t, frm, to, ptr, length)
            e.op("local.get", base)
            e.op("local.get", new)
            e.op("i32.store", mem)
        elif t.kind in ("record", "tuple"):
            for f, at in zip(abi.fields(t), abi.field_offsets(t)):
                self._fix_memory(f, frm, to, base, offset + at)
        else:
            width = abi.disc_size(len(abi.cases(t)))
            payload = offset + abi.payload_offset(t)
            for k, c in enumerate(abi.cases(t)):
                if not abi.has_pointers(c):
                    continue
                e.op("local.get", base)
                e.op(_LOAD[width], MemArg({1: 0, 2: 1, 4: 2}[width], offset, to.memory))
                e.op("i32.const", k)
                e.op("i32.eq")
                e.op("if", BlockType())
                self._fix_memory(c, frm, to, base, payload)
                e.op("end")

    # -- flat values ------------------------------------------------------------

    def _fix_flat(self, t: Type, frm: Side, to: Side, values: list[int]) -> None:
        """The flat values of t sit in locals `values`; replace their pointers
        with pointers to copies in `to`, in place."""
        e = self.e
        if not abi.has_pointers(t):
            return
        if t.kind in ("string", "list"):
            new = self._copy_buffer(t, frm, to, values[0], values[1])
            e.op("local.get", new)
            e.op("local.set", values[0])
        elif t.kind in ("record", "tuple"):
            at = 0
            for f in abi.fields(t):
                n = len(abi.flatten(f))
                self._fix_flat(f, frm, to, values[at:at + n])
                at += n
        else:
            slots = abi.flatten(t)[1:]
            for k, c in enumerate(abi.cases(t)):
                if not abi.has_pointers(c):
                    continue
                e.op("local.get", values[0])
                e.op("i32.const", k)
                e.op("i32.eq")
                e.op("if", BlockType())
                case_types = abi.flatten(c)
                temps = []
                for j, want in enumerate(case_types):
                    temp = e.local(want)
                    e.op("local.get", values[1 + j])
                    self._coerce(slots[j], want)
                    e.op("local.set", temp)
                    temps.append(temp)
                self._fix_flat(c, frm, to, temps)
                for j, want in enumerate(case_types):
                    e.op("local.get", temps[j])
                    self._coerce(want, slots[j])
                    e.op("local.set", values[1 + j])
                e.op("end")

    def _coerce(self, have: str, want: str) -> None:
        if have == want:
            return
        steps = {("i64", "i32"): ["i32.wrap_i64"], ("i32", "i64"): ["i64.extend_i32_u"],
                 ("i32", "f32"): ["f32.reinterpret_i32"], ("f32", "i32"): ["i32.reinterpret_f32"],
                 ("i64", "f32"): ["i32.wrap_i64", "f32.reinterpret_i32"],
                 ("f32", "i64"): ["i32.reinterpret_f32", "i64.extend_i32_u"],
                 ("i64", "f64"): ["f64.reinterpret_i64"], ("f64", "i64"): ["i64.reinterpret_f64"]}
        for step in steps[(have, want)]:
            self.e.op(step)

    # -- the whole adapter --------------------------------------------------------

    def build(self) -> Function:
        e, sig = self.e, self.sig
        flat = abi.flat_params(sig)
        if len(flat) <= abi.MAX_FLAT_PARAMS:
            at = 0
            for _, t in sig.params:
                n = len(abi.flatten(t))
                if t.kind == "borrow" and t.items in self.borrow_reps:
                    e.op("local.get", at)
                    e.op("call", self.borrow_reps[t.items])
                    e.op("local.set", at)
                self._fix_flat(t, self.src, self.dst, list(range(at, at + n)))
                at += n
            for i in range(len(flat)):
                e.op("local.get", i)
        else:
            args = abi.params_tuple(sig)
            nbytes = e.local("i32")
            e.op("i32.const", abi.size(args))
            e.op("local.set", nbytes)
            new = self._copy_block(self.src, self.dst, 0, nbytes, abi.alignment(args))
            if abi.has_pointers(args):
                base = e.local("i32")
                e.address(new, self.dst)
                e.op("local.set", base)
                self._fix_memory(args, self.src, self.dst, base, 0)
            e.op("local.get", new)
        e.op("call", self.callee)
        results = abi.flat_results(sig)
        if len(results) <= abi.MAX_FLAT_RESULTS:
            if results and self.post_return is not None:
                keep = e.local(results[0])
                e.op("local.tee", keep)
                e.op("call", self.post_return)
                e.op("local.get", keep)
            elif self.post_return is not None:
                e.op("call", self.post_return)
        else:
            returned, retptr = e.local("i32"), len(self.type.params) - 1
            e.op("local.set", returned)
            e.address(retptr, self.src)
            e.address(returned, self.dst)
            e.op("i32.const", abi.size(sig.result))
            e.op("memory.copy", self.src.memory, self.dst.memory)
            if abi.has_pointers(sig.result):
                base = e.local("i32")
                e.address(retptr, self.src)
                e.op("local.set", base)
                self._fix_memory(sig.result, self.dst, self.src, base, 0)
            if self.post_return is not None:
                e.op("local.get", returned)
                e.op("call", self.post_return)
        e.op("end")
        return Function(0, [(1, t) for t in e.extra], e.body)
