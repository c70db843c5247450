"""Builtin static fusion: several components become one core module whose
cross-component calls are direct `call`s (or canonical-ABI adapters where a
seam passes data, see seams.py), with one shared linear memory in which every
component is placed at its own base (address rebasing).

A component built with relocations (`linking` + `reloc.*`, from
`--emit-relocs`) is rebased by moving its address constants; one without
them keeps its own addresses and has every memory access shifted instead.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field, replace

from . import canonical_abi as abi
from .discipline import PAGE, const_value, data_extent, exported_global_value, grow_sites, stack_pointer_global
from .seams import FuseError, Resolver, build_seam_code, exported_func, external_owner, signature_text
from .wasm.component import is_component, main_core_module, read_component
from .wasm.decode import decode_module
from .wasm.encode import encode_instr
from .wasm.errors import DecodeError
from .wasm.model import (
    FUNC, GLOBAL, MEMORY, BlockType, Data, Element, Export, FuncType, Function, Global,
    Import, Instr, Limits, MemArg, MemoryType, Module,
)
from .wasm.names import Names, get_names, set_names
from .wasm.relocs import instruction_at, linking, relocations
from .wit import World, WitError, core_export_name, interface_label, read_world

ALIGN = 16
LINKER_ADDRESS_GLOBALS = ("__heap_base", "__data_end", "__global_base")


@dataclass(frozen=True)
class FuseOptions:
    memory: str = "shared"  # "shared" | "multi"
    address_rebase: bool = True
    pack: bool = False
    share_stack: bool = False
    exports: tuple[str, ...] | None = None
    # "component:module.field" -> "component:export" for imports whose names differ
    links: dict[str, str] = field(default_factory=dict)
    handles: int = 16  # slots in each resource type's handle table


@dataclass
class Part:
    name: str
    label: str
    module: Module
    relocatable: bool = False
    world: World | None = None  # the WIT world of a component (None for a core module)
    base: int = 0
    size: int = 0
    # Where its pointers may point, in its own addressing: its region, and the
    # shared stack [0, shared_stack) when it has one.
    region: tuple[int, int] = (0, 0)
    shared_stack: int = 0
    pages: int = 0
    func_offset: int = 0  # fused index of its first defined function
    type_map: list[int] = field(default_factory=list)
    func_map: list[int] = field(default_factory=list)
    global_map: list[int] = field(default_factory=list)
    table_map: list[int] = field(default_factory=list)
    memory_map: list[int] = field(default_factory=list)
    data_map: list[int] = field(default_factory=list)
    elem_map: list[int] = field(default_factory=list)


@dataclass
class FuseResult:
    wasm: bytes
    module: Module
    import_map: dict
    provenance: dict
    report: dict


def _round(value: int, to: int) -> int:
    return (value + to - 1) // to * to


def _load(name: str, label: str, data: bytes, describe) -> Part:
    try:
        module = decode_module(main_core_module(data))
        canons = read_component(data).canons if is_component(data) else []
    except DecodeError as e:
        raise FuseError(f"component {label} is not valid wasm: {e}") from None
    for canon in canons:
        if canon.kind in ("lift", "lower") and canon.string_encoding != "utf8":
            raise FuseError(f"component {label} passes strings as {canon.string_encoding}; the fused adapters copy "
                            "UTF-8 only: build it with the default string encoding (utf8)")
    world = None
    if is_component(data):
        try:
            world = describe(data)
        except WitError as e:
            raise FuseError(f"component {label}: {e}") from None
    for imp in module.imports:
        if imp.kind != FUNC:
            raise FuseError(f"component {label} imports a {imp.kind} `{imp.module}.{imp.name}`; only function "
                            "imports can be fused: define the memory/table/global in the component")
    if len(module.memories) > 1:
        raise FuseError(f"component {label} defines {len(module.memories)} memories; fuse takes one per component")
    declared = module.memories[0].limits.min * PAGE if module.memories else 0
    for index, d in enumerate(module.datas):
        base = const_value(d.offset) if d.mode == "active" else None
        # The fused memory is laid out from what the parts use: a segment beyond a
        # part's own memory would fit there, and the trap its instantiation owes be lost.
        if base is not None and (base & 0xFFFFFFFF) + len(d.data) > declared:
            raise FuseError(f"component {label}: data segment {index} ({len(d.data)} bytes at offset "
                            f"{base & 0xFFFFFFFF}) ends beyond its {declared} bytes of declared memory: "
                            "instantiating it would trap")
    names = {c.name for c in module.customs}
    return Part(name, label, module, relocatable="linking" in names, world=world)


def describe_with_wasm_tools(data: bytes) -> World:
    """A component's world, as `wasm-tools component wit --json` reads it."""
    import tempfile

    from ..identity import wasm_tools

    with tempfile.NamedTemporaryFile(suffix=".wasm") as f:
        f.write(data)
        f.flush()
        return read_world(wasm_tools().path, f.name)


