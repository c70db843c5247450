"""Module to bytes: canonical (minimal LEB128) encoding, custom sections put
back where they were, sections in the order the spec requires."""

from __future__ import annotations

from . import opcodes as op
from .leb128 import signed, unsigned
from .model import BlockType, Element, FuncType, Instr, Limits, Module, FUNC, GLOBAL, MEMORY, TABLE, TAG

_KIND_BYTE = {FUNC: 0, TABLE: 1, MEMORY: 2, GLOBAL: 3, TAG: 4}
SECTION_ORDER = [1, 2, 3, 4, 5, 13, 6, 7, 8, 9, 12, 10, 11]


def _vec(items: list[bytes]) -> bytes:
    return unsigned(len(items)) + b"".join(items)


def _name(text: str) -> bytes:
    raw = text.encode("utf-8")
    return unsigned(len(raw)) + raw


def _valtype(t: str) -> bytes:
    return bytes([op.VALTYPE_BYTES[t]])


def _limits(l: Limits) -> bytes:
    flags = (1 if l.max is not None else 0) | (2 if l.shared else 0) | (4 if l.is64 else 0)
    return bytes([flags]) + unsigned(l.min) + (unsigned(l.max) if l.max is not None else b"")


def _blocktype(b: BlockType) -> bytes:
    if b.type_index is not None:
        return signed(b.type_index)
    if b.result is None:
        return b"\x40"
    return _valtype(b.result)


def encode_instr(ins: Instr) -> bytes:
    name, imm = ins.op, ins.imm
    kind = op.SELECT_T if name == "select" and imm else op.IMMEDIATE.get(name)
    if kind is None:
        raise ValueError(f"cannot encode unknown instruction `{name}`")
    code = op.ENCODE[(name, kind)]
    if kind == op.NONE:
        return code
    if kind == op.BLOCK:
        return code + _blocktype(imm[0])
    if kind in (op.LABEL, op.FUNC, op.LOCAL, op.GLOBAL, op.TABLE, op.DATA, op.ELEM, op.MEMIDX):
        return code + unsigned(imm[0])
    if kind == op.BR_TABLE:
        return code + _vec([unsigned(d) for d in imm[0]]) + unsigned(imm[1])
    if kind in (op.CALL_INDIRECT, op.DATA_MEM, op.MEM_MEM, op.ELEM_TABLE, op.TABLE_TABLE):
        return code + unsigned(imm[0]) + unsigned(imm[1])
    if kind == op.MEMARG:
        m = imm[0]
        if m.memory:
            return code + unsigned(m.align | 0x40) + unsigned(m.memory) + unsigned(m.offset)
        return code + unsigned(m.align) + unsigned(m.offset)
    if kind in (op.I32, op.I64):
        return code + signed(imm[0])
    if kind in (op.F32, op.F64):
        return code + bytes(imm[0])
    if kind == op.REFTYPE:
        return code + _valtype(imm[0])
    if kind == op.SELECT_T:
        return code + _vec([_valtype(t) for t in imm[0]])
    raise ValueError(f"unhandled immediate kind for `{name}`")  # pragma: no cover


def encode_expr(body: list[Instr]) -> bytes:
    return b"".join(encode_instr(i) for i in body)


def _functype(t: FuncType) -> bytes:
    return b"\x60" + _vec([_valtype(p) for p in t.params]) + _vec([_valtype(r) for r in t.results])


def _element(e: Element) -> bytes:
    simple = all(len(item) == 2 and item[0].op == "ref.func" and item[1].op == "end" for item in e.items)
    exprs = e.uses_exprs or not simple or e.elem_type != "funcref"
    items = _vec([encode_expr(item) for item in e.items]) if exprs else _vec([unsigned(item[0].imm[0]) for item in e.items])
    kind = _valtype(e.elem_type) if exprs else b"\x00"
    if e.mode == "active":
        if e.table == 0 and e.elem_type == "funcref":
            return unsigned(4 if exprs else 0) + encode_expr(e.offset) + items
        return unsigned(6 if exprs else 2) + unsigned(e.table) + encode_expr(e.offset) + kind + items
    if e.mode == "passive":
        return unsigned(5 if exprs else 1) + kind + items
    return unsigned(7 if exprs else 3) + kind + items


