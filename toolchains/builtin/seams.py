"""Which export each import of a component calls (by interface and function
name, or core names), and the code fusion generates at the seams: adapters,
resource handle functions, and the copy and UTF-8 functions they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import canonical_abi as abi
from .adapter import AdapterError, SeamAdapter, Side, copy_function, handle_functions, utf8_validator
from .wasm.encode import encode_expr
from .wasm.model import FUNC, FuncType, Import, Module
from .wasm.names import Names
from .wit import ROOT, FuncSig, core_export_name, interface_label

if TYPE_CHECKING:
    from .fuse import FuseOptions, Part


class FuseError(Exception):
    """Fusion is impossible as asked; the message names component and what to do."""



def exported_func(part: Part, name: str) -> int | None:
    for export in part.module.exports:
        if export.kind == FUNC and export.name == name:
            return export.index
    return None


@dataclass(frozen=True)
class Seam:
    """A resolved import that passes data through memory: needs an adapter."""

    caller: int  # part index
    callee: int
    export_index: int  # the callee's function index of the lifted export
    export_name: str
    sig: FuncSig
    interface: str
    function: str
    borrows: tuple = ()  # ((resource, interface), builtin id) for borrows the callee defines


RESOURCE_BUILTINS = {"[resource-new]": "new", "[resource-rep]": "rep", "[resource-drop]": "drop"}


class Resolver:
    def __init__(self, parts: list[Part], links: dict[str, str]):
        self.parts = parts
        self.by_name = {p.name: p for p in parts}
        self.links = links
        self.resolved: dict[tuple[int, int], tuple] = {}
        self.link_log: list[dict] = []
        self.seams: list[Seam] = []
        self.builtins: list[tuple[str, tuple[str, str]]] = []  # (new|rep|drop, (resource, interface))
        self.interfaces: dict[str, Part] = {}
        for p in parts:
            for interface in sorted({i for i, _ in (p.world.exports if p.world else {}) if i != ROOT}):
                if interface in self.interfaces:
                    raise FuseError(f"components {self.interfaces[interface].label} and {p.label} both export "
                                    f"interface `{interface}`; an import must resolve to one: fuse only one of them, "
                                    "or give one interface another name")
                self.interfaces[interface] = p

    def builtin(self, kind: str, resource: tuple[str, str]) -> int:
        if (kind, resource) not in self.builtins:
            self.builtins.append((kind, resource))
        return self.builtins.index((kind, resource))

    def resources(self) -> list[tuple[str, str]]:
        return sorted({r for _, r in self.builtins})

    def _resource_builtin(self, part: Part, imp: Import) -> tuple | None:
        """resource.new/rep/drop a component imports for a resource some
        component of the fusion defines: ("builtin", id)."""
        prefix = next((p for p in RESOURCE_BUILTINS if imp.name.startswith(p)), None)
        if prefix is None:
            return None
        own = imp.module.startswith("[export]")
        interface = imp.module.removeprefix("[export]")
        owner = self.interfaces.get(interface)
        if owner is None or (own and owner is not part):
            return None  # a host resource: the import stays
        if not own and RESOURCE_BUILTINS[prefix] != "drop":
            return None
        return ("builtin", self.builtin(RESOURCE_BUILTINS[prefix], (imp.name[len(prefix):], interface)))

    def _wit_target(self, part: Part, imp: Import) -> tuple[Part, int, str, FuncSig] | None:
        key = (imp.module, imp.name)
        want = part.world.imports[key]
        owner = self.interfaces.get(imp.module)
        if owner is not None and owner is not part and key in owner.world.exports:
            have = owner.world.exports[key]
            export = core_export_name(*key)
            if have != want:
                raise FuseError(f"component {part.label} imports `{interface_label(*key)}` as {want.text()} but "
                                f"{owner.label} exports it as {have.text()}; give both the same WIT type")
            index = exported_func(owner, export)
            if index is None:
                raise FuseError(f"component {owner.label} declares `{interface_label(*key)}` but its core module "
                                f"exports no `{export}`")
            return owner, index, export, want
        base = imp.module.partition("@")[0]
        candidates = sorted(interface_label(i, f) + (f"@{i.partition('@')[2]}" if "@" in i else "")
                            for p in self.parts if p is not part and p.world
                            for i, f in p.world.exports if i != ROOT and i.partition("@")[0] == base)
        if candidates:
            raise FuseError(f"component {part.label} imports `{imp.module}` function `{imp.name}`, which no "
                            f"component exports; candidates: {', '.join(candidates)}. Fix the import's name or "
                            "version, or export it")
        return None  # a host interface

    def _target(self, i: int, imp: Import) -> tuple[Part, int, str, FuncSig | None] | None:
        part = self.parts[i]
        declared = self.links.get(f"{part.name}:{imp.module}.{imp.name}")
        if declared:
            comp, _, export = declared.partition(":")
            target = self.by_name.get(comp)
            if target is None or exported_func(target, export) is None:
                raise FuseError(f"links: `{part.name}:{imp.module}.{imp.name}` -> `{declared}`: no component `{comp}` "
                                f"exporting function `{export}`")
            return target, exported_func(target, export), export, None
        if part.world is not None and (imp.module, imp.name) in part.world.imports:
            return self._wit_target(part, imp)
        target = self.by_name.get(imp.module)
        if target is not None and target is not part and exported_func(target, imp.name) is not None:
            return target, exported_func(target, imp.name), imp.name, None
        qualified = f"{imp.module}#{imp.name}"  # the component-model core naming of interface functions
        for other in self.parts:
            if other is not part and exported_func(other, qualified) is not None:
                return other, exported_func(other, qualified), qualified, None
        return None

    def resolve(self, i: int, func_index: int, seen: frozenset = frozenset()) -> tuple:
        """("def", part, defined index), ("ext", module, field) or
        ("adapt", seam index) for a function."""
        part = self.parts[i]
        imported = part.module.imported(FUNC)
        if func_index >= len(imported):
            return ("def", i, func_index - len(imported))
        key = (i, func_index)
        if key in self.resolved:
            return self.resolved[key]
        if key in seen:
            raise FuseError(f"imports form a loop through component {part.label} `{imported[func_index].name}`")
        imp = imported[func_index]
        builtin = self._resource_builtin(part, imp) if part.world is not None else None
        if builtin is not None:
            self.resolved[key] = builtin
            return builtin
        target = self._target(i, imp)
        if target is None:
            result = ("ext", imp.module, imp.name)
        else:
            t_part, t_index, t_name, sig = target
            j = self.parts.index(t_part)
            post_return = exported_func(t_part, f"cabi_post_{t_name}") is not None
            if sig is not None and (post_return or not abi.is_direct(sig)):
                if abi.nested_borrows(sig):
                    raise FuseError(f"component {part.label} imports `{interface_label(imp.module, imp.name)}`, "
                                    f"which passes borrowed handles inside other values ({sig.text()}); the "
                                    "builtin fuse adapts borrows passed as parameters: pass them one by one")
                borrows = tuple((t.items, self.builtin("rep", t.items)) for _, t in sig.params
                                if t.kind == "borrow" and self.interfaces.get(t.items[1]) is t_part)
                self.seams.append(Seam(i, j, t_index, t_name, sig, imp.module, imp.name, borrows))
                result = ("adapt", len(self.seams) - 1)
            else:
                want, have = part.module.types[imp.desc], t_part.module.func_type(t_index)
                if want != have:
                    raise FuseError(f"component {part.label} imports `{imp.module}.{imp.name}` as {signature_text(want)} but "
                                    f"{t_part.label} exports `{t_name}` as {signature_text(have)}")
                result = self.resolve(j, t_index, seen | {key})
            self.link_log.append({"component": part.name, "import": f"{imp.module}.{imp.name}",
                                  "target": t_part.name, "export": t_name,
                                  "seam": "direct" if result[0] != "adapt" else "adapter"})
        self.resolved[key] = result
        return result


def signature_text(t: FuncType) -> str:
    return f"({', '.join(t.params)}) -> ({', '.join(t.results)})"



def build_seam_code(parts: list[Part], resolver: Resolver, options: FuseOptions, out: Module, intern, names: Names,
                    provenance: dict, builtin_base: int, tables: int) -> tuple[list[dict], int]:
    """Append, from fused index builtin_base - len(seams) on: one adapter per
    seam, the resource handle functions, the shared UTF-8 validator and one
    alloc-and-copy function per direction. Returns (seam report, wasm bytes)."""
    seams = resolver.seams
    strings = any(abi.has_strings(t) for s in seams for t in [s.sig.result, *(t for _, t in s.sig.params)])
    utf8 = builtin_base + len(resolver.builtins) if strings else None
    directions = copy_directions(parts, seams)
    copy_base = builtin_base + len(resolver.builtins) + (1 if strings else 0)
    copiers = {(parts[a].label, parts[b].label): copy_base + k for k, (a, b) in enumerate(directions)}
    report = build_adapters(parts, seams, options, out, intern, names, builtin_base, utf8, copiers)
    build_handle_functions(parts, resolver, options, out, intern, names, provenance, tables)
    shared = []
    if utf8 is not None:
        shared.append((utf8_validator(), "utf8 validation", "wasmelt:utf8", ""))
    for a, b in directions:
        shared.append((copy_function(side_of(parts[a], options), side_of(parts[b], options)),
                       f"adapter copy {parts[a].name}->{parts[b].name}",
                       f"wasmelt:copy {parts[a].name}->{parts[b].name}", parts[b].label))
    total = sum(row["adapter_bytes"] for row in report)
    for (ftype, func), component, name, label in shared:
        func.type_index = intern(ftype)
        index = len(out.imports) + len(out.functions)
        out.functions.append(func)
        names.functions[index] = f"{component}:{name}"
        provenance[str(index)] = {"component": component, "label": label, "name": name}
        total += len(encode_expr(func.body))
    for seam, row in zip(seams, report):
        provenance[str(row["index"])] = {"component": adapter_component(parts[seam.caller].name, seam),
                                         "label": parts[seam.caller].label, "name": row["function"],
                                         "adapter": True}
    return report, total


def side_of(part: Part, options: FuseOptions) -> Side:
    rebase = options.memory == "shared" and options.address_rebase
    realloc = exported_func(part, "cabi_realloc")
    return Side(part.label, part.base if rebase and not part.relocatable else 0,
                part.memory_map[0] if part.memory_map else 0,
                None if realloc is None else part.func_map[realloc], part.region, part.shared_stack)


def copy_directions(parts: list[Part], seams: list[Seam]) -> list[tuple[int, int]]:
    """(from part, to part) for every direction some seam copies memory in."""
    found = []
    for seam in seams:
        args = abi.params_tuple(seam.sig)
        if abi.has_pointers(args) or len(abi.flat_params(seam.sig)) > abi.MAX_FLAT_PARAMS:
            found.append((seam.caller, seam.callee))
        if abi.has_pointers(seam.sig.result):
            found.append((seam.callee, seam.caller))
    return sorted(set(found))


def build_handle_functions(parts: list[Part], resolver: Resolver, options: FuseOptions, out: Module, intern,
                            names: Names, provenance: dict, tables: int) -> None:
    """The resource.new/rep/drop the components import, over one handle table
    per resource type placed after the components' memory."""
    resources = resolver.resources()
    for kind, resource in resolver.builtins:
        owner = resolver.interfaces[resource[1]]
        dtor = exported_func(owner, f"{resource[1]}#[dtor]{resource[0]}")
        table = tables + 4 * options.handles * resources.index(resource)
        ftype, func = handle_functions(table, options.handles, None if dtor is None else owner.func_map[dtor])[kind]
        func.type_index = intern(ftype)
        index = len(out.imports) + len(out.functions)
        out.functions.append(func)
        label = f"{resource[1].partition('@')[0]}#[resource-{kind}]{resource[0]}"
        names.functions[index] = f"handles {resource[0]}:{label}"
        provenance[str(index)] = {"component": f"handles {resource[0]}", "label": owner.label, "name": label}


