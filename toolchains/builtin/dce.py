"""Builtin dead-code elimination: keep what the root exports (and the start
function) can reach, drop the rest, renumber every index space and the
name section, and say why the biggest survivors stayed."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .wasm.encode import encode_expr, encode_module
from .wasm.model import (
    FUNC, GLOBAL, MEMORY, TABLE, TAG, BlockType, Data, Element, Export, FuncType, Function, Global, Import, Instr,
    MemArg, Module,
)
from .wasm.names import Names, get_names, set_names


class DceError(Exception):
    """The roots ask for something the module does not have."""


@dataclass(frozen=True)
class DceResult:
    module: Module
    wasm: bytes
    report: dict


class _Live:
    def __init__(self):
        self.sets = {k: set() for k in ("func", "global", "table", "memory", "type", "elem", "data", "tag")}
        self.parent: dict[int, str | int] = {}  # function -> the function (or root) that reached it
        self.queue: deque = deque()

    def add(self, kind: str, index: int, via: str | int | None = None) -> None:
        if index not in self.sets[kind]:
            self.sets[kind].add(index)
            if kind == "func" and via is not None:
                self.parent[index] = via
            self.queue.append((kind, index))


def _scan(instrs: list[Instr], live: _Live, via: str | int) -> None:
    for ins in instrs:
        name, imm = ins.op, ins.imm
        if name in ("call", "return_call", "ref.func"):
            live.add("func", imm[0], via)
        elif name in ("call_indirect", "return_call_indirect"):
            live.add("type", imm[0])
            live.add("table", imm[1])
        elif name in ("global.get", "global.set"):
            live.add("global", imm[0])
        elif name in ("block", "loop", "if") and imm[0].type_index is not None:
            live.add("type", imm[0].type_index)
        elif name.startswith("table.") and name not in ("table.init", "table.copy"):
            live.add("table", imm[0])
        elif name == "table.init":
            live.add("elem", imm[0])
            live.add("table", imm[1])
        elif name == "table.copy":
            live.add("table", imm[0])
            live.add("table", imm[1])
        elif name == "elem.drop":
            live.add("elem", imm[0])
        elif name == "memory.init":
            live.add("data", imm[0])
            live.add("memory", imm[1])
        elif name == "data.drop":
            live.add("data", imm[0])
        elif name == "memory.copy":
            live.add("memory", imm[0])
            live.add("memory", imm[1])
        elif name in ("memory.size", "memory.grow", "memory.fill"):
            live.add("memory", imm[0])
        elif imm and isinstance(imm[0], MemArg):
            live.add("memory", imm[0].memory)


def reachable(m: Module, roots: list[Export]) -> _Live:
    live = _Live()
    kinds = {FUNC: "func", GLOBAL: "global", TABLE: "table", MEMORY: "memory", TAG: "tag"}
    for export in roots:
        live.add(kinds[export.kind], export.index, f"export `{export.name}`")
    if m.start is not None:
        live.add("func", m.start, "the start function")
    imported = {k: [i for i in m.imports if i.kind == k] for k in (FUNC, GLOBAL, TABLE, MEMORY, TAG)}
    while live.queue:
        kind, index = live.queue.popleft()
        if kind == "func":
            n = len(imported[FUNC])
            if index < n:
                live.add("type", imported[FUNC][index].desc)
            else:
                f = m.functions[index - n]
                live.add("type", f.type_index)
                _scan(f.body, live, index)
        elif kind == "global":
            n = len(imported[GLOBAL])
            if index >= n:
                _scan(m.globals[index - n].init, live, f"global {index}")
        elif kind == "table":
            # Everything an indirect call through this table could reach.
            for e_index, e in enumerate(m.elements):
                if e.mode == "active" and e.table == index:
                    live.add("elem", e_index)
        elif kind == "memory":
            for d_index, d in enumerate(m.datas):
                if d.mode == "active" and d.memory == index:
                    live.add("data", d_index)
        elif kind == "elem":
            e = m.elements[index]
            if e.mode == "active":
                live.add("table", e.table)
            if e.offset:
                _scan(e.offset, live, f"element segment {index}")
            if e.mode != "declarative":
                for item in e.items:
                    _scan(item, live, f"element segment {index}")
        elif kind == "data":
            d = m.datas[index]
            if d.offset:
                _scan(d.offset, live, f"data segment {index}")
        elif kind == "tag":
            n = len(imported[TAG])
            live.add("type", imported[TAG][index].desc if index < n else m.tags[index - n])
    return live


def _chain(live: _Live, func: int, names: dict[int, str]) -> list[str]:
    chain, node, seen = [], func, set()
    while isinstance(node, int) and node not in seen:
        seen.add(node)
        chain.append(names.get(node, f"func[{node}]"))
        node = live.parent.get(node)
    if isinstance(node, str):
        chain.append(node)
    return chain[::-1]


def eliminate(m: Module, roots: list[str] | None = None, strip_custom: bool = False) -> DceResult:
    before = encode_module(m)
    if roots is None:
        root_exports = list(m.exports)
    else:
        by_name = {e.name: e for e in m.exports}
        missing = [r for r in roots if r not in by_name]
        if missing:
            raise DceError(f"root{'s' if len(missing) > 1 else ''} {', '.join(f'`{r}`' for r in missing)} "
                           f"not exported; the module exports: {', '.join(e.name for e in m.exports) or 'nothing'}")
        root_exports = [by_name[r] for r in roots]
    live = reachable(m, root_exports)
    for d_index, d in enumerate(m.datas):  # passive data stays only when used; active with its memory
        if d.mode == "active" and d.memory in live.sets["memory"]:
            live.add("data", d_index)

    def plan(kind: str, imported: list[Import], count: int) -> list[int | None]:
        total = len(imported) + count
        keep = sorted(live.sets[kind])
        mapping: list[int | None] = [None] * total
        for new, old in enumerate(keep):
            mapping[old] = new
        return mapping

    imports = {k: m.imported(k) for k in (FUNC, GLOBAL, TABLE, MEMORY, TAG)}
    fmap = plan("func", imports[FUNC], len(m.functions))
    gmap = plan("global", imports[GLOBAL], len(m.globals))
    tmap = plan("table", imports[TABLE], len(m.tables))
    mmap = plan("memory", imports[MEMORY], len(m.memories))
    tagmap = plan("tag", imports[TAG], len(m.tags))
    emap: list[int | None] = [None] * len(m.elements)
    dmap: list[int | None] = [None] * len(m.datas)

    out = Module()
    type_ids: dict[FuncType, int] = {}

    def t(old: int) -> int:  # identical types merge as they are renumbered
        ft = m.types[old]
        if ft not in type_ids:
            type_ids[ft] = len(out.types)
            out.types.append(ft)
        return type_ids[ft]

    def rewrite(instrs: list[Instr]) -> list[Instr]:
        res = []
        for ins in instrs:
            name, imm = ins.op, ins.imm
            if name in ("call", "return_call", "ref.func"):
                res.append(Instr(name, (fmap[imm[0]],)))
            elif name in ("call_indirect", "return_call_indirect"):
                res.append(Instr(name, (t(imm[0]), tmap[imm[1]])))
            elif name in ("global.get", "global.set"):
                res.append(Instr(name, (gmap[imm[0]],)))
            elif name in ("block", "loop", "if") and imm[0].type_index is not None:
                res.append(Instr(name, (BlockType(type_index=t(imm[0].type_index)),)))
            elif name.startswith("table.") and name not in ("table.init", "table.copy"):
                res.append(Instr(name, (tmap[imm[0]],)))
            elif name == "table.init":
                res.append(Instr(name, (emap[imm[0]], tmap[imm[1]])))
            elif name == "table.copy":
                res.append(Instr(name, (tmap[imm[0]], tmap[imm[1]])))
            elif name == "elem.drop":
                res.append(Instr(name, (emap[imm[0]],)))
            elif name == "memory.init":
                res.append(Instr(name, (dmap[imm[0]], mmap[imm[1]])))
            elif name == "data.drop":
                res.append(Instr(name, (dmap[imm[0]],)))
            elif name == "memory.copy":
                res.append(Instr(name, (mmap[imm[0]], mmap[imm[1]])))
            elif name in ("memory.size", "memory.grow", "memory.fill"):
                res.append(Instr(name, (mmap[imm[0]],)))
            elif imm and isinstance(imm[0], MemArg):
                mem = imm[0]
                res.append(Instr(name, (MemArg(mem.align, mem.offset, mmap[mem.memory]),)))
            else:
                res.append(ins)
        return res

    # Element and data segments are numbered before bodies refer to them.
    for i, e in enumerate(m.elements):
        if e.mode == "declarative":
            items = [item for item in e.items if not (item[0].op == "ref.func" and fmap[item[0].imm[0]] is None)]
            if items or i in live.sets["elem"]:  # a live `elem.drop` names it even when it declares nothing
                emap[i] = len(out.elements)
                out.elements.append(Element(e.mode, e.elem_type, items, e.table, None, e.uses_exprs))
        elif i in live.sets["elem"]:
            emap[i] = len(out.elements)
            out.elements.append(e)
    for i, d in enumerate(m.datas):
        if i in live.sets["data"]:
            dmap[i] = len(out.datas)
            out.datas.append(d)
    for i, e in enumerate(out.elements):
        out.elements[i] = Element(e.mode, e.elem_type, [rewrite(item) for item in e.items],
                                  tmap[e.table] if e.mode == "active" else 0,
                                  rewrite(e.offset) if e.offset else None, e.uses_exprs)
    out.datas = [Data(d.mode, d.data, mmap[d.memory] if d.mode == "active" else 0,
                      rewrite(d.offset) if d.offset else None) for d in out.datas]

    kept_imports = {FUNC: fmap, GLOBAL: gmap, TABLE: tmap, MEMORY: mmap, TAG: tagmap}
    counters = {k: 0 for k in kept_imports}
    for imp in m.imports:
        index = counters[imp.kind]
        counters[imp.kind] += 1
        if kept_imports[imp.kind][index] is not None:
            desc = t(imp.desc) if imp.kind in (FUNC, TAG) else imp.desc
            out.imports.append(Import(imp.module, imp.name, imp.kind, desc))
    n_fi, n_gi, n_ti, n_mi = (len(imports[k]) for k in (FUNC, GLOBAL, TABLE, MEMORY))
    out.functions = [Function(t(f.type_index), list(f.locals), rewrite(f.body))
                     for i, f in enumerate(m.functions) if fmap[n_fi + i] is not None]
    out.globals = [Global(g.type, rewrite(g.init)) for i, g in enumerate(m.globals) if gmap[n_gi + i] is not None]
    out.tables = [tt for i, tt in enumerate(m.tables) if tmap[n_ti + i] is not None]
    out.memories = [mt for i, mt in enumerate(m.memories) if mmap[n_mi + i] is not None]
    out.tags = [t(tag) for i, tag in enumerate(m.tags) if tagmap[len(imports[TAG]) + i] is not None]
    maps = {FUNC: fmap, GLOBAL: gmap, TABLE: tmap, MEMORY: mmap, TAG: tagmap}
    out.exports = [Export(e.name, e.kind, maps[e.kind][e.index]) for e in root_exports]
    out.start = fmap[m.start] if m.start is not None else None
    if m.data_count is not None or any(i.op in ("memory.init", "data.drop") for f in out.functions for i in f.body):
        out.data_count = len(out.datas)

    _declare_ref_funcs(out)
    zero_bytes_trimmed = _trim_zero_data(out, dmap)
    old_names = get_names(m)
    new_names = Names(module=old_names.module,
                      functions={fmap[i]: n for i, n in old_names.functions.items() if i < len(fmap) and fmap[i] is not None},
                      locals={fmap[i]: n for i, n in old_names.locals.items() if i < len(fmap) and fmap[i] is not None},
                      globals={gmap[i]: n for i, n in old_names.globals.items() if i < len(gmap) and gmap[i] is not None},
                      data={dmap[i]: n for i, n in old_names.data.items() if i < len(dmap) and dmap[i] is not None})
    for custom in m.customs:
        if custom.name == "name" or (not strip_custom and not custom.name.startswith(("reloc.", "linking"))):
            out.customs.append(custom)
    if any(c.name == "name" for c in out.customs):
        set_names(out, new_names)
    after = encode_module(out)

    all_names = {i: n for i, n in old_names.functions.items()}
    for e in m.exports:
        if e.kind == FUNC:
            all_names.setdefault(e.index, e.name)
    removed = [all_names.get(n_fi + i, f"func[{n_fi + i}]") for i, _ in enumerate(m.functions) if fmap[n_fi + i] is None]
    sizes = sorted(((len(encode_expr(f.body)), n_fi + i) for i, f in enumerate(m.functions) if fmap[n_fi + i] is not None),
                   reverse=True)
    report = {
        "bytes_before": len(before),
        "bytes_after": len(after),
        "functions_before": len(m.functions),
        "functions_after": len(out.functions),
        "functions_removed": removed,
        "zero_data_bytes_trimmed": zero_bytes_trimmed,
        "imports_removed": [f"{i.module}.{i.name}" for i in m.imports
                            if i not in out.imports and not any(o.module == i.module and o.name == i.name for o in out.imports)],
        "largest_survivors": [{"function": all_names.get(index, f"func[{index}]"), "body_bytes": size,
                               "kept_alive_by": _chain(live, index, all_names)} for size, index in sizes[:5]],
    }
    return DceResult(out, after, report)


def _declare_ref_funcs(out: Module) -> None:
    """`ref.func f` in a body needs f declared (an export, an element item or
    a global initialiser); dropping a segment may have removed the only one."""
    referenced = {i.imm[0] for f in out.functions for i in f.body if i.op == "ref.func"}
    declared = {e.index for e in out.exports if e.kind == FUNC}
    for e in out.elements:
        declared |= {i.imm[0] for item in e.items for i in item if i.op == "ref.func"}
    for g in out.globals:
        declared |= {i.imm[0] for i in g.init if i.op == "ref.func"}
    missing = sorted(referenced - declared)
    if missing:
        out.elements.append(Element("declarative", "funcref", [[Instr("ref.func", (f,)), Instr("end")] for f in missing]))


def _trim_zero_data(out: Module, dmap: list[int | None]) -> int:
    """Fresh linear memory is zero, so zero bytes at the ends of an active
    segment (and all-zero segments) need not be stored, as long as no other
    segment writes the same bytes and the segment is inside the memory (an
    out-of-bounds segment must still trap at instantiation)."""
    from .discipline import PAGE, const_value

    if out.imported(MEMORY) or not out.memories:
        return 0
    limit = out.memories[0].limits.min * PAGE
    spans = [(const_value(d.offset), len(d.data)) if d.mode == "active" else (None, 0) for d in out.datas]
    if any(start is None and d.mode == "active" for (start, _), d in zip(spans, out.datas)):
        return 0
    if any(i.op in ("memory.init", "data.drop") for f in out.functions for i in f.body):
        return 0  # data indices are observable: keep segments as they are
    trimmed = 0
    keep = []
    for i, d in enumerate(out.datas):
        start, size = spans[i]
        overlaps = any(j != i and s2 is not None and s2 < start + size and start < s2 + n2
                       for j, (s2, n2) in enumerate(spans))
        if d.mode != "active" or d.memory != 0 or overlaps or start + size > limit:
            keep.append(d)
            continue
        body = d.data.rstrip(b"\0")
        lead = len(body) - len(body.lstrip(b"\0"))
        body = body[lead:]
        trimmed += size - len(body)
        if body:
            keep.append(Data("active", body, 0, [Instr("i32.const", (_wrap(start + lead),)), Instr("end")]))
    if len(keep) != len(out.datas):
        # Segments are renumbered; nothing refers to them (checked above) but
        # the name section, which then loses its data names.
        for k in range(len(dmap)):
            dmap[k] = None
    out.datas = keep
    return trimmed


def _wrap(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
