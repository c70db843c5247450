"""Bytes to Module: a bounded, non-recursive decoder that rejects malformed
input with a DecodeError (never a hang, an IndexError or unbounded memory)."""

from __future__ import annotations

import struct

from . import opcodes as op
from .errors import DecodeError
from .leb128 import read_signed, read_unsigned
from .model import (
    BlockType, CustomSection, Data, Element, Export, FuncType, Function, Global, GlobalType, Import, Instr,
    Limits, MemArg, MemoryType, Module, TableType, FUNC, GLOBAL, MEMORY, TABLE, TAG,
)

MAGIC = b"\0asm"
MODULE_VERSION = b"\x01\0\0\0"
MAX_NESTING = 10_000
MAX_LOCALS = 50_000
KINDS = {0: FUNC, 1: TABLE, 2: MEMORY, 3: GLOBAL, 4: TAG}


class Reader:
    def __init__(self, data: bytes, pos: int = 0, end: int | None = None):
        self.data = data
        self.pos = pos
        self.end = len(data) if end is None else end

    def fail(self, message: str) -> DecodeError:
        return DecodeError(message, self.pos)

    def remaining(self) -> int:
        return self.end - self.pos

    def byte(self) -> int:
        if self.pos >= self.end:
            raise self.fail("unexpected end of section")
        b = self.data[self.pos]
        self.pos += 1
        return b

    def bytes(self, n: int) -> bytes:
        if n < 0 or self.pos + n > self.end:
            raise self.fail(f"length {n} runs past the end of the section")
        b = self.data[self.pos:self.pos + n]
        self.pos += n
        return b

    def u32(self) -> int:
        value, pos = read_unsigned(self.data, self.pos, 32, self.end)
        self.pos = pos
        return value

    def s32(self) -> int:
        value, pos = read_signed(self.data, self.pos, 32, self.end)
        self.pos = pos
        return value

    def s33(self) -> int:
        value, pos = read_signed(self.data, self.pos, 33, self.end)
        self.pos = pos
        return value

    def s64(self) -> int:
        value, pos = read_signed(self.data, self.pos, 64, self.end)
        self.pos = pos
        return value

    def count(self, min_item_bytes: int = 1) -> int:
        """A vector length, refused when the section cannot hold that many."""
        n = self.u32()
        if n * min_item_bytes > self.remaining():
            raise self.fail(f"count {n} is larger than the {self.remaining()} bytes left")
        return n

    def name(self) -> str:
        raw = self.bytes(self.count())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise self.fail("name is not valid UTF-8") from None

    def valtype(self) -> str:
        b = self.byte()
        if b not in op.VALTYPES:
            raise DecodeError(f"unknown value type {b:#x}", self.pos - 1)
        return op.VALTYPES[b]

    def reftype(self) -> str:
        b = self.byte()
        if b not in op.REFTYPES:
            raise DecodeError(f"unknown reference type {b:#x}", self.pos - 1)
        return op.REFTYPES[b]

    def limits(self) -> Limits:
        flags = self.byte()
        if flags > 0x07:
            raise DecodeError(f"unknown limits flags {flags:#x}", self.pos - 1)
        is64 = bool(flags & 4)
        read = (lambda: read_unsigned_into(self, 64)) if is64 else self.u32
        minimum = read()
        maximum = read() if flags & 1 else None
        return Limits(minimum, maximum, shared=bool(flags & 2), is64=is64)

    def globaltype(self) -> GlobalType:
        valtype = self.valtype()
        mut = self.byte()
        if mut > 1:
            raise DecodeError(f"bad global mutability {mut:#x}", self.pos - 1)
        return GlobalType(valtype, bool(mut))


def read_unsigned_into(r: Reader, bits: int) -> int:
    value, pos = read_unsigned(r.data, r.pos, bits, r.end)
    r.pos = pos
    return value


def _blocktype(r: Reader) -> BlockType:
    b = r.data[r.pos] if r.pos < r.end else None
    if b == 0x40:
        r.pos += 1
        return BlockType()
    if b in op.VALTYPES:
        r.pos += 1
        return BlockType(result=op.VALTYPES[b])
    index = r.s33()
    if index < 0:
        raise r.fail(f"bad block type {index}")
    return BlockType(type_index=index)


def _memarg(r: Reader) -> MemArg:
    align = r.u32()
    memory = 0
    if align & 0x40:  # multi-memory: an explicit memory index follows
        align &= ~0x40
        memory = r.u32()
    if align >= 32:
        raise r.fail(f"alignment 2**{align} is too large")
    return MemArg(align, read_unsigned_into(r, 64), memory)