# -- memory layout ------------------------------------------------------------


def _stack_top(part: Part) -> int | None:
    sp = stack_pointer_global(part.module)
    imported = len(part.module.imported(GLOBAL))
    if sp is None or sp < imported:
        return None
    return const_value(part.module.globals[sp - imported].init)


def _pages(part: Part) -> int:
    return part.module.memories[0].limits.min if part.module.memories else 0


def _used_extent(part: Part) -> int:
    m = part.module
    candidates = [data_extent(m), _stack_top(part) or 0, exported_global_value(m, "__data_end") or 0]
    return _round(max(candidates), ALIGN)


def _check_pack(part: Part, extent: int) -> None:
    heap = exported_global_value(part.module, "__heap_base")
    if heap is not None and heap > extent:
        raise FuseError(f"pack: component {part.label} has its heap base at {heap}, beyond its used data "
                        f"(ends at {extent}); it may allocate above what packing keeps. Fuse it without pack")
    if part.relocatable:
        symbols = linking(part.module).symbols if linking(part.module) else []
        for section in relocations(part.module).values():
            for reloc in section:
                if reloc.is_memory_address and reloc.index < len(symbols) and symbols[reloc.index].name in (
                        "__heap_base", "__heap_end"):
                    raise FuseError(f"pack: component {part.label} takes the address of "
                                    f"{symbols[reloc.index].name}: it allocates above its data, so packing could "
                                    "overlap the next component. Fuse it without pack")
    imported = len(part.module.imported(GLOBAL))
    heap_globals = {e.index for e in part.module.exports if e.kind == GLOBAL and e.name == "__heap_base"}
    for func in part.module.functions:
        if any(ins.op == "global.get" and ins.imm[0] in heap_globals and ins.imm[0] >= imported for ins in func.body):
            raise FuseError(f"pack: component {part.label} reads __heap_base: it allocates above its data, so "
                            "packing could overlap the next component. Fuse it without pack")


def _check_stack_first(part: Part, top: int) -> None:
    lowest = min((const_value(d.offset) for d in part.module.datas if d.mode == "active"
                  and const_value(d.offset) is not None), default=None)
    if lowest is not None and lowest < top:
        raise FuseError(f"share_stack: component {part.label} is not stack-first (data at {lowest} lies below its "
                        f"stack top {top}); link it with --stack-first")
    if not part.relocatable:
        raise FuseError(f"share_stack: component {part.label} has a stack but no relocations; build it with "
                        "--emit-relocs so its addresses can move")


def layout(parts: list[Part], options: FuseOptions) -> int:
    """Give every part a base and size in the shared memory; returns the
    shared stack top (0 without share_stack)."""
    shared_top = 0
    if options.share_stack:
        tops = {p.name: _stack_top(p) for p in parts}
        for p in parts:
            if tops[p.name] is not None:
                _check_stack_first(p, tops[p.name])
        shared_top = _round(max((t for t in tops.values() if t is not None), default=0), ALIGN)
    cursor = shared_top
    for p in parts:
        p.pages = _pages(p)
        if not p.module.memories:
            p.base, p.size = cursor, 0
            continue
        if options.pack or options.share_stack:
            extent = _used_extent(p)
            if options.pack:
                _check_pack(p, extent)
            else:
                extent = p.pages * PAGE
            top = _stack_top(p) if options.share_stack else None
            if top is not None:
                p.base = cursor - top  # its own stack region collapses into the shared one
                p.size = extent - top
            else:
                p.base, p.size = cursor, extent
            cursor = _round(p.base + (top or 0) + p.size, ALIGN)
        else:
            cursor = _round(cursor, PAGE)
            p.base, p.size = cursor, p.pages * PAGE
            cursor += p.size
    rebase = options.memory == "shared" and options.address_rebase
    for p in parts:
        top = (_stack_top(p) or 0) if options.share_stack else 0
        lo = p.base + top if rebase and p.relocatable else 0
        p.region = (lo, lo + p.size)
        p.shared_stack = shared_top if options.share_stack and p.relocatable else 0
    return shared_top


