"""Test helpers for component seams: build components the real way (WAT core
module + WIT, `component embed` + `component new`), run a composition in
wasmtime's component API, and run a fused core with values put in and read
out of its memory by an independent canonical-ABI layout written here."""

from __future__ import annotations

import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import wasmtime
import wasmtime.component as wc

from wasm_harness import WASM_TOOLS
from wasmelt.toolchains.builtin.wit import Type, read_world


def wasm_tools(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([WASM_TOOLS, *args], capture_output=True, cwd=cwd)

# -- an independent canonical layout (values: ints, floats, str, list, bytes,
#    tuples for records/tuples, (case, payload) for variant-likes, sets for flags)


def _cases(t: Type):
    return {"variant": lambda: [c for _, c in t.items], "option": lambda: [None, t.items[0]],
            "result": lambda: list(t.items), "enum": lambda: [None] * len(t.items)}[t.kind]()


def _members(t: Type):
    return [f for _, f in t.items] if t.kind == "record" else list(t.items)


SCALAR = {"bool": "<B", "u8": "<B", "s8": "<b", "u16": "<H", "s16": "<h", "u32": "<I", "s32": "<i", "char": "<I",
          "u64": "<Q", "s64": "<q", "f32": "<f", "f64": "<d"}
FLAT = {"<B": "i32", "<b": "i32", "<H": "i32", "<h": "i32", "<I": "i32", "<i": "i32", "<Q": "i64", "<q": "i64",
        "<f": "f32", "<d": "f64"}


def _disc(n):
    return 1 if n <= 256 else 2


def align(t: Type) -> int:
    if t.kind in SCALAR:
        return struct.calcsize(SCALAR[t.kind])
    if t.kind in ("string", "list"):
        return 4
    if t.kind in ("record", "tuple"):
        return max([1] + [align(m) for m in _members(t)])
    if t.kind == "flags":
        return 1 if len(t.items) <= 8 else 2 if len(t.items) <= 16 else 4
    return max([_disc(len(_cases(t)))] + [align(c) for c in _cases(t) if c])


def _up(n, a):
    return -(-n // a) * a


def size(t: Type) -> int:
    if t.kind in SCALAR or t.kind == "flags":
        return align(t)
    if t.kind in ("string", "list"):
        return 8
    if t.kind in ("record", "tuple"):
        at = 0
        for m in _members(t):
            at = _up(at, align(m)) + size(m)
        return _up(at, align(t))
    payload = _up(_disc(len(_cases(t))), max([1] + [align(c) for c in _cases(t) if c]))
    return _up(payload + max([0] + [size(c) for c in _cases(t) if c]), align(t))


def flat(t: Type) -> list[str]:
    if t.kind in SCALAR:
        return [FLAT[SCALAR[t.kind]]]
    if t.kind in ("string", "list"):
        return ["i32", "i32"]
    if t.kind in ("flags", "enum"):
        return ["i32"]
    if t.kind in ("record", "tuple"):
        return [v for m in _members(t) for v in flat(m)]
    joined: list[str] = []
    for c in _cases(t):
        for i, v in enumerate(flat(c) if c else []):
            if i == len(joined):
                joined.append(v)
            elif joined[i] != v:
                joined[i] = "i32" if {joined[i], v} == {"i32", "f32"} else "i64"
    return ["i32"] + joined


class Memory:
    """A view of one component's region inside a wasmtime memory."""

    def __init__(self, store, memory: wasmtime.Memory, base: int, alloc, bounds: tuple[int, int] | None = None):
        self.store, self.memory, self.base, self.alloc, self.bounds = store, memory, base, alloc, bounds

    def read(self, at: int, n: int) -> bytes:
        if self.bounds and n and not (self.bounds[0] <= at and at + n <= self.bounds[1]):
            raise AssertionError(f"pointer {at}+{n} outside the component's region {self.bounds}")
        return bytes(self.memory.read(self.store, self.base + at, self.base + at + n))

    def write(self, at: int, data: bytes) -> None:
        self.memory.write(self.store, data, self.base + at)


def store_value(mem: Memory, t: Type, v, at: int) -> None:
    k = t.kind
    if k in SCALAR:
        mem.write(at, struct.pack(SCALAR[k], ord(v) if k == "char" else int(v) if k == "bool" else v))
    elif k == "flags":
        bits = sum(1 << i for i, n in enumerate(t.items) if n in v)
        mem.write(at, bits.to_bytes(size(t), "little"))
    elif k in ("string", "list"):
        ptr, n = lower_buffer(mem, t, v)
        mem.write(at, struct.pack("<II", ptr, n))
    elif k in ("record", "tuple"):
        for m, x in zip(_members(t), v):
            at = _up(at, align(m))
            store_value(mem, m, x, at)
            at += size(m)
    else:
        case, payload = v
        mem.write(at, case.to_bytes(_disc(len(_cases(t))), "little"))
        c = _cases(t)[case]
        if c:
            store_value(mem, c, payload, at + _up(_disc(len(_cases(t))), max([1] + [align(x) for x in _cases(t) if x])))


def lower_buffer(mem: Memory, t: Type, v) -> tuple[int, int]:
    if t.kind == "string":
        data = v.encode()
        ptr = mem.alloc(1, len(data))
        mem.write(ptr, data)
        return ptr, len(data)
    elem = t.items[0]
    ptr = mem.alloc(align(elem), size(elem) * len(v))
    for i, x in enumerate(v):
        store_value(mem, elem, x, ptr + i * size(elem))
    return ptr, len(v)


def load_value(mem: Memory, t: Type, at: int):
    k = t.kind
    if k in SCALAR:
        (v,) = struct.unpack(SCALAR[k], mem.read(at, size(t)))
        return chr(v) if k == "char" else bool(v) if k == "bool" else v
    if k == "flags":
        bits = int.from_bytes(mem.read(at, size(t)), "little")
        return {n for i, n in enumerate(t.items) if bits >> i & 1}
    if k in ("string", "list"):
        ptr, n = struct.unpack("<II", mem.read(at, 8))
        return lift_buffer(mem, t, ptr, n)
    if k in ("record", "tuple"):
        out = []
        for m in _members(t):
            at = _up(at, align(m))
            out.append(load_value(mem, m, at))
            at += size(m)
        return tuple(out)
    case = int.from_bytes(mem.read(at, _disc(len(_cases(t)))), "little")
    c = _cases(t)[case]
    off = _up(_disc(len(_cases(t))), max([1] + [align(x) for x in _cases(t) if x]))
    return (case, load_value(mem, c, at + off) if c else None)


def lift_buffer(mem: Memory, t: Type, ptr: int, n: int):
    if t.kind == "string":
        return mem.read(ptr, n).decode()
    elem = t.items[0]
    return [load_value(mem, elem, ptr + i * size(elem)) for i in range(n)]


def lower_flat(mem: Memory, t: Type, v) -> list:
    """The flat core values of v (pointers into mem)."""
    k = t.kind
    if k in SCALAR:
        if k == "f32":
            return [struct.unpack("<f", struct.pack("<f", v))[0]]
        return [ord(v) if k == "char" else int(v) if k == "bool" else v]
    if k == "flags":
        return [sum(1 << i for i, n in enumerate(t.items) if n in v)]
    if k in ("string", "list"):
        return list(lower_buffer(mem, t, v))
    if k in ("record", "tuple"):
        return [x for m, y in zip(_members(t), v) for x in lower_flat(mem, m, y)]
    case, payload = v
    slots = flat(t)[1:]
    c = _cases(t)[case]
    values = lower_flat(mem, c, payload) if c else []
    have = flat(c) if c else []
    out = [case]
    for i, want in enumerate(slots):
        if i >= len(values):
            out.append(0.0 if want in ("f32", "f64") else 0)
        else:
            out.append(_coerce(values[i], have[i], want))
    return out


def _coerce(v, have, want):
    if have == want:
        return v
    if have == "f32":
        v = struct.unpack("<I", struct.pack("<f", v))[0]
    elif have == "f64":
        v = struct.unpack("<q", struct.pack("<d", v))[0]
    elif have == "i32" and want == "i64":
        v = v & 0xFFFFFFFF
    return v


# -- generating the components ----------------------------------------------------


def component(tmp: Path, wit: str, world: str, wat: str, name: str) -> bytes:
    """A component made the real way: the core module from WAT, the WIT world
    embedded, then `wasm-tools component new`."""
    d = tmp / name
    d.mkdir(parents=True, exist_ok=True)
    (d / "world.wit").write_text(wit)
    (d / "core.wat").write_text(wat)
    for args in (["parse", "core.wat", "-o", "core.wasm"],
                 ["component", "embed", "world.wit", "core.wasm", "--world", world, "-o", "embedded.wasm"],
                 ["component", "new", "embedded.wasm", "-o", "component.wasm"]):
        proc = wasm_tools(*args, cwd=d)
        assert proc.returncode == 0, proc.stderr.decode() + wat
    return (d / "component.wasm").read_bytes()


REALLOC = """
  (global $bump (mut i32) (i32.const {start}))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
    (local $r i32)
    global.get $bump local.get 2 i32.add i32.const 1 i32.sub
    i32.const 0 local.get 2 i32.sub i32.and
    local.tee $r local.get 3 i32.add global.set $bump
    local.get $r)
"""


def _core_sig(params: list[str], results: list[str], lower: bool) -> tuple[list[str], list[str]]:
    if len(params) > 16:
        params = ["i32"]
    if len(results) > 1:
        return (params + ["i32"], []) if lower else (params, ["i32"])
    return params, results


def _functype(params, results) -> str:
    return (f"(param {' '.join(params)})" if params else "") + (f" (result {' '.join(results)})" if results else "")


def _forward(params: list[str], results_flat: list[str], callee: str, ret_area: int) -> str:
    """A body that passes its params on to callee and returns what a lifted
    export must: the flat value, or the pointer to the result."""
    body = " ".join(f"local.get {i}" for i in range(len(params)))
    if len(results_flat) > 1:
        return f"{body} i32.const {ret_area} call {callee} i32.const {ret_area}"
    return f"{body} call {callee}"


@dataclass
class Seam:
    """Two components around one WIT type T: app's `run(x: T) -> T` calls
    kernel's `id(x: T) -> T`, which hands x to the host (`take`) and returns
    what the host gives back (`give`). Every body just forwards flat values,
    so what crosses is exactly what the canonical ABI puts there."""

    wit_type: str
    typedefs: str = ""
    app: bytes = b""
    kernel: bytes = b""
    t: Type | None = None
    pages: int = 4

    def wit(self) -> str:
        T = self.wit_type
        return (f"package test:seam@0.1.0;\ninterface types {{\n{self.typedefs}\n}}\n"
                f"interface k {{\n  use types.{{{self._uses()}}};\n  id: func(x: {T}) -> {T};\n}}\n"
                f"interface host {{\n  use types.{{{self._uses()}}};\n  take: func(x: {T});\n  give: func() -> {T};\n}}\n"
                f"world kernel {{ import host; export k; }}\n"
                f"world app {{ use types.{{{self._uses()}}}; import k; export run: func(x: {T}) -> {T}; }}\n")

    def _uses(self) -> str:
        names = [line.split()[1] for line in self.typedefs.splitlines() if line.split()
                 and line.split()[0] in ("record", "variant", "enum", "flags")]
        return ", ".join(names) if names else "dummy"

    def build(self, tmp: Path) -> "Seam":
        if not self.typedefs.strip():
            self.typedefs = "  type dummy = u8;"
        wit = self.wit()
        # Read T's structure back from WIT itself.
        (tmp / "wit").mkdir(parents=True, exist_ok=True)
        (tmp / "wit" / "w.wit").write_text(wit)
        world = read_world(WASM_TOOLS, str(tmp / "wit"))
        sig = next(v for (i, f), v in {**world.imports, **world.exports}.items() if f == "id")
        self.t = sig.params[0][1]
        fp, fr = flat(self.t), flat(self.t)
        mem = f'(memory (export "memory") {self.pages} {self.pages})'
        lower = _core_sig(fp, fr, True)
        lift = _core_sig(fp, fr, False)
        take = _core_sig(fp, [], True)
        give = _core_sig([], fr, True)
        app = f"""(module
  (import "test:seam/k@0.1.0" "id" (func $id {_functype(*lower)}))
  {mem}
  {REALLOC.format(start=1024)}
  (func (export "run") {_functype(*lift)} {_forward(lift[0], fr, "$id", 64)}))"""
        kernel = f"""(module
  (import "test:seam/host@0.1.0" "take" (func $take {_functype(*take)}))
  (import "test:seam/host@0.1.0" "give" (func $give {_functype(*give)}))
  {mem}
  {REALLOC.format(start=2048)}
  (func (export "test:seam/k@0.1.0#id") {_functype(*lift)}
    {" ".join(f"local.get {i}" for i in range(len(lift[0])))} call $take
    {"i32.const 128 call $give i32.const 128" if len(fr) > 1 else "call $give"})
  (func (export "cabi_post_test:seam/k@0.1.0#id") (param {" ".join(lift[1]) or "i32"})
    i32.const 32 i32.const 32 i32.load i32.const 1 i32.add i32.store))"""
        if not lift[1]:
            kernel = kernel.replace('(export "cabi_post_test:seam/k@0.1.0#id") (param i32)',
                                    '(export "cabi_post_test:seam/k@0.1.0#id")')
        self.app = component(tmp, wit, "app", app, "app")
        self.kernel = component(tmp, wit, "kernel", kernel, "kernel")
        return self


# -- running the reference: the composition in wasmtime's component API ---------------


def to_wt(wt, t: Type, v):
    k = t.kind
    if k in ("record",):
        r = wc.Record()
        for (name, ft), (_, fwt), x in zip(t.items, wt.fields, v):
            setattr(r, name, to_wt(fwt, ft, x))
        return r
    if k == "tuple":
        return tuple(to_wt(ewt, et, x) for ewt, et, x in zip(wt.elements, t.items, v))
    if k == "list":
        if t.items[0].kind == "u8":
            return bytes(v)
        return [to_wt(wt.element, t.items[0], x) for x in v]
    if k == "enum":
        return t.items[v[0]]
    if k in ("variant", "option", "result"):
        case, payload = v
        name, cwt = wt._cases()[case]
        value = None if cwt is None else to_wt(cwt, _cases(t)[case], payload)
        return wc.Variant(name, value) if wt._tagged() else value
    return v


def from_wt(wt, t: Type, v):
    k = t.kind
    if k == "record":
        return tuple(from_wt(fwt, ft, getattr(v, name)) for (name, ft), (_, fwt) in zip(t.items, wt.fields))
    if k == "tuple":
        return tuple(from_wt(ewt, et, x) for ewt, et, x in zip(wt.elements, t.items, v))
    if k == "list":
        return [from_wt(wt.element, t.items[0], x) for x in v]
    if k == "enum":
        return (list(t.items).index(v), None)
    if k in ("variant", "option", "result"):
        cases = wt._cases()
        if wt._tagged():
            case = [n for n, _ in cases].index(v.tag)
            payload = v.payload
        else:
            case = None
            for i, (_, cwt) in enumerate(cases):
                classes: set = set()
                if cwt is None:
                    if v is None:
                        case = i
                        break
                    continue
                cwt.add_classes(classes)
                if isinstance(v, tuple(classes)):
                    case = i
                    break
            payload = v
        cwt = cases[case][1]
        return (case, None if cwt is None else from_wt(cwt, _cases(t)[case], payload))
    if k == "f32":
        return struct.unpack("<f", struct.pack("<f", v))[0]
    return v


@dataclass
class Outcome:
    result: object
    host_calls: list = field(default_factory=list)
    post_returns: int | None = field(default=None, compare=False)  # the kernel's, counted in the fused run


def compose(tmp: Path, seam: Seam) -> bytes:
    (tmp / "app.wasm").write_bytes(seam.app)
    (tmp / "kernel.wasm").write_bytes(seam.kernel)
    proc = wasm_tools("compose", "app.wasm", "-d", "kernel.wasm", "-o", "composed.wasm", cwd=tmp)
    assert proc.returncode == 0, proc.stderr.decode()
    return (tmp / "composed.wasm").read_bytes()


ENGINE = wasmtime.Engine()


def run_composed(composed: bytes, seam: Seam, x, give) -> Outcome:
    """The reference: the composition, run in wasmtime's component API."""
    store = wasmtime.Store(ENGINE)
    component = wc.Component(ENGINE, composed)
    calls = []
    linker = wc.Linker(ENGINE)
    wt_t = {}
    with linker.root() as root:
        with root.add_instance("test:seam/host@0.1.0") as host:
            def take(_store, value):
                calls.append(("take", from_wt(wt_t["t"], seam.t, value)))

            def give_(_store):
                calls.append(("give",))
                return to_wt(wt_t["t"], seam.t, give)

            host.add_func("take", take)
            host.add_func("give", give_)
    instance = linker.instantiate(store, component)
    run = instance.get_func(store, "run")
    wt_t["t"] = run.type(store).params[0][1]
    try:
        result = run(store, to_wt(wt_t["t"], seam.t, x))
        run.post_return(store)
        return Outcome(("ok", from_wt(wt_t["t"], seam.t, result)), calls)
    except wasmtime.Trap as trap:
        return Outcome(("trap", trap.trap_code), calls)


def run_fused(fused: bytes, report: dict, seam: Seam, x, give) -> Outcome:
    """The fused core in wasmtime's core API: x lowered into app's region
    with app's exported cabi_realloc, the result lifted from memory."""
    layout = {l["component"]: l for l in report["layout"]}
    shifted = {l["component"]: l["base"] if l["rebased_by"] == "memory accesses" else 0 for l in report["layout"]}
    store = wasmtime.Store(ENGINE)
    module = wasmtime.Module(ENGINE, fused)
    calls = []
    state: dict = {}
    t = seam.t
    fp = flat(t)

    def kernel_mem():
        k = layout["kernel"]
        bump = state.setdefault("kbump", 140000)

        def alloc(a, n):
            at = _up(state["kbump"], a)
            state["kbump"] = at + n
            return at

        del bump
        return Memory(store, state["memory"], shifted["kernel"], alloc, (0, k["size"]) if shifted["kernel"] else
                      (k["base"], k["base"] + k["size"]))

    def take(*args):
        mem = kernel_mem()
        if len(fp) > 16:
            value = load_value(mem, Type("tuple", (t,)), args[0])[0]
        else:
            value = _lift_flat(mem, t, list(args))
        calls.append(("take", value))

    def give_(*args):
        calls.append(("give",))
        mem = kernel_mem()
        if len(fp) > 1:
            store_value(mem, t, give, args[0])
            return None
        return lower_flat(mem, t, give)[0]

    imports = []
    for imp in module.imports:
        assert imp.module == "test:seam/host@0.1.0", imp.module
        imports.append(wasmtime.Func(store, imp.type, take if imp.name == "take" else give_))
    instance = wasmtime.Instance(store, module, imports)
    exports = instance.exports(store)
    state["memory"] = exports["memory"]
    app_base = shifted["app"]
    realloc = exports["cabi_realloc"] if "cabi_realloc" in exports else None
    app_mem = Memory(store, state["memory"], app_base,
                     lambda a, n: realloc(store, 0, 0, a, n) if realloc else None)
    try:
        if len(fp) > 16:
            at = app_mem.alloc(align(Type("tuple", (t,))), size(t))
            store_value(app_mem, t, x, at)
            args = [at]
        else:
            args = lower_flat(app_mem, t, x)
        out = exports["run"](store, *args)
        if len(fp) > 1:
            result = load_value(app_mem, t, out)
        else:
            result = _lift_flat(app_mem, t, [out])
        if "cabi_post_run" in exports:
            exports["cabi_post_run"](store, out)
        posts = struct.unpack("<I", Memory(store, state["memory"], layout["kernel"]["base"], None).read(32, 4))[0]
        return Outcome(("ok", result), calls, posts)
    except wasmtime.Trap as trap:
        return Outcome(("trap", trap.trap_code), calls)


def _lift_flat(mem: Memory, t: Type, values: list):
    k = t.kind
    if k in SCALAR:
        v = values.pop(0)
        if k == "char":
            return chr(v)
        if k == "bool":
            return bool(v)
        if k in ("f32", "f64"):
            return v
        bits = struct.calcsize(SCALAR[k]) * 8
        v &= (1 << bits) - 1
        return v - (1 << bits) if SCALAR[k].islower() and v >> (bits - 1) else v
    if k == "flags":
        bits = values.pop(0)
        return {n for i, n in enumerate(t.items) if bits >> i & 1}
    if k in ("string", "list"):
        ptr, n = values.pop(0) & 0xFFFFFFFF, values.pop(0)
        return lift_buffer(mem, t, ptr, n)
    if k in ("record", "tuple"):
        return tuple(_lift_flat(mem, m, values) for m in _members(t))
    case = values.pop(0)
    slots = flat(t)[1:]
    mine, rest = values[:len(slots)], values[len(slots):]
    values[:] = rest
    c = _cases(t)[case]
    if c is None:
        return (case, None)
    have = flat(c)
    raw = [_uncoerce(v, s, h) for v, s, h in zip(mine, slots, have)]
    return (case, _lift_flat(mem, c, raw))


def _uncoerce(v, slot, want):
    if slot == want:
        return v
    if slot == "i64" and want == "i32":
        return v & 0xFFFFFFFF
    if want == "f32":
        return struct.unpack("<f", struct.pack("<I", v & 0xFFFFFFFF))[0]
    if want == "f64":
        return struct.unpack("<d", struct.pack("<q", v))[0]
    return v


# -- a resource seam: the kernel's tasks, used by an app ----------------------------------

TASKS_WIT = """package kernel:os@0.1.0;
interface tasks {
  resource task {
    constructor(prio: u32);
    prio: func() -> u32;
    bump: func(by: u32) -> u32;
  }
  live: func() -> u32;
  spawn: func(prios: list<u32>) -> list<task>;
}
world kernel { export tasks; }
world app {
  import tasks;
  export run: func(n: u32) -> u32;
  export stale: func() -> u32;
  export crowd: func(n: u32) -> u32;
}
"""
TASKS_KERNEL = """(module
  (import "[export]kernel:os/tasks@0.1.0" "[resource-new]task" (func $new (param i32) (result i32)))
  (memory (export "memory") 1) {realloc}
  (global $next (mut i32) (i32.const 256))
  (global $live (mut i32) (i32.const 0))
  (func (export "kernel:os/tasks@0.1.0#[constructor]task") (param i32) (result i32) (local $rep i32)
    global.get $next local.tee $rep local.get 0 i32.store
    global.get $next i32.const 16 i32.add global.set $next
    global.get $live i32.const 1 i32.add global.set $live
    local.get $rep call $new)
  (func (export "kernel:os/tasks@0.1.0#[method]task.prio") (param i32) (result i32) local.get 0 i32.load)
  (func (export "kernel:os/tasks@0.1.0#[method]task.bump") (param i32 i32) (result i32)
    local.get 0 local.get 0 i32.load local.get 1 i32.add i32.store local.get 0 i32.load)
  (func (export "kernel:os/tasks@0.1.0#[dtor]task") (param i32)
    global.get $live i32.const 1 i32.sub global.set $live)
  (func (export "kernel:os/tasks@0.1.0#live") (result i32) global.get $live)
  (func $ctor (param i32) (result i32) (local $rep i32)
    global.get $next local.tee $rep local.get 0 i32.store
    global.get $next i32.const 16 i32.add global.set $next
    global.get $live i32.const 1 i32.add global.set $live
    local.get $rep call $new)
  (func (export "kernel:os/tasks@0.1.0#spawn") (param $p i32) (param $n i32) (result i32) (local $i i32)
    ;; the list of handles at 64 (ptr 72, len), each made from prios[i]
    block loop
      local.get $i local.get $n i32.ge_u br_if 1
      local.get $i i32.const 2 i32.shl i32.const 72 i32.add
      local.get $p local.get $i i32.const 2 i32.shl i32.add i32.load call $ctor i32.store
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    i32.const 64 i32.const 72 i32.store i32.const 68 local.get $n i32.store i32.const 64))""".format(
    realloc=REALLOC.format(start=1024))
TASKS_APP = """(module
  (import "kernel:os/tasks@0.1.0" "[constructor]task" (func $new (param i32) (result i32)))
  (import "kernel:os/tasks@0.1.0" "[method]task.prio" (func $prio (param i32) (result i32)))
  (import "kernel:os/tasks@0.1.0" "[method]task.bump" (func $bump (param i32 i32) (result i32)))
  (import "kernel:os/tasks@0.1.0" "[resource-drop]task" (func $drop (param i32)))
  (import "kernel:os/tasks@0.1.0" "live" (func $live (result i32)))
  (import "kernel:os/tasks@0.1.0" "spawn" (func $spawn (param i32 i32 i32)))
  (memory (export "memory") 1) {realloc}
  (func (export "run") (param $n i32) (result i32) (local $a i32) (local $b i32) (local $r i32)
    local.get $n call $new local.set $a
    local.get $n i32.const 2 i32.mul call $new local.set $b
    local.get $a i32.const 5 call $bump drop
    local.get $a call $prio local.get $b call $prio i32.const 100 i32.mul i32.add local.set $r
    local.get $a call $drop
    local.get $r call $live i32.const 10000 i32.mul i32.add local.set $r
    local.get $b call $drop
    local.get $r call $live i32.const 1000000 i32.mul i32.add)
  (func (export "stale") (result i32) (local $a i32)
    i32.const 1 call $new local.tee $a call $drop local.get $a call $prio)
  (func (export "crowd") (param $n i32) (result i32) (local $i i32) (local $h i32) (local $sum i32)
    ;; prios 10, 11, ... at 300; spawn them; sum prio(h) * (i + 1); drop them all
    block loop
      local.get $i local.get $n i32.ge_u br_if 1
      local.get $i i32.const 2 i32.shl i32.const 300 i32.add local.get $i i32.const 10 i32.add i32.store
      local.get $i i32.const 1 i32.add local.set $i br 0
    end end
    i32.const 300 local.get $n i32.const 200 call $spawn
    i32.const 0 local.set $i
    block loop
      local.get $i local.get $n i32.ge_u br_if 1
      i32.const 200 i32.load local.get $i i32.const 2 i32.shl i32.add i32.load local.tee $h
      call $prio local.get $i i32.const 1 i32.add i32.mul local.get $sum i32.add local.set $sum
      local.get $h call $drop
      local.get $i i32.const 1 i32.add local.set $i br 0
    end end
    local.get $sum call $live i32.const 100000 i32.mul i32.add))""".format(realloc=REALLOC.format(start=2048))
