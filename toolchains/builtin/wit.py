"""WIT types and a component's world, read from `wasm-tools component wit
--json`: every imported and exported function by interface and name."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field

SCALARS = ("bool", "s8", "u8", "s16", "u16", "s32", "u32", "s64", "u64", "f32", "f64", "char")
ROOT = "$root"  # the core import module of functions a world imports directly


@dataclass(frozen=True)
class Type:
    """kind: a scalar name, "string", "list", "record", "tuple", "variant",
    "enum", "flags", "option", "result", "own", "borrow".
    items: list/option (elem,); record/variant ((name, Type | None), ...);
    tuple (Type, ...); enum/flags (name, ...); result (ok, err); own/borrow (resource,)."""

    kind: str
    items: tuple = ()
    name: str | None = field(default=None, compare=False)  # `iface_type` of a named WIT type


@dataclass(frozen=True)
class FuncSig:
    params: tuple[tuple[str, Type], ...]
    result: Type | None

    def text(self) -> str:
        params = ", ".join(f"{n}: {render(t)}" for n, t in self.params)
        return f"func({params})" + (f" -> {render(self.result)}" if self.result else "")


@dataclass(frozen=True)
class World:
    imports: dict  # (interface or ROOT, function) -> FuncSig
    exports: dict
    # (interface, resource) -> "import" | "export": the resources of its interfaces
    resources: dict = field(default_factory=dict)


class WitError(Exception):
    pass


def render(t: Type | None) -> str:
    if t is None:
        return "_"
    k, items = t.kind, t.items
    if k in SCALARS or k == "string":
        return k
    if k in ("list", "option"):
        return f"{k}<{render(items[0])}>"
    if k == "tuple":
        return f"tuple<{', '.join(render(i) for i in items)}>"
    if k == "result":
        return f"result<{render(items[0])}, {render(items[1])}>"
    if k == "record":
        return "record { " + ", ".join(f"{n}: {render(v)}" for n, v in items) + " }"
    if k == "variant":
        return "variant { " + ", ".join(n + (f"({render(v)})" if v else "") for n, v in items) + " }"
    if k in ("enum", "flags"):
        return f"{k} {{ {', '.join(items)} }}"
    return f"{k}<{items[0]}>"


def _interface_name(doc: dict, iface: dict) -> str:
    package = doc["packages"][iface["package"]]["name"]
    base, _, version = package.partition("@")
    return f"{base}/{iface['name']}" + (f"@{version}" if version else "")


class _Reader:
    def __init__(self, doc: dict):
        self.doc = doc
        self.cache: dict[int, Type] = {}

    def type(self, ref) -> Type | None:
        if ref is None:
            return None
        if isinstance(ref, str):
            if ref not in SCALARS and ref != "string":
                raise WitError(f"unknown WIT type `{ref}`")
            return Type(ref)
        if ref not in self.cache:
            entry = self.doc["types"][ref]
            t = self._define(entry)
            owner = (entry.get("owner") or {}).get("interface")
            if entry.get("name") and t.kind not in SCALARS and t.kind != "string":
                scope = self.doc["interfaces"][owner]["name"] if owner is not None else "world"
                t = Type(t.kind, t.items, f"{scope}_{entry['name']}")
            self.cache[ref] = t
        return self.cache[ref]

    def _define(self, entry: dict) -> Type:
        kind = entry["kind"]
        if kind == "resource":
            return Type("resource", (entry.get("name") or "?",))
        (k, v), = kind.items()
        if k == "type":
            return self.type(v)
        if k in ("list", "option"):
            return Type(k, (self.type(v),))
        if k == "tuple":
            return Type("tuple", tuple(self.type(t) for t in v["types"]))
        if k == "record":
            return Type("record", tuple((f["name"], self.type(f["type"])) for f in v["fields"]))
        if k == "variant":
            return Type("variant", tuple((c["name"], self.type(c.get("type"))) for c in v["cases"]))
        if k == "enum":
            return Type("enum", tuple(c["name"] for c in v["cases"]))
        if k == "flags":
            return Type("flags", tuple(f["name"] for f in v["flags"]))
        if k == "result":
            return Type("result", (self.type(v.get("ok")), self.type(v.get("err"))))
        if k == "handle":
            (how, ref), = v.items()
            resource = self.doc["types"][ref]
            owner = (resource.get("owner") or {}).get("interface")
            scope = _interface_name(self.doc, self.doc["interfaces"][owner]) if owner is not None else ROOT
            return Type(how, (resource.get("name") or "?", scope))
        raise WitError(f"WIT type kind `{k}` is not supported")

    def func(self, f: dict) -> FuncSig:
        return FuncSig(tuple((p["name"], self.type(p["type"])) for p in f["params"]), self.type(f.get("result")))


def world_from_json(doc: dict, name: str | None = None) -> World:
    """A world by name, else the component's own (wit-component's `root`)."""
    worlds = doc["worlds"]
    if name is not None:
        found = [w for w in worlds if w["name"] == name]
        if not found:
            raise WitError(f"no world `{name}` in the WIT; worlds: {', '.join(sorted(w['name'] for w in worlds))}")
        world = found[-1]
    else:
        world = next((w for w in worlds if doc["packages"][w["package"]]["name"] == "root:component"), worlds[-1])
    reader = _Reader(doc)
    sides = []
    resources = {}
    for side in ("imports", "exports"):
        funcs = {}
        for key, item in world[side].items():
            if "interface" in item:
                iface = doc["interfaces"][item["interface"]["id"]]
                name = _interface_name(doc, iface)
                for tname, tid in iface["types"].items():
                    if doc["types"][tid]["kind"] == "resource":
                        resources[(name, tname)] = side[:-1]
                for fname, f in iface["functions"].items():
                    funcs[(name, fname)] = reader.func(f)
            elif "function" in item:
                funcs[(ROOT, item["function"]["name"])] = reader.func(item["function"])
        sides.append(funcs)
    return World(sides[0], sides[1], resources)


def read_world(wasm_tools: str, path: str, name: str | None = None) -> World:
    """The world of a component (.wasm) or, by name, of a WIT file or package directory."""
    proc = subprocess.run([wasm_tools, "component", "wit", "--json", path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise WitError(f"cannot read the WIT of {path}: {proc.stderr.strip()}")
    return world_from_json(json.loads(proc.stdout), name)


def core_export_name(interface: str, function: str) -> str:
    """The core export a component lifts an interface function from."""
    return function if interface == ROOT else f"{interface}#{function}"


def interface_label(interface: str, function: str) -> str:
    """How reports name an interface function: `kernel:os/log#write`."""
    return function if interface == ROOT else f"{interface.partition('@')[0]}#{function}"