# -- rewriting ----------------------------------------------------------------


def _remap_blocktype(bt: BlockType, part: Part) -> BlockType:
    return BlockType(type_index=part.type_map[bt.type_index]) if bt.type_index is not None else bt


class BodyRewriter:
    def __init__(self, part: Part, options: FuseOptions, memory_relocs: set[int] | None):
        self.part = part
        self.options = options
        self.rebase = options.memory == "shared" and options.address_rebase
        self.memory_relocs = memory_relocs  # indices of instructions holding relocated addresses

    def memarg(self, m: MemArg, index: int) -> MemArg:
        memory = self.part.memory_map[m.memory] if self.part.memory_map else 0
        offset = m.offset
        if self.rebase and (self.memory_relocs is None or index in self.memory_relocs):
            offset += self.part.base
            if offset >= 1 << 32:
                raise FuseError(f"component {self.part.label}: an access offset exceeds 4 GiB after rebasing")
        return MemArg(m.align, offset, memory)

    def rewrite(self, body: list[Instr], scratch: int | None, func_name: str) -> list[Instr]:
        p = self.part
        out: list[Instr] = []
        access_mode = self.rebase and self.memory_relocs is None
        for index, ins in enumerate(body):
            name, imm = ins.op, ins.imm
            if name in ("call", "return_call", "ref.func"):
                out.append(Instr(name, (p.func_map[imm[0]],)))
            elif name in ("call_indirect", "return_call_indirect"):
                out.append(Instr(name, (p.type_map[imm[0]], p.table_map[imm[1]])))
            elif name in ("global.get", "global.set"):
                out.append(Instr(name, (p.global_map[imm[0]],)))
            elif name in ("block", "loop", "if"):
                out.append(Instr(name, (_remap_blocktype(imm[0], p),)))
            elif name.startswith("table.") and name not in ("table.init", "table.copy"):
                out.append(Instr(name, (p.table_map[imm[0]],)))
            elif name == "table.init":
                out.append(Instr(name, (p.elem_map[imm[0]], p.table_map[imm[1]])))
            elif name == "table.copy":
                out.append(Instr(name, (p.table_map[imm[0]], p.table_map[imm[1]])))
            elif name == "elem.drop":
                out.append(Instr(name, (p.elem_map[imm[0]],)))
            elif name == "data.drop":
                out.append(Instr(name, (p.data_map[imm[0]],)))
            elif imm and isinstance(imm[0], MemArg):
                out.append(Instr(name, (self.memarg(imm[0], index),)))
            elif name == "memory.size":
                if self.rebase:
                    out.append(Instr("i32.const", (p.pages,)))
                else:
                    out.append(Instr(name, (p.memory_map[imm[0]],)))
            elif name == "memory.grow":
                if self.rebase:
                    raise FuseError(f"component {p.label} grows its memory (memory.grow in `{func_name}`), which "
                                    "address rebasing cannot allow: build it with a static or bump allocator "
                                    "that never grows")
                out.append(Instr(name, (p.memory_map[imm[0]],)))
            elif name in ("memory.fill", "memory.copy", "memory.init"):
                out.extend(self._bulk(ins, scratch, access_mode))
            elif name == "i32.const" and self.rebase and self.memory_relocs is not None and index in self.memory_relocs:
                out.append(Instr(name, (_wrap32(imm[0] + p.base),)))
            else:
                out.append(ins)
        return out

    def _bulk(self, ins: Instr, scratch: int | None, access_mode: bool) -> list[Instr]:
        p = self.part
        if ins.op == "memory.fill":
            fixed = Instr("memory.fill", (p.memory_map[ins.imm[0]] if not self.rebase else 0,))
        elif ins.op == "memory.copy":
            mem = lambda m: p.memory_map[m] if not self.rebase else 0  # noqa: E731
            fixed = Instr("memory.copy", (mem(ins.imm[0]), mem(ins.imm[1])))
        else:
            fixed = Instr("memory.init", (p.data_map[ins.imm[0]], p.memory_map[ins.imm[1]] if not self.rebase else 0))
        if not access_mode or p.base == 0:
            return [fixed]
        # Operands: (dest, x, n). Shift dest (and the source of a copy) by the base.
        a, b = scratch, scratch + 1
        seq = [Instr("local.set", (b,)), Instr("local.set", (a,))]
        seq += [Instr("i32.const", (p.base,)), Instr("i32.add")]
        if ins.op == "memory.copy":
            seq += [Instr("local.get", (a,)), Instr("i32.const", (p.base,)), Instr("i32.add")]
        else:
            seq += [Instr("local.get", (a,))]
        seq += [Instr("local.get", (b,)), fixed]
        return seq