def read_expr(r: Reader, offsets: list[int] | None = None, base: int = 0) -> list[Instr]:
    """Instructions up to and including the `end` that closes the expression."""
    body: list[Instr] = []
    depth = 0
    while True:
        start = r.pos
        code = r.byte()
        if code == 0xFC:
            sub = r.u32()
            if sub not in op.DECODE_FC:
                raise DecodeError(f"unknown instruction 0xfc {sub}", start)
            name, kind = op.DECODE_FC[sub]
        elif code in op.DECODE:
            name, kind = op.DECODE[code]
        elif code == 0xFD:
            raise DecodeError("SIMD instructions are not supported by the builtin stages", start)
        else:
            raise DecodeError(f"unknown instruction {code:#04x}", start)
        imm: tuple
        if kind == op.NONE:
            imm = ()
        elif kind == op.BLOCK:
            imm = (_blocktype(r),)
        elif kind in (op.LABEL, op.FUNC, op.LOCAL, op.GLOBAL, op.TABLE, op.DATA, op.ELEM):
            imm = (r.u32(),)
        elif kind == op.BR_TABLE:
            n = r.count()
            imm = (tuple(r.u32() for _ in range(n)), r.u32())
        elif kind == op.CALL_INDIRECT:
            imm = (r.u32(), r.u32())
        elif kind == op.MEMARG:
            imm = (_memarg(r),)
        elif kind == op.MEMIDX:
            imm = (r.u32(),)
        elif kind == op.I32:
            imm = (r.s32(),)
        elif kind == op.I64:
            imm = (r.s64(),)
        elif kind == op.F32:
            imm = (r.bytes(4),)
        elif kind == op.F64:
            imm = (r.bytes(8),)
        elif kind == op.REFTYPE:
            imm = (r.reftype(),)
        elif kind == op.SELECT_T:
            n = r.count()
            imm = (tuple(r.valtype() for _ in range(n)),)
        elif kind in (op.DATA_MEM, op.MEM_MEM, op.ELEM_TABLE, op.TABLE_TABLE):
            imm = (r.u32(), r.u32())
        else:  # pragma: no cover - every kind is handled above
            raise DecodeError(f"unhandled immediate kind for {name}", start)
        body.append(Instr(name, imm))
        if offsets is not None:
            offsets.append(start - base)
        if kind == op.BLOCK:
            depth += 1
            if depth > MAX_NESTING:
                raise DecodeError(f"blocks nested deeper than {MAX_NESTING}", start)
        elif name == "end":
            if depth == 0:
                return body
            depth -= 1


def _const_expr(r: Reader) -> list[Instr]:
    return read_expr(r)


def _section_types(r: Reader, m: Module) -> None:
    for _ in range(r.count()):
        form = r.byte()
        if form != 0x60:
            raise DecodeError(f"unsupported type form {form:#x} (only function types)", r.pos - 1)
        params = tuple(r.valtype() for _ in range(r.count()))
        results = tuple(r.valtype() for _ in range(r.count()))
        m.types.append(FuncType(params, results))


def _section_imports(r: Reader, m: Module) -> None:
    for _ in range(r.count(3)):
        module, name = r.name(), r.name()
        kind_byte = r.byte()
        if kind_byte not in KINDS:
            raise DecodeError(f"unknown import kind {kind_byte:#x}", r.pos - 1)
        kind = KINDS[kind_byte]
        if kind == FUNC:
            desc = r.u32()
        elif kind == TABLE:
            desc = TableType(r.reftype(), r.limits())
        elif kind == MEMORY:
            desc = MemoryType(r.limits())
        elif kind == GLOBAL:
            desc = r.globaltype()
        else:
            if r.byte() != 0:
                raise r.fail("bad tag attribute")
            desc = r.u32()
        m.imports.append(Import(module, name, kind, desc))


def _section_elements(r: Reader, m: Module) -> None:
    for _ in range(r.count()):
        flags = r.u32()
        if flags > 7:
            raise r.fail(f"unknown element segment flags {flags}")
        passive_or_declarative = flags & 1
        explicit_table = flags & 2
        uses_exprs = bool(flags & 4)
        table, offset = 0, None
        if not passive_or_declarative:
            if explicit_table:
                table = r.u32()
            offset = _const_expr(r)
            mode = "active"
        else:
            mode = "declarative" if explicit_table else "passive"
        elem_type = "funcref"
        if passive_or_declarative or explicit_table:
            if uses_exprs:
                elem_type = r.reftype()
            elif r.byte() != 0x00:
                raise r.fail("unsupported element kind")
        items = []
        for _ in range(r.count()):
            items.append(_const_expr(r) if uses_exprs else [Instr("ref.func", (r.u32(),)), Instr("end")])
        m.elements.append(Element(mode, elem_type, items, table, offset, uses_exprs))


