"""The MCU discipline checks and facts every stage reports: where a module
grows memory, its layout (stack pointer, heap base, data extent) and size."""

from __future__ import annotations

from dataclasses import dataclass

from .wasm.model import FUNC, GLOBAL, Module
from .wasm.names import function_label, get_names

PAGE = 65536


@dataclass(frozen=True)
class GrowSite:
    function: str  # name, export name or func[N]
    index: int
    count: int


def grow_sites(module: Module, reachable: bool = False) -> list[GrowSite]:
    """Every defined function containing memory.grow, with how many; with
    `reachable`, only those the exports (or the start function) can reach."""
    first = len(module.imported(FUNC))
    live = None
    if reachable:
        from .dce import reachable as reachable_from

        live = reachable_from(module, list(module.exports)).sets["func"]
    sites = []
    for i, func in enumerate(module.functions):
        n = sum(1 for ins in func.body if ins.op == "memory.grow")
        if n and (live is None or first + i in live):
            sites.append(GrowSite(function_label(module, first + i), first + i, n))
    return sites


def const_value(expr) -> int | None:
    """The value of a constant expression that is a single i32/i64.const."""
    if expr and len(expr) == 2 and expr[0].op in ("i32.const", "i64.const"):
        return expr[0].imm[0]
    return None


def stack_pointer_global(module: Module) -> int | None:
    """Module-wide index of `__stack_pointer`: by name, else the first
    mutable i32 global (the convention of clang/lld and rustc)."""
    imported = len(module.imported(GLOBAL))
    names = get_names(module).globals
    for index, name in names.items():
        if name == "__stack_pointer" and index >= imported:
            return index
    for i, g in enumerate(module.globals):
        if g.type.mutable and g.type.valtype == "i32":
            return imported + i
    return None


def exported_global_value(module: Module, name: str) -> int | None:
    imported = len(module.imported(GLOBAL))
    for export in module.exports:
        if export.kind == GLOBAL and export.name == name and export.index >= imported:
            return const_value(module.globals[export.index - imported].init)
    return None


def data_extent(module: Module) -> int:
    """The end of the last active data segment with a constant offset."""
    end = 0
    for d in module.datas:
        if d.mode == "active":
            base = const_value(d.offset)
            if base is not None:
                end = max(end, base + len(d.data))
    return end


def module_report(module: Module, encoded_size: int, code_bytes: int) -> dict:
    sp = stack_pointer_global(module)
    imported_globals = len(module.imported(GLOBAL))
    memories = [imp.desc for imp in module.imported("memory")] + module.memories
    return {
        "bytes": encoded_size,
        "code_bytes": code_bytes,
        "data_bytes": sum(len(d.data) for d in module.datas),
        "data_extent": data_extent(module),
        "memory_pages": [{"min": m.limits.min, "max": m.limits.max} for m in memories],
        "imports": [f"{imp.module}.{imp.name}" for imp in module.imports],
        "exports": [e.name for e in module.exports],
        "exports_cabi_realloc": any(e.name == "cabi_realloc" for e in module.exports),
        "functions": len(module.functions),
        "stack_pointer_init": const_value(module.globals[sp - imported_globals].init) if sp is not None and sp >= imported_globals else None,
        "heap_base": exported_global_value(module, "__heap_base"),
        "data_end": exported_global_value(module, "__data_end"),
        "memory_grow": [{"function": s.function, "count": s.count} for s in grow_sites(module)],
    }


def code_section_size(module_bytes: bytes) -> int:
    from .wasm.decode import Reader

    r = Reader(module_bytes, 8)
    while r.pos < len(module_bytes):
        sid = r.byte()
        size = r.u32()
        if sid == 10:
            return size
        r.pos += size
    return 0
