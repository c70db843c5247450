"""The size table `wasmelt size` shows for a synthesized object: bytes per
section, function, data object, originating component and export stack.

The engine renders it without knowing wasm; the attribution lives here. An ELF
function symbol is an export (named verbatim) or `f<index>` (a wasm function
the compiler kept out of line); the fuse provenance or the name section's
`component:function` names say which component each came from. Functions the C
compiler inlined have no symbol: their bytes count toward the function they
were inlined into, and the table names them in that row's detail.

Schema (version 1): {"version": 1, "title": str, "notes": [str],
"groups": [{"name": str, "rows": [{"name", "bytes", "budget", "detail"}]}]};
`bytes` may be null (unbounded), `budget` null (none declared). Rows may say
more for pictures (docs/size.md): `section`, `component`, `budget_attr` (the
attribute that sets the budget), and a function's `parts` (what it holds, by
estimate); the `ram` group lays out .bss and .data,
the linear memory split by the fuse layout (shadow stack, each component).
"""

from __future__ import annotations

import re

from .builtin.demangle import demangle
from .builtin.discipline import const_value
from .builtin.synth.lower import symbol_function as internal_function
from .builtin.wasm.encode import encode_expr
from .builtin.wasm.model import FUNC, Module
from .builtin.wasm.names import function_names

RUNTIME = "(runtime)"
UNATTRIBUTED = "(unattributed)"
RUNTIME_SYMBOLS = ("wasmelt_init", "wasmelt_trap", "wasmelt_ld32u", "wasmelt_st32u")
LINEAR_MEMORY = "wasmelt_memory"  # the builtin lowering's array for the wasm memory


def symbol_function(symbol: str, exports: dict[str, int]) -> int | None:
    """The wasm function index an object symbol was lowered from, if any."""
    if symbol in exports:
        return exports[symbol]
    return internal_function(symbol)


def origin(index: int | None, provenance: dict) -> tuple[str, str] | None:
    """(component, function) of a wasm function, from the provenance."""
    entry = provenance.get("functions", {}).get(str(index)) if index is not None else None
    if not entry or not entry.get("component"):
        return None
    return entry["component"], entry.get("name") or f"func[{index}]"


def _callees(module: Module) -> dict[int, set[int]]:
    base = len(module.imported(FUNC))
    calls: dict[int, set[int]] = {}
    for i, func in enumerate(module.functions):
        calls[base + i] = {ins.imm[0] for ins in func.body if ins.op in ("call", "return_call")}
    return calls


def _inlined(root: int, calls: dict[int, set[int]], has_symbol: set[int]) -> list[int]:
    """Defined functions reachable from `root` only through functions without
    a symbol of their own: the code the compiler folded into `root`."""
    seen, stack, found = {root}, [root], []
    while stack:
        for callee in sorted(calls.get(stack.pop(), ())):
            if callee in seen or callee not in calls or callee in has_symbol:
                continue
            seen.add(callee)
            found.append(callee)
            stack.append(callee)
    return found


def _name(index: int, provenance: dict, names: dict[int, str] | None = None) -> str:
    """`component:function` from the provenance, else the name section's name
    (demangled), else `func[N]`."""
    found = origin(index, provenance)
    if found:
        return f"{found[0]}:{found[1]}"
    name = (names or {}).get(index)
    return demangle(name) if name else f"func[{index}]"


def _memory_rows(size: int, section: str, fuse_report: dict | None, low: int = 0) -> list[dict] | None:
    """The linear memory as the fuse laid it out: the shared shadow stack and
    each component's region, and what no region covers; None when the layout
    is unknown or does not fit the object's array, which holds the wasm
    addresses [low, low + size)."""
    memory, layout = (fuse_report or {}).get("memory") or {}, (fuse_report or {}).get("layout") or []
    if memory.get("mode") != "shared" or not layout or any("start" not in p for p in layout):
        return None
    regions = []
    if memory.get("share_stack") and memory.get("shared_stack_top"):
        regions.append((0, memory["shared_stack_top"], "shadow stack", None,
                        "the shadow stack the components share (share_stack)"))
    for part in layout:
        if part["size"]:
            what = "data" if memory.get("pack") else "pages: data, heap"
            what += "" if memory.get("share_stack") else " and its stack"
            regions.append((part["start"], part["start"] + part["size"], part["component"], part["component"],
                            f"{part['component']}'s {what}"))
    regions.sort()
    if any(a[1] > b[0] for a, b in zip(regions, regions[1:])) or (regions and regions[-1][1] > low + size):
        return None
    # The array starts at `low`: the part of each region below it is not in the object.
    regions = [(max(start, low), end, name, component, detail) for start, end, name, component, detail in regions
               if end > low]
    rows = [{"name": name, "bytes": end - start, "budget": None, "section": section, "component": component,
             "detail": f"linear memory [{start}, {end}): {detail}"} for start, end, name, component, detail in regions]
    rest = size - sum(r["bytes"] for r in rows)
    if rest:
        rows.append({"name": "(linear memory, no region)", "bytes": rest, "budget": None, "section": section,
                     "detail": "alignment between regions and what lies above the last one"})
    return rows