def _import(imp) -> bytes:
    head = _name(imp.module) + _name(imp.name) + bytes([_KIND_BYTE[imp.kind]])
    if imp.kind == FUNC:
        return head + unsigned(imp.desc)
    if imp.kind == TABLE:
        return head + _valtype(imp.desc.elem) + _limits(imp.desc.limits)
    if imp.kind == MEMORY:
        return head + _limits(imp.desc.limits)
    if imp.kind == GLOBAL:
        return head + _valtype(imp.desc.valtype) + bytes([int(imp.desc.mutable)])
    return head + b"\x00" + unsigned(imp.desc)


def _code(func) -> bytes:
    body = _vec([unsigned(n) + _valtype(t) for n, t in func.locals]) + encode_expr(func.body)
    return unsigned(len(body)) + body


def _data(d) -> bytes:
    if d.mode == "passive":
        head = b"\x01"
    elif d.memory == 0:
        head = b"\x00" + encode_expr(d.offset)
    else:
        head = b"\x02" + unsigned(d.memory) + encode_expr(d.offset)
    return head + unsigned(len(d.data)) + d.data


def _sections(m: Module) -> dict[int, bytes]:
    s: dict[int, bytes] = {}
    if m.types:
        s[1] = _vec([_functype(t) for t in m.types])
    if m.imports:
        s[2] = _vec([_import(i) for i in m.imports])
    if m.functions:
        s[3] = _vec([unsigned(f.type_index) for f in m.functions])
    if m.tables:
        s[4] = _vec([_valtype(t.elem) + _limits(t.limits) for t in m.tables])
    if m.memories:
        s[5] = _vec([_limits(mem.limits) for mem in m.memories])
    if m.tags:
        s[13] = _vec([b"\x00" + unsigned(t) for t in m.tags])
    if m.globals:
        s[6] = _vec([_valtype(g.type.valtype) + bytes([int(g.type.mutable)]) + encode_expr(g.init) for g in m.globals])
    if m.exports:
        s[7] = _vec([_name(e.name) + bytes([_KIND_BYTE[e.kind]]) + unsigned(e.index) for e in m.exports])
    if m.start is not None:
        s[8] = unsigned(m.start)
    if m.elements:
        s[9] = _vec([_element(e) for e in m.elements])
    if m.data_count is not None:
        s[12] = unsigned(len(m.datas))
    if m.functions:
        s[10] = _vec([_code(f) for f in m.functions])
    if m.datas:
        s[11] = _vec([_data(d) for d in m.datas])
    return s


def encode_module(m: Module) -> bytes:
    sections = _sections(m)
    # A custom section goes after the standard section it followed; if that
    # one is gone, after the closest earlier one that is still there.
    placed: dict[int, list] = {}
    for custom in m.customs:
        anchor = custom.after
        if anchor and anchor not in sections:
            earlier = SECTION_ORDER[: SECTION_ORDER.index(anchor)] if anchor in SECTION_ORDER else []
            anchor = next((sid for sid in reversed(earlier) if sid in sections), 0)
        placed.setdefault(anchor, []).append(custom)
    out = bytearray(b"\0asm\x01\0\0\0")
    for custom in placed.get(0, []):
        out += _section(0, _name(custom.name) + custom.data)
    for sid in SECTION_ORDER:
        if sid in sections:
            out += _section(sid, sections[sid])
            for custom in placed.get(sid, []):
                out += _section(0, _name(custom.name) + custom.data)
    return bytes(out)


def _section(sid: int, payload: bytes) -> bytes:
    return bytes([sid]) + unsigned(len(payload)) + payload