def _wrap32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def _const_expr(expr: list[Instr], part: Part) -> list[Instr]:
    out = []
    for ins in expr:
        if ins.op == "global.get":
            out.append(Instr("global.get", (part.global_map[ins.imm[0]],)))
        elif ins.op == "ref.func":
            out.append(Instr("ref.func", (part.func_map[ins.imm[0]],)))
        else:
            out.append(ins)
    return out


def _memory_reloc_instructions(part: Part) -> dict[int, set[int]] | None:
    """For a relocatable part: defined function -> indices of instructions
    that hold a memory address. None for a part without relocations."""
    if not part.relocatable:
        return None
    found: dict[int, set[int]] = {}
    code = relocations(part.module).get("CODE", [])
    starts = [f.offsets[0] if f.offsets else 0 for f in part.module.functions]
    import bisect

    for reloc in code:
        if not reloc.is_memory_address:
            continue
        f = bisect.bisect_right(starts, reloc.offset) - 1
        if f < 0:
            continue
        found.setdefault(f, set()).add(instruction_at(part.module.functions[f].offsets, reloc.offset))
    return found


def _patch_data_relocs(part: Part, datas: list[Data]) -> None:
    """Add the part's base to addresses stored in its data (reloc.DATA)."""
    for reloc in relocations(part.module).get("DATA", []):
        if not reloc.is_memory_address:
            continue
        for d in datas:
            start = d.payload_offset
            if start is not None and start <= reloc.offset < start + len(d.data):
                at = reloc.offset - start
                width = 8 if reloc.type in (14, 15, 16, 17) else 4
                fmt = "<Q" if width == 8 else "<I"
                (value,) = struct.unpack_from(fmt, d.data, at)
                patched = bytearray(d.data)
                struct.pack_into(fmt, patched, at, (value + part.base) % (1 << (8 * width)))
                d.data = bytes(patched)
                break


# -- the whole fusion -------------------------------------------------------------


def _refuse_grow(part: Part, sites) -> None:
    where = ", ".join(f"`{s.function}`" for s in sites)
    raise FuseError(f"component {part.label} grows its memory (memory.grow in {where}); address rebasing "
                    "places it at a fixed base, so it must never grow: build it with a static or bump "
                    "allocator that never grows")