def _segment_image(name: str, module: Module, fuse_report: dict | None) -> dict:
    """For the builtin lowering's `wasmelt_data<i>` (the constant image of data
    segment i): the detail, and the component whose memory region it fills."""
    found = re.fullmatch(r"wasmelt_data(\d+)", name)
    index = int(found.group(1)) if found else None
    if index is None or index >= len(module.datas) or module.datas[index].mode != "active":
        return {}
    start = const_value(module.datas[index].offset)
    if start is None:
        return {}
    end = start + len(module.datas[index].data)
    out = {"detail": f"the initial bytes of data segment {index}, copied to linear memory [{start}, {end}) at init"}
    for part in (fuse_report or {}).get("layout") or []:
        if "start" in part and part["start"] <= start and end <= part["start"] + part["size"]:
            out["component"] = part["component"]
            out["detail"] += f": {part['component']}'s data"
    return out


def ram_rows(report: dict, fuse_report: dict | None) -> list[dict]:
    """.bss and .data object by object, the linear memory by its layout."""
    rows = []
    kinds = report.get("object_sections", {})
    for name, size in report["objects"].items():
        section = "." + kinds.get(name, "")
        if section not in (".bss", ".data"):
            continue
        memory = report.get("memory") or {}
        split = _memory_rows(size, section, fuse_report, memory.get("low", 0)) if name == LINEAR_MEMORY else None
        what = (f"the wasm linear memory, addresses [{memory['low']}, {memory['end']}) of {memory['declared']} "
                f"declared: {memory['reason']}" if memory and name == LINEAR_MEMORY
                else "the wasm linear memory" if name == LINEAR_MEMORY else "a global or runtime variable")
        rows.extend(split or [{"name": name, "bytes": size, "budget": None, "section": section, "detail": what}])
    return rows