def build_adapters(parts: list[Part], seams: list[Seam], options: FuseOptions, out: Module, intern,
                    names: Names, builtin_base: int, utf8: int | None, copiers: dict) -> list[dict]:
    """One adapter function per seam that passes data through memory, appended
    after the components' functions (in seam order); returns the seam report."""
    report = []
    for seam in seams:
        caller, callee = parts[seam.caller], parts[seam.callee]
        where = f"component {caller.label} importing `{interface_label(seam.interface, seam.function)}`"
        if options.memory != "shared":
            raise FuseError(f"{where}: {seam.sig.text()} passes data between the components' memories; the "
                            "builtin fuse adapts it in one shared memory: use memory = \"shared\"")
        for p in (caller, callee):
            if not p.module.memories:
                raise FuseError(f"{where}: {p.label} has no memory, but {seam.sig.text()} passes data through "
                                "memory; give it a memory and a cabi_realloc")
        post = exported_func(callee, f"cabi_post_{seam.export_name}")
        builder = SeamAdapter(seam.sig, side_of(caller, options), side_of(callee, options),
                              callee.func_map[seam.export_index], None if post is None else callee.func_map[post],
                              where, {resource: builtin_base + b for resource, b in seam.borrows}, utf8, copiers)
        try:
            func = builder.build()
        except AdapterError as e:
            raise FuseError(str(e)) from None
        func.type_index = intern(builder.type)
        want = caller.module.types[caller.module.imported(FUNC)[import_position(caller, seam)].desc]
        if want != builder.type:
            raise FuseError(f"{where}: its core import is {signature_text(want)}, but the canonical ABI lowers "
                            f"{seam.sig.text()} to {signature_text(builder.type)}; rebuild it from its WIT")
        index = len(out.imports) + len(out.functions)
        out.functions.append(func)
        label = interface_label(seam.interface, seam.function)
        names.functions[index] = f"{adapter_component(caller.name, seam)}:{label}"
        size = len(encode_expr(func.body))
        report.append({"caller": caller.name, "callee": callee.name, "function": label, "wit": seam.sig.text(),
                       "kind": "adapter", "adapter_bytes": size, "index": index})
    return report


def adapter_component(caller: str, seam: Seam) -> str:
    """The name reports give a seam's adapter (one row per seam; no colon, so
    `component:function` names still split)."""
    interface = seam.interface.partition("/")[2].partition("@")[0] or seam.interface
    return f"adapter {caller}->{interface}#{seam.function}"


def import_position(part: Part, seam: Seam) -> int:
    for k, imp in enumerate(part.module.imported(FUNC)):
        if (imp.module, imp.name) == (seam.interface, seam.function):
            return k
    raise AssertionError(seam)


def external_owner(resolver: Resolver, parts: list[Part], i: int, k: int) -> tuple[Part, int]:
    """The (part, import index) at the end of a chain that ends at the host."""
    part = parts[i]
    imp = part.module.imported(FUNC)[k]
    target = resolver._target(i, imp)
    if target is None:
        return part, k
    t_part, t_index = target[0], target[1]
    return external_owner(resolver, parts, parts.index(t_part), t_index)