def _section_code(r: Reader, m: Module, code_start: int) -> None:
    n = r.count(2)
    if n != len(m.functions):
        raise r.fail(f"code section has {n} bodies for {len(m.functions)} declared functions")
    for func in m.functions:
        size = r.u32()
        body_end = r.pos + size
        if body_end > r.end:
            raise r.fail("function body runs past the end of the code section")
        body = Reader(r.data, r.pos, body_end)
        total = 0
        for _ in range(body.count(2)):
            count = body.u32()
            total += count
            if total > MAX_LOCALS:
                raise body.fail(f"more than {MAX_LOCALS} locals")
            func.locals.append((count, body.valtype()))
        offsets: list[int] = []
        func.body = read_expr(body, offsets, code_start)
        func.offsets = offsets
        if body.pos != body_end:
            raise body.fail("function body has bytes after its final `end`")
        r.pos = body_end


def _section_data(r: Reader, m: Module) -> None:
    start = r.pos
    for _ in range(r.count()):
        flags = r.u32()
        if flags == 0:
            offset = _const_expr(r)
            m.datas.append(Data("active", b"", 0, offset))
        elif flags == 1:
            m.datas.append(Data("passive", b""))
        elif flags == 2:
            memory = r.u32()
            m.datas.append(Data("active", b"", memory, _const_expr(r)))
        else:
            raise r.fail(f"unknown data segment flags {flags}")
        size = r.count(0)
        m.datas[-1].payload_offset = r.pos - start
        m.datas[-1].data = r.bytes(size)


def decode_module(data: bytes) -> Module:
    if len(data) < 8 or data[:4] != MAGIC:
        raise DecodeError("not a WebAssembly binary (bad magic)", 0)
    if data[4:8] != MODULE_VERSION:
        raise DecodeError("not a core module (a component? use component.core_modules)", 4)
    m = Module()
    r = Reader(data, 8)
    last_id = 0
    seen: set[int] = set()
    order = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]
    while r.pos < len(data):
        section_start = r.pos
        sid = r.byte()
        size = r.u32()
        end = r.pos + size
        if end > len(data):
            raise DecodeError(f"section {sid} runs past the end of the module", section_start)
        s = Reader(data, r.pos, end)
        if sid == 0:
            name = s.name()
            m.customs.append(CustomSection(name, data[s.pos:end], after=last_id))
        else:
            if sid not in order:
                raise DecodeError(f"unknown section id {sid}", section_start)
            if sid in seen or (last_id and order.index(sid) < order.index(last_id)):
                raise DecodeError(f"section {sid} is duplicated or out of order", section_start)
            seen.add(sid)
            last_id = sid
            if sid == 1:
                _section_types(s, m)
            elif sid == 2:
                _section_imports(s, m)
            elif sid == 3:
                m.functions = [Function(s.u32()) for _ in range(s.count())]
            elif sid == 4:
                m.tables = [TableType(s.reftype(), s.limits()) for _ in range(s.count())]
            elif sid == 5:
                m.memories = [MemoryType(s.limits()) for _ in range(s.count())]
            elif sid == 6:
                for _ in range(s.count(2)):
                    gtype = s.globaltype()
                    m.globals.append(Global(gtype, _const_expr(s)))
            elif sid == 7:
                names = set()
                for _ in range(s.count(2)):
                    at = s.pos
                    name = s.name()
                    kind_byte = s.byte()
                    if kind_byte not in KINDS:
                        raise s.fail(f"unknown export kind {kind_byte:#x}")
                    if name in names:  # invalid wasm: one name, one export
                        raise DecodeError(f"duplicate export name {name!r}", at)
                    names.add(name)
                    m.exports.append(Export(name, KINDS[kind_byte], s.u32()))
            elif sid == 8:
                m.start = s.u32()
            elif sid == 9:
                _section_elements(s, m)
            elif sid == 10:
                _section_code(s, m, s.pos)
            elif sid == 11:
                _section_data(s, m)
            elif sid == 12:
                m.data_count = s.u32()
            elif sid == 13:
                for _ in range(s.count()):
                    if s.byte() != 0:
                        raise s.fail("bad tag attribute")
                    m.tags.append(s.u32())
            if s.pos != end:
                raise DecodeError(f"section {sid} has {end - s.pos} unexpected trailing bytes", s.pos)
        r.pos = end
    if m.functions and not any(f.body for f in m.functions):
        raise DecodeError("function section without a code section", len(data))
    return m


def f32_value(raw: bytes) -> float:
    return struct.unpack("<f", raw)[0]


def f64_value(raw: bytes) -> float:
    return struct.unpack("<d", raw)[0]