def build_table(report: dict, module: Module, exports: dict[str, int], provenance: dict | None,
                budgets: dict[str, int | None], title: str = "", fuse_report: dict | None = None) -> dict:
    """The generic table from the synth report (ELF facts), the module that
    was lowered, its lowered exports (name -> function index), provenance
    and the fuse report (where each component's memory lies)."""
    provenance = provenance or {}
    names = function_names(module)
    calls = _callees(module)
    symbols = {name: symbol_function(name, exports) for name in report["functions"]}
    has_symbol = {i for i in symbols.values() if i is not None}

    s = report["sections"]
    sections = [
        {"name": ".text", "bytes": s["text"], "budget": budgets.get("max_text_bytes"), "budget_attr": "max_text_bytes",
         "detail": "sum of the .text* section headers (code)"},
        {"name": ".rodata", "bytes": s["rodata"], "budget": None, "detail": "constant data"},
        {"name": ".data", "bytes": s["data"], "budget": None, "detail": "initialised data"},
        {"name": ".bss", "bytes": s["bss"], "budget": budgets.get("max_bss_bytes"), "budget_attr": "max_bss_bytes",
         "detail": "zeroed data: the linear memory and globals"},
    ]
    if budgets.get("max_data_bytes") is not None:
        sections.append({"name": ".data+.rodata", "bytes": s["data"] + s["rodata"],
                         "budget": budgets["max_data_bytes"], "budget_attr": "max_data_bytes",
                         "detail": "what max_data_bytes limits"})

    base = len(module.imported(FUNC))
    wasm_size = {base + i: len(encode_expr(func.body)) for i, func in enumerate(module.functions)}
    functions, components, members, estimate = [], {}, {}, {}
    for name, size in report["functions"].items():
        index = symbols[name]
        found = origin(index, provenance)
        component = found[0] if found else RUNTIME if name in RUNTIME_SYMBOLS else UNATTRIBUTED
        parts = [f"from {found[0]}:{found[1]}" if found else "wasmelt runtime" if name in RUNTIME_SYMBOLS
                 else "no provenance"]
        inlined = [_name(i, provenance, names) for i in _inlined(index, calls, has_symbol)] if index is not None else []
        if inlined:
            parts.append("inlines " + ", ".join(inlined))
        folded = [index, *_inlined(index, calls, has_symbol)] if index is not None else []
        weight = sum(wasm_size.get(i, 0) for i in folded)
        pieces = []
        for i in folded:  # split the symbol's bytes by the wasm size of what it holds
            owner = (origin(i, provenance) or (component,))[0]
            share = size * wasm_size.get(i, 0) / weight if weight else (size if i == index else 0)
            estimate[owner] = estimate.get(owner, 0.0) + share
            pieces.append({"name": _name(i, provenance, names), "component": owner, "estimated_bytes": round(share, 1),
                           "inlined": i != index})
        if not folded:
            estimate[component] = estimate.get(component, 0.0) + size
        shown = name
        if index is not None and name not in exports and index in names and not found:
            shown = _name(index, provenance, names)  # an out-of-line `f<N>`: the wasm function's own name
            if shown in report["functions"] or any(f["name"] == shown for f in functions):
                shown = f"{shown} ({name})"  # a static function named like another row
            parts.append(f"symbol {name}")
        row = {"name": shown, "bytes": size, "budget": None, "detail": "; ".join(parts), "section": ".text",
               "component": component}
        if len(pieces) > 1:
            row["parts"] = pieces
        functions.append(row)
        components[component] = components.get(component, 0) + size
        members.setdefault(component, []).append(name)

    wasm_bytes: dict[str, int] = {}
    for index, body in wasm_size.items():
        found = origin(index, provenance)
        if found:
            wasm_bytes[found[0]] = wasm_bytes.get(found[0], 0) + body
    for component in wasm_bytes:
        components.setdefault(component, 0)
        members.setdefault(component, [])
    component_rows = []
    for component, size in sorted(components.items(), key=lambda kv: (-kv[1], kv[0])):
        detail = f"symbols: {', '.join(members[component]) or 'none (all inlined)'}"
        if round(estimate.get(component, 0)) != size:
            detail += f"; ~{round(estimate.get(component, 0))} B with inlined code counted where it came from"
        if component in wasm_bytes:
            detail += f"; {wasm_bytes[component]} B of wasm code after dce"
        component_rows.append({"name": component, "bytes": size, "budget": None, "detail": detail})

    kinds = report.get("object_sections", {})
    objects = []
    for name, size in report["objects"].items():
        row = {"name": name, "bytes": size, "budget": None, "detail": ""}
        if name in kinds:
            row["section"] = "." + kinds[name]
        row.update(_segment_image(name, module, fuse_report))
        objects.append(row)

    stack = report["stack"]
    stack_rows = [{"name": f"{e} (worst case)", "bytes": depth, "budget": budgets.get("max_stack_bytes"),
                   "budget_attr": "max_stack_bytes",
                   "detail": "unbounded: recursion" if depth is None else "deepest call chain in this object"}
                  for e, depth in sorted(stack["exports"].items())]
    memory = report.get("memory") or {}
    if memory.get("stack_top") is not None:  # the shadow stack in the linear memory, from the wasm
        room = memory["stack_top"] - (memory.get("stack_low") or 0)
        stack_rows += [{"name": f"{e} (shadow stack)", "bytes": depth, "budget": None,
                        "detail": ("unbounded: recursion or a run-time frame" if depth is None
                                   else "deepest chain of __stack_pointer frames, static")
                        + f"; the object keeps {room} B of stack below {memory['stack_top']}"}
                       for e, depth in sorted((memory.get("stack_exports") or {}).items()) if e in stack["exports"]]

    return {
        "version": 1,
        "title": title,
        "notes": ["inlined functions count toward the function (and component) they were inlined into; "
                  "the ~ estimate splits each function's bytes by the wasm size of the code it holds"],
        "groups": [
            {"name": "sections", "rows": sections},
            {"name": "functions", "rows": functions},
            {"name": "components", "rows": component_rows},
            {"name": "objects", "rows": objects},
            {"name": "ram", "rows": ram_rows(report, fuse_report)},
            {"name": "stack", "rows": stack_rows},
        ],
    }