def fuse(inputs: list[tuple[str, str, bytes]], options: FuseOptions = FuseOptions(),
         describe=describe_with_wasm_tools) -> FuseResult:
    """inputs: (component name, label, wasm bytes), the root component first;
    describe(component bytes) -> its WIT World."""
    if not inputs:
        raise FuseError("fuse needs at least one component")
    names = [n for n, _, _ in inputs]
    if len(set(names)) != len(names):
        raise FuseError(f"two components share a name: {', '.join(names)}")
    parts = [_load(*i, describe) for i in inputs]
    rebase = options.memory == "shared" and options.address_rebase
    growers = [(p, sites) for p in parts if (sites := grow_sites(p.module))] if rebase else []
    lone_memory = [p for p in parts if p.module.memories] == [p for p, _ in growers[:1]]
    if growers and lone_memory:
        # The only memory has nothing to be kept apart from: it is not rebased,
        # keeps its own limits and may grow.
        options = replace(options, address_rebase=False)
        rebase = False
    elif growers:
        _refuse_grow(*growers[0])
    if options.memory == "shared" and not options.address_rebase and sum(1 for p in parts if p.module.memories) > 1:
        raise FuseError("memory = \"shared\" needs address_rebase = true to keep the components' data apart "
                        "(or use memory = \"multi\")")
    shared_top = layout(parts, options) if options.memory == "shared" else 0

    out = Module()
    type_index: dict[FuncType, int] = {}

    def intern(t: FuncType) -> int:
        if t not in type_index:
            type_index[t] = len(out.types)
            out.types.append(t)
        return type_index[t]

    for p in parts:
        p.type_map = [intern(t) for t in p.module.types]

    resolver = Resolver(parts, options.links)
    resolutions = [[resolver.resolve(i, k) for k in range(len(p.module.imported(FUNC)))] for i, p in enumerate(parts)]
    external: dict[tuple[str, str], int] = {}
    external_users: dict[tuple[str, str], list[str]] = {}
    for i, p in enumerate(parts):
        for k, res in enumerate(resolutions[i]):
            if res[0] != "ext":
                continue
            key = (res[1], res[2])
            owner_part, owner_index = external_owner(resolver, parts, i, k)
            ftype = owner_part.module.types[owner_part.module.imported(FUNC)[owner_index].desc]
            if key not in external:
                external[key] = len(out.imports)
                out.imports.append(Import(key[0], key[1], FUNC, intern(ftype)))
            elif out.types[out.imports[external[key]].desc] != ftype:
                raise FuseError(f"host import `{key[0]}.{key[1]}` is used with two signatures: "
                                f"{signature_text(out.types[out.imports[external[key]].desc])} and {signature_text(ftype)} ({p.label})")
            external_users.setdefault(key, []).append(p.name)
    offset = len(out.imports)
    for p in parts:
        p.func_offset = offset
        offset += len(p.module.functions)
    adapter_base = offset
    builtin_base = adapter_base + len(resolver.seams)

    def fused_index(r: tuple) -> int:
        if r[0] == "ext":
            return external[(r[1], r[2])]
        if r[0] == "adapt":
            return adapter_base + r[1]
        if r[0] == "builtin":
            return builtin_base + r[1]
        return parts[r[1]].func_offset + r[2]

    for i, p in enumerate(parts):
        p.func_map = [fused_index(r) for r in resolutions[i]]
        p.func_map += [p.func_offset + d for d in range(len(p.module.functions))]

    # Tables, memories, globals, data and elements are concatenated.
    for p in parts:
        p.table_map = list(range(len(out.tables), len(out.tables) + len(p.module.tables)))
        out.tables.extend(p.module.tables)
    total = 0
    if options.memory == "shared":
        total = max((p.base + (p.size if not options.share_stack else p.size + (_stack_top(p) or 0)) for p in parts),
                    default=0)
        total = max(total, shared_top)
        tables = _round(total, ALIGN)
        if resolver.builtins:
            total = tables + 4 * options.handles * len(resolver.resources())
        pages = max(1, -(-total // PAGE)) if any(p.module.memories for p in parts) else 0
        if growers:
            if resolver.builtins:  # its growth would run over the handle tables placed above it
                _refuse_grow(*growers[0])
            out.memories.append(growers[0][0].module.memories[0])
        elif pages:
            out.memories.append(MemoryType(Limits(pages, pages)))
        for p in parts:
            p.memory_map = [0] * len(p.module.memories)
    else:
        for p in parts:
            p.memory_map = list(range(len(out.memories), len(out.memories) + len(p.module.memories)))
            out.memories.extend(p.module.memories)
    shared_sp: int | None = None
    for p in parts:
        sp = stack_pointer_global(p.module) if options.share_stack else None
        p.global_map = []
        for g_index, g in enumerate(p.module.globals):
            if sp is not None and g_index == sp and _stack_top(p) is not None:
                if shared_sp is None:
                    shared_sp = len(out.globals)
                    out.globals.append(Global(g.type, [Instr("i32.const", (_wrap32(shared_top),)), Instr("end")]))
                p.global_map.append(shared_sp)
                continue
            p.global_map.append(len(out.globals))
            out.globals.append(g)  # init rewritten below, once every map exists
    for p in parts:
        p.data_map = list(range(len(out.datas), len(out.datas) + len(p.module.datas)))
        p.elem_map = list(range(len(out.elements), len(out.elements) + len(p.module.elements)))
        out.datas.extend(Data(d.mode, d.data, 0, d.offset, d.payload_offset) for d in p.module.datas)
        out.elements.extend(p.module.elements)

    # Global initialisers; linker address globals move with their component.
    for p in parts:
        sp = stack_pointer_global(p.module)
        address_globals = {e.index for e in p.module.exports if e.kind == GLOBAL and e.name in LINKER_ADDRESS_GLOBALS}
        for g_index, g in enumerate(p.module.globals):
            target = p.global_map[g_index]
            if options.share_stack and target == shared_sp:
                continue
            init = _const_expr(g.init, p)
            if rebase and p.relocatable and (g_index == sp or g_index in address_globals):
                value = const_value(init)
                if value is not None:
                    init = [Instr("i32.const", (_wrap32(value + p.base),)), Instr("end")]
            out.globals[target] = Global(g.type, init)

    # Data and element segments.
    for p in parts:
        datas = [out.datas[i] for i in p.data_map]
        for d in datas:
            if d.mode == "active":
                d.memory = p.memory_map[0] if p.memory_map else 0
                d.offset = _const_expr(d.offset, p)
                if rebase:
                    value = const_value(d.offset)
                    if value is None:
                        raise FuseError(f"component {p.label} places data at a non-constant address; it cannot be rebased")
                    d.offset = [Instr("i32.const", (_wrap32(value + p.base),)), Instr("end")]
        if rebase and p.relocatable:
            _patch_data_relocs(p, datas)
        for e_index in p.elem_map:
            e = out.elements[e_index]
            out.elements[e_index] = Element(e.mode, e.elem_type, [_const_expr(item, p) for item in e.items],
                                            p.table_map[e.table] if e.mode == "active" else 0,
                                            _const_expr(e.offset, p) if e.offset else None, e.uses_exprs)
    if rebase:
        _check_overlaps(parts, out)

    # Function bodies.
    provenance = {}
    fused_names = Names()
    for p in parts:
        relocs = _memory_reloc_instructions(p) if rebase else None
        local_names = get_names(p.module).functions
        interface_names = {}
        for key in (p.world.exports if p.world else {}):
            index = exported_func(p, core_export_name(*key))
            if index is not None:
                interface_names[index] = interface_label(*key)
        imported = len(p.module.imported(FUNC))
        for d, func in enumerate(p.module.functions):
            original = imported + d
            fname = interface_names.get(original) or local_names.get(original) or next(
                (e.name for e in p.module.exports if e.kind == FUNC and e.index == original), f"func[{original}]")
            rewriter = BodyRewriter(p, options, None if relocs is None else relocs.get(d, set()))
            ftype = p.module.types[func.type_index]
            n_locals = len(ftype.params) + sum(n for n, _ in func.locals)
            needs_scratch = rebase and relocs is None and p.base and any(
                i.op in ("memory.fill", "memory.copy", "memory.init") for i in func.body)
            body = rewriter.rewrite(func.body, n_locals if needs_scratch else None, fname)
            locals_ = list(func.locals) + ([(2, "i32")] if needs_scratch else [])
            out.functions.append(Function(p.type_map[func.type_index], locals_, body))
            fused_index = p.func_offset + d
            provenance[str(fused_index)] = {"component": p.name, "label": p.label, "index": original, "name": fname}
            fused_names.functions[fused_index] = f"{p.name}:{fname}"
    for key, index in external.items():
        fused_names.functions[index] = f"{key[0]}.{key[1]}"
    if resolver.builtins and options.memory != "shared":
        raise FuseError("components pass resource handles: the fused handle tables need memory = \"shared\"")
    seams, adapter_bytes = build_seam_code(parts, resolver, options, out, intern, fused_names, provenance,
                                           builtin_base, tables if resolver.builtins else 0)
    shared_bytes = adapter_bytes - sum(s["adapter_bytes"] for s in seams)  # the UTF-8 check, the copy functions

    # Start functions run in component order.
    starts = [p.func_map[p.module.start] for p in parts if p.module.start is not None]
    if len(starts) == 1:
        out.start = starts[0]
    elif starts:
        body = [Instr("call", (s,)) for s in starts] + [Instr("end")]
        out.functions.append(Function(intern(FuncType((), ())), [], body))
        out.start = len(out.imports) + len(out.functions) - 1
        adapter_bytes += sum(len(encode_instr(i)) for i in body)
        fused_names.functions[out.start] = "wasmelt:start"

    out.exports = _exports(parts, options)
    if any(e.mode == "passive" for e in out.datas) or any(
            i.op in ("memory.init", "data.drop") for f in out.functions for i in f.body):
        out.data_count = len(out.datas)
    set_names(out, fused_names)
    from .wasm.encode import encode_module

    wasm = encode_module(out)
    report = {
        "components": [p.name for p in parts],
        "memory": {"mode": options.memory, "address_rebase": options.address_rebase, "pack": options.pack,
                   "share_stack": options.share_stack,
                   "pages": out.memories[0].limits.min if out.memories and options.memory == "shared" else None,
                   "shared_stack_top": shared_top if options.share_stack else None,
                   "used_bytes": total if options.memory == "shared" else None},
        "layout": [{"component": p.name, "label": p.label, "base": p.base, "size": p.size,
                    "start": p.base + ((_stack_top(p) or 0) if options.share_stack else 0),
                    "rebased_by": ("relocations" if p.relocatable else "memory accesses") if rebase else None}
                   for p in parts],
        "functions": len(out.functions),
        "imports": [f"{i.module}.{i.name}" for i in out.imports],
        "exports": [e.name for e in out.exports],
        "adapter_bytes": adapter_bytes,
        "seams": seams,
        "shared_adapter_bytes": shared_bytes,
        "handle_tables": [{"resource": f"{r[1].partition('@')[0]}#{r[0]}", "slots": options.handles,
                           "address": tables + 4 * options.handles * k}
                          for k, r in enumerate(resolver.resources())] if options.memory == "shared" else [],
        "bytes": len(wasm),
    }
    import_map = {
        "imports": [{"module": k[0], "name": k[1], "index": v, "used_by": sorted(set(external_users[k]))}
                    for k, v in sorted(external.items(), key=lambda kv: kv[1])],
        "links": sorted(resolver.link_log, key=lambda l: (l["component"], l["import"])),
    }
    return FuseResult(wasm, out, import_map, {"functions": provenance}, report)


def _canonical_helpers(part: Part) -> set[str]:
    """The cabi_* exports a host calling the part's own exports still needs."""
    if part.world is None:
        return {e.name for e in part.module.exports if e.name.startswith("cabi_")}
    needed = set()
    for key, sig in part.world.exports.items():
        name = core_export_name(*key)
        if not abi.is_direct(sig):
            needed.add("cabi_realloc")
        needed.add(f"cabi_post_{name}")
    return needed


def _exports(parts: list[Part], options: FuseOptions) -> list[Export]:
    exports: list[Export] = []
    if options.exports is None:
        root = parts[0]
        helpers = _canonical_helpers(root)
        for e in root.module.exports:
            if e.kind == FUNC and (not e.name.startswith("cabi_") or e.name in helpers):
                exports.append(Export(e.name, FUNC, root.func_map[e.index]))
    else:
        for name in options.exports:
            owners = [p for p in parts if exported_func(p, name) is not None]
            if not owners:
                available = sorted({e.name for p in parts for e in p.module.exports if e.kind == FUNC})
                raise FuseError(f"exports: no component exports a function `{name}`; available: {', '.join(available)}")
            owner = owners[0]
            exports.append(Export(name, FUNC, owner.func_map[exported_func(owner, name)]))
    if any(p.module.memories for p in parts):
        exports.append(Export("memory", MEMORY, 0))
    return exports


def _check_overlaps(parts: list[Part], out: Module) -> None:
    spans = []
    for p in parts:
        for i in p.data_map:
            d = out.datas[i]
            if d.mode == "active" and d.data:
                start = const_value(d.offset)
                spans.append((start, start + len(d.data), p))
    spans.sort(key=lambda s: (s[0], s[1]))
    for (s1, e1, p1), (s2, e2, p2) in zip(spans, spans[1:]):
        if s2 < e1:
            raise FuseError(f"data of {p1.label} [{s1}, {e1}) overlaps data of {p2.label} [{s2}, {e2}) in the fused "
                            "memory; give the components disjoint regions (drop pack, or check their layouts)")
