"""Real components through the builtin fuse: every canonical type crosses a
seam and agrees with `wasm-tools compose` run in wasmtime's component API;
scalar seams are direct calls; each bad seam is refused with its reason."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from component_harness import (REALLOC, TASKS_APP, TASKS_KERNEL, TASKS_WIT, Seam, component, compose,
                               run_composed, run_fused)
from wasm_harness import validate
from wasmelt.toolchains.builtin.fuse import FuseError, FuseOptions, fuse
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wit import Type

RECORD = "  record rec { a: u8, b: string, c: list<u16> }"
SHAPE = "  variant shape { none, circle(f32), name(string), big(u64), pair(tuple<u8, string>), many(list<rec>) }"
WIDE = ("  record wide { a: u32, b: u32, c: u32, d: u32, e: u32, f: u32, g: u32, h: u32, i: u32, "
        "s1: string, s2: string, s3: string, s4: string }")
SEAMS = {
    "string": ("string", ""),
    "bytes": ("list<u8>", ""),
    "strings": ("list<string>", ""),
    "record": ("rec", RECORD),
    "records": ("list<list<rec>>", RECORD),
    "variant": ("shape", RECORD + "\n" + SHAPE),
    "option": ("option<string>", ""),
    "result": ("result<string, u32>", ""),
    "result-err-string": ("result<u64, string>", ""),
    "tuple": ("tuple<u8, string, f64, char>", ""),
    "spilled": ("wide", WIDE),
    "enum-flags": ("tuple<color, perms, option<color>>", "  enum color { red, green, blue }\n"
                   "  flags perms { read, write, exec }"),
}


@pytest.fixture(scope="module")
def seams(tmp_path_factory):
    built = {}
    for key, (wit_type, typedefs) in SEAMS.items():
        tmp = tmp_path_factory.mktemp(key)
        seam = Seam(wit_type, typedefs).build(tmp)
        fused = fuse([("app", "//t:app", seam.app), ("kernel", "//t:kernel", seam.kernel)], FuseOptions())
        validate(fused.wasm)
        built[key] = (seam, compose(tmp, seam), fused)
    return built


def values(t: Type):
    """A hypothesis strategy for values of t in the harness's form."""
    k = t.kind
    ints = {"u8": (0, 255), "s8": (-128, 127), "u16": (0, 65535), "s16": (-32768, 32767), "u32": (0, 2**32 - 1),
            "s32": (-2**31, 2**31 - 1), "u64": (0, 2**64 - 1), "s64": (-2**63, 2**63 - 1)}
    if k in ints:
        return st.integers(*ints[k])
    if k == "bool":
        return st.booleans()
    if k == "char":
        return st.characters(exclude_categories=("Cs",))
    if k == "f32":
        return st.floats(width=32, allow_nan=False)
    if k == "f64":
        return st.floats(allow_nan=False)
    if k == "string":
        return st.text(max_size=40)
    if k == "list":
        return st.lists(values(t.items[0]), max_size=6)
    if k in ("record", "tuple"):
        members = [f for _, f in t.items] if k == "record" else list(t.items)
        return st.tuples(*(values(m) for m in members))
    if k == "flags":
        return st.sets(st.sampled_from(t.items))
    cases = {"variant": lambda: [c for _, c in t.items], "option": lambda: [None, t.items[0]],
             "result": lambda: list(t.items), "enum": lambda: [None] * len(t.items)}[k]()
    return st.one_of(*(st.tuples(st.just(i), st.none() if c is None else values(c)) for i, c in enumerate(cases)))


def _check(seams, key, x, give):
    seam, composed, fused = seams[key]
    reference = run_composed(composed, seam, x, give)
    assert reference.result == ("ok", give) and reference.host_calls == [("take", x), ("give",)]
    got = run_fused(fused.wasm, fused.report, seam, x, give)
    assert got == reference
    return got


@pytest.mark.parametrize("key", sorted(SEAMS))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                HealthCheck.data_too_large, HealthCheck.too_slow])
@given(data=st.data())
def test_every_canonical_type_crosses_a_seam_like_the_component_model(seams, key, data):
    t = seams[key][0].t
    x, give = data.draw(values(t)), data.draw(values(t))
    got = _check(seams, key, x, give)
    assert got.post_returns == 1  # the kernel's cabi_post_*, once per call


def test_edge_values(seams):
    _check(seams, "bytes", [], [])
    _check(seams, "bytes", list(range(256)) * 256, [7] * 65536)  # 64 KiB each way
    _check(seams, "string", "", "ünïcödé ✓ 𝄞 日本語")
    _check(seams, "records", [[(1, "ä", [1, 2]), (2, "", [])], []], [[], [(255, "𝄞" * 10, list(range(50)))]])
    for case, payload in enumerate([None, 1.5, "name", 2**64 - 1, (9, "pair"), [(1, "r", [3])]]):
        _check(seams, "variant", (case, payload), (case, payload))
    for x in [(0, None), (1, "some")]:
        _check(seams, "option", x, x)
    for x in [(0, "ok"), (1, 2**32 - 1)]:
        _check(seams, "result", x, x)


def test_adapters_are_small_and_only_where_data_moves(seams):
    seam, _, fused = seams["string"]
    [row] = fused.report["seams"]
    assert row["function"] == "test:seam/k#id" and row["kind"] == "adapter"
    assert 0 < row["adapter_bytes"] < 200
    names = [e.name for e in decode_module(fused.wasm).exports]
    assert "cabi_realloc" in names  # the host lowers run's string argument with it


# -- scalar seams ------------------------------------------------------------------

SCALAR_WIT = """package kernel:os@1.0.0;
interface sem { acquire: func(id: u32, ticks: s64) -> bool; release: func(id: u32); }
world kernel { export sem; }
world app { import sem; export run: func(n: u32) -> u32; }
"""
SCALAR_KERNEL = """(module (memory (export "memory") 1) {realloc}
  (global $count (mut i32) (i32.const 0))
  (func (export "kernel:os/sem@1.0.0#acquire") (param i32 i64) (result i32)
    global.get $count local.get 0 i32.add global.set $count local.get 1 i64.const 0 i64.gt_s)
  (func (export "kernel:os/sem@1.0.0#release") (param i32)
    global.get $count local.get 0 i32.sub global.set $count))""".format(realloc=REALLOC.format(start=1024))
SCALAR_APP = """(module
  (import "kernel:os/sem@1.0.0" "acquire" (func $acquire (param i32 i64) (result i32)))
  (import "kernel:os/sem@1.0.0" "release" (func $release (param i32)))
  (memory (export "memory") 1) {realloc}
  (func (export "run") (param i32) (result i32)
    local.get 0 call $release local.get 0 i64.const 5 call $acquire))""".format(realloc=REALLOC.format(start=1024))


def test_scalar_seam_is_a_direct_call_and_cabi_helpers_go(tmp_path):
    app = component(tmp_path, SCALAR_WIT, "app", SCALAR_APP, "app")
    kernel = component(tmp_path, SCALAR_WIT, "kernel", SCALAR_KERNEL, "kernel")
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    validate(result.wasm)
    assert result.report["adapter_bytes"] == 0 and result.report["seams"] == []
    module = decode_module(result.wasm)
    assert [e.name for e in module.exports] == ["run", "memory"]  # no cabi_realloc
    assert not module.imports
    assert {(l["import"], l["seam"]) for l in result.import_map["links"]} == {
        ("kernel:os/sem@1.0.0.acquire", "direct"), ("kernel:os/sem@1.0.0.release", "direct")}
    # Compare with the composition.
    (tmp_path / "a.wasm").write_bytes(app)
    (tmp_path / "k.wasm").write_bytes(kernel)
    import wasmtime
    import wasmtime.component as wc

    from component_harness import ENGINE, wasm_tools

    assert wasm_tools("compose", "a.wasm", "-d", "k.wasm", "-o", "c.wasm", cwd=tmp_path).returncode == 0
    store = wasmtime.Store(ENGINE)
    composed = wc.Linker(ENGINE).instantiate(store, wc.Component.from_file(ENGINE, str(tmp_path / "c.wasm")))
    run = composed.get_func(store, "run")
    core_store = wasmtime.Store(ENGINE)
    core = wasmtime.Instance(core_store, wasmtime.Module(ENGINE, result.wasm), [])
    for n in (0, 3, 2**32 - 1):
        want = run(store, n)
        run.post_return(store)
        assert core.exports(core_store)["run"](core_store, n) == want


def test_scalar_seam_with_a_post_return_keeps_it(tmp_path):
    kernel = SCALAR_KERNEL.replace("(func (export \"kernel:os/sem@1.0.0#release\")",
                                   "(func (export \"cabi_post_kernel:os/sem@1.0.0#acquire\") (param i32))\n"
                                   "  (func (export \"kernel:os/sem@1.0.0#release\")")
    app = component(tmp_path, SCALAR_WIT, "app", SCALAR_APP, "app")
    kernel = component(tmp_path, SCALAR_WIT, "kernel", kernel, "kernel")
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    validate(result.wasm)
    assert [s["function"] for s in result.report["seams"]] == ["kernel:os/sem#acquire"]


# -- refusals ------------------------------------------------------------------------


def _pair(tmp_path, kernel_wit, app_wit, kernel_wat, app_wat):
    return (component(tmp_path, kernel_wit, "kernel", kernel_wat, "kernel"),
            component(tmp_path, app_wit, "app", app_wat, "app"))


LOG_WIT = "package kernel:os@1.0.0;\ninterface log {{ write: func(msg: {t}) -> u32; }}\n" \
          "world kernel {{ export log; }}\nworld app {{ import log; export run: func() -> u32; }}\n"
LOG_KERNEL = """(module (memory (export "memory") 1) {realloc}
  (func (export "kernel:os/log@1.0.0#write") (param i32 i32) (result i32) local.get 1))"""
LOG_APP = """(module
  (import "kernel:os/log@1.0.0" "write" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "hello")
  (func (export "run") (result i32) i32.const 16 i32.const 5 call $w))"""


def test_mismatched_wit_types_show_both(tmp_path):
    kernel, app = _pair(tmp_path, LOG_WIT.format(t="list<u8>"), LOG_WIT.format(t="string"),
                        LOG_KERNEL.format(realloc=REALLOC.format(start=1024)), LOG_APP)
    with pytest.raises(FuseError, match=r"//t:app imports `kernel:os/log#write` as func\(msg: string\) -> u32 but "
                       r"//t:kernel exports it as func\(msg: list<u8>\) -> u32"):
        fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])


def test_unresolved_import_lists_candidates(tmp_path):
    app_wit = LOG_WIT.replace("kernel:os@1.0.0", "kernel:os@2.0.0").format(t="string")
    kernel, app = _pair(tmp_path, LOG_WIT.format(t="string"), app_wit,
                        LOG_KERNEL.format(realloc=REALLOC.format(start=1024)), LOG_APP.replace("@1.0.0", "@2.0.0"))
    with pytest.raises(FuseError, match=r"//t:app imports `kernel:os/log@2.0.0` function `write`, which no component "
                       r"exports; candidates: kernel:os/log#write@1.0.0"):
        fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])


def test_two_components_exporting_one_interface_are_refused(tmp_path):
    wat = LOG_KERNEL.format(realloc=REALLOC.format(start=1024))
    one = component(tmp_path, LOG_WIT.format(t="string"), "kernel", wat, "one")
    two = component(tmp_path, LOG_WIT.format(t="string"), "kernel", wat, "two")
    with pytest.raises(FuseError, match=r"components //t:one and //t:two both export interface `kernel:os/log@1.0.0`"):
        fuse([("one", "//t:one", one), ("two", "//t:two", two)])


def test_growing_cabi_realloc_is_refused_naming_it(tmp_path):
    grow = """(func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32)
      i32.const 1 memory.grow i32.const 65536 i32.mul)"""
    kernel, app = _pair(tmp_path, LOG_WIT.format(t="string"), LOG_WIT.format(t="string"),
                        LOG_KERNEL.format(realloc=grow), LOG_APP)
    with pytest.raises(FuseError, match=r"//t:kernel grows its memory \(memory.grow in `cabi_realloc`\)"):
        fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])


def test_non_utf8_string_encoding_is_refused(tmp_path):
    d = tmp_path / "u16"
    d.mkdir()
    (d / "w.wit").write_text(LOG_WIT.format(t="string"))
    (d / "k.wat").write_text(LOG_KERNEL.format(realloc=REALLOC.format(start=1024)))
    from component_harness import wasm_tools

    for args in (["parse", "k.wat", "-o", "k.wasm"],
                 ["component", "embed", "w.wit", "k.wasm", "--world", "kernel", "--encoding", "utf16", "-o", "e.wasm"],
                 ["component", "new", "e.wasm", "-o", "c.wasm"]):
        assert wasm_tools(*args, cwd=d).returncode == 0, args
    kernel = (d / "c.wasm").read_bytes()
    app = component(tmp_path, LOG_WIT.format(t="string"), "app", LOG_APP, "app")
    with pytest.raises(FuseError, match=r"component //t:kernel passes strings as utf16; .* UTF-8 only"):
        fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])


# -- what an adapter costs on the MCU -------------------------------------------------


def _seam_text(tmp_path, key: str, wit_type: str, flat_params: int, seams: int = 1) -> int:
    """.text on cortex-m4 of `run` calling kernel's f0..fN(x: wit_type) -> u32,
    whose core code only sums its flat parameters and reads memory."""
    import json
    import subprocess
    import sys

    funcs = " ".join(f"f{i}: func(x: {wit_type}) -> u32;" for i in range(seams))
    wit = (f"package m:s@0.1.0;\ninterface k {{ {funcs} }}\n"
           "world kernel { export k; }\nworld app { import k; export run: func(a: u32, b: u32) -> u32; }\n")
    params = " ".join(["i32"] * flat_params)
    total = " ".join(f"local.get {i}" for i in range(flat_params)) + " i32.add" * (flat_params - 1)
    kernel = "".join(f'(func (export "m:s/k@0.1.0#f{i}") (param {params}) (result i32) {total} i32.const {64 + i} '
                     'i32.load8_u i32.add)' for i in range(seams))
    kernel = f'(module (memory (export "memory") 1) {REALLOC.format(start=1024)} {kernel})'
    args = " ".join(f"local.get {i % 2}" for i in range(flat_params))
    imports = "".join(f'(import "m:s/k@0.1.0" "f{i}" (func $f{i} (param {params}) (result i32)))' for i in range(seams))
    calls = " ".join(f"{args} call $f{i}" for i in range(seams)) + " i32.add" * (seams - 1)
    app = (f'(module {imports} (memory (export "memory") 1)'
           f' (data (i32.const 64) "hello, world") {REALLOC.format(start=1024)}'
           f' (func (export "run") (param i32 i32) (result i32) {calls}))')
    d = tmp_path / key
    result = fuse([("app", "//m:app", component(d, wit, "app", app, "app")),
                   ("kernel", "//m:kernel", component(d, wit, "kernel", kernel, "kernel"))])
    (d / "fused.wasm").write_bytes(result.wasm)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--cpu", "cortex-m4", "--out", "o.o",
                           "--header", "o.h", "--report", "r.json", "--root", "run", "--", "fused.wasm"],
                          cwd=d, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads((d / "r.json").read_text())["sections"]["text"]


def test_a_string_seam_costs_well_under_100_bytes_of_thumb(tmp_path):
    """Each string seam's adapter; the UTF-8 validator they share is counted once."""
    direct = [_seam_text(tmp_path, f"direct{n}", "tuple<u32, u32>", 2, n) for n in (1, 2)]
    string = [_seam_text(tmp_path, f"string{n}", "string", 2, n) for n in (1, 2)]
    per_seam = (string[1] - direct[1]) - (string[0] - direct[0])
    assert 0 < per_seam < 100, (direct, string)
    # The shared UTF-8 validator and copy: 210 B under the default bounds = "check" (its loads are
    # bounds-checked), 154 B under "none".
    assert string[0] - direct[0] - per_seam < 256


# -- resources ---------------------------------------------------------------------------

def test_resources_cross_a_seam_like_the_component_model(tmp_path):
    import wasmtime
    import wasmtime.component as wc

    from component_harness import ENGINE, wasm_tools

    app = component(tmp_path, TASKS_WIT, "app", TASKS_APP, "app")
    kernel = component(tmp_path, TASKS_WIT, "kernel", TASKS_KERNEL, "kernel")
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    validate(result.wasm)
    module = decode_module(result.wasm)
    assert not module.imports  # resource.new/rep/drop are in the fused core
    assert [t["resource"] for t in result.report["handle_tables"]] == ["kernel:os/tasks#task"]
    assert {s["function"] for s in result.report["seams"]} == {"kernel:os/tasks#[method]task.prio",
                                                               "kernel:os/tasks#[method]task.bump",
                                                               "kernel:os/tasks#spawn"}
    (tmp_path / "a.wasm").write_bytes(app)
    (tmp_path / "k.wasm").write_bytes(kernel)
    assert wasm_tools("compose", "a.wasm", "-d", "k.wasm", "-o", "c.wasm", cwd=tmp_path).returncode == 0

    def composed(name, *args):
        store = wasmtime.Store(ENGINE)
        f = wc.Linker(ENGINE).instantiate(store, wc.Component.from_file(ENGINE, str(tmp_path / "c.wasm"))).get_func(
            store, name)
        try:
            value = f(store, *args)
            f.post_return(store)
            return ("ok", value)
        except (wasmtime.Trap, wasmtime.WasmtimeError):  # wasmtime reports a bad handle as an error
            return ("trap",)

    def fused(name, *args):
        store = wasmtime.Store(ENGINE)
        exports = wasmtime.Instance(store, wasmtime.Module(ENGINE, result.wasm), []).exports(store)
        try:
            return ("ok", exports[name](store, *args) & 0xFFFFFFFF)
        except wasmtime.Trap:
            return ("trap",)

    for n in (0, 1, 7, 1000):
        assert fused("run", n) == composed("run", n) == ("ok", (n + 5) + 200 * n + 10000)
    assert fused("stale") == composed("stale") == ("trap",)  # a dropped handle traps
    for n in (0, 1, 5, 16):  # a list of owned handles comes back; each is used and dropped
        assert fused("crowd", n) == composed("crowd", n) == ("ok", sum((10 + i) * (i + 1) for i in range(n)))
    # 17 live tasks: the fused table holds `handles` (16) where the component model's grows; a full table traps.
    assert fused("crowd", 17) == ("trap",) and composed("crowd", 17)[0] == "ok"


def test_handle_table_full_traps(tmp_path):
    import wasmtime

    from component_harness import ENGINE

    app = component(tmp_path, TASKS_WIT, "app", TASKS_APP, "app")
    kernel = component(tmp_path, TASKS_WIT, "kernel", TASKS_KERNEL, "kernel")
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)], FuseOptions(handles=1))
    store = wasmtime.Store(ENGINE)
    exports = wasmtime.Instance(store, wasmtime.Module(ENGINE, result.wasm), []).exports(store)
    with pytest.raises(wasmtime.Trap):
        exports["run"](store, 3)  # holds two tasks at once


# -- strings must be UTF-8 ------------------------------------------------------------------

UTF8_WIT = """package kernel:os@1.0.0;
interface log { write: func(msg: string) -> u32; }
world kernel { export log; }
world app { import log; export run: func(raw: list<u8>) -> u32; }
"""
UTF8_KERNEL = """(module (memory (export "memory") 1) {realloc}
  (func (export "kernel:os/log@1.0.0#write") (param i32 i32) (result i32) local.get 1))""".format(
    realloc=REALLOC.format(start=1024))
UTF8_APP = """(module
  (import "kernel:os/log@1.0.0" "write" (func $w (param i32 i32) (result i32)))
  (memory (export "memory") 1) {realloc}
  (func (export "run") (param i32 i32) (result i32) local.get 0 local.get 1 call $w))""".format(
    realloc=REALLOC.format(start=1024))


@pytest.fixture(scope="module")
def utf8_seam(tmp_path_factory):
    from component_harness import wasm_tools

    tmp = tmp_path_factory.mktemp("utf8")
    app = component(tmp, UTF8_WIT, "app", UTF8_APP, "app")
    kernel = component(tmp, UTF8_WIT, "kernel", UTF8_KERNEL, "kernel")
    (tmp / "a.wasm").write_bytes(app)
    (tmp / "k.wasm").write_bytes(kernel)
    assert wasm_tools("compose", "a.wasm", "-d", "k.wasm", "-o", "c.wasm", cwd=tmp).returncode == 0
    fused = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    validate(fused.wasm)
    return (tmp / "c.wasm").read_bytes(), fused.wasm


def _utf8_outcomes(utf8_seam, raw: bytes):
    import wasmtime
    import wasmtime.component as wc

    from component_harness import ENGINE

    composed, fused = utf8_seam
    store = wasmtime.Store(ENGINE)
    run = wc.Linker(ENGINE).instantiate(store, wc.Component(ENGINE, composed)).get_func(store, "run")
    try:
        reference = ("ok", run(store, raw))
    except (wasmtime.Trap, wasmtime.WasmtimeError):
        reference = ("trap",)
    store = wasmtime.Store(ENGINE)
    exports = wasmtime.Instance(store, wasmtime.Module(ENGINE, fused), []).exports(store)
    at = exports["cabi_realloc"](store, 0, 0, 1, len(raw))
    exports["memory"].write(store, raw, at)
    try:
        got = ("ok", exports["run"](store, at, len(raw)))
    except wasmtime.Trap:
        got = ("trap",)
    return reference, got


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=10), st.text(max_size=8).map(str.encode),
                     st.lists(st.sampled_from([b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x9f\xbf",
                                               b"\xf0\x8f\xbf\xbf", b"\xc2", b"\xe2\x82", b"a", b"\xf4\x8f\xbf\xbf",
                                               b"\xed\x9f\xbf", "é".encode(), "𝄞".encode()]), max_size=4).map(b"".join)))
def test_invalid_utf8_traps_like_the_component_model(utf8_seam, raw):
    reference, got = _utf8_outcomes(utf8_seam, raw)
    try:
        raw.decode("utf-8")
        valid = True
    except UnicodeDecodeError:
        valid = False
    assert got == reference == (("ok", len(raw)) if valid else ("trap",))


def test_borrows_inside_a_list_are_refused(tmp_path):
    wit = """package kernel:os@0.1.0;
interface tasks { resource task { constructor(); } peek: func(ts: list<borrow<task>>) -> u32; }
world kernel { export tasks; }
world app { import tasks; export run: func() -> u32; }
"""
    kernel = """(module
  (import "[export]kernel:os/tasks@0.1.0" "[resource-new]task" (func $new (param i32) (result i32)))
  (memory (export "memory") 1) {realloc}
  (func (export "kernel:os/tasks@0.1.0#[constructor]task") (result i32) i32.const 8 call $new)
  (func (export "kernel:os/tasks@0.1.0#peek") (param i32 i32) (result i32) local.get 1))""".format(
        realloc=REALLOC.format(start=1024))
    app = """(module
  (import "kernel:os/tasks@0.1.0" "peek" (func $peek (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "run") (result i32) i32.const 0 i32.const 0 call $peek))"""
    kernel, app = _pair(tmp_path, wit, wit, kernel, app)
    with pytest.raises(FuseError, match=r"//t:app imports `kernel:os/tasks#peek`, which passes borrowed handles "
                       r"inside other values"):
        fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])


def test_a_misaligned_or_out_of_range_list_traps_like_the_component_model(tmp_path):
    import wasmtime
    import wasmtime.component as wc

    from component_harness import ENGINE, wasm_tools

    wit = """package kernel:os@1.0.0;
interface sum { total: func(xs: list<u32>) -> u32; }
world kernel { export sum; }
world app { import sum; export run: func(at: u32) -> u32; }
"""
    kernel = """(module (memory (export "memory") 1) {realloc}
  (func (export "kernel:os/sum@1.0.0#total") (param i32 i32) (result i32)
    local.get 0 i32.load local.get 0 i32.load offset=4 i32.add))""".format(realloc=REALLOC.format(start=1024))
    app = """(module
  (import "kernel:os/sum@1.0.0" "total" (func $t (param i32 i32) (result i32)))
  (memory (export "memory") 1) (data (i32.const 16) "\\01\\00\\00\\00\\02\\00\\00\\00\\03\\00\\00\\00")
  (func (export "run") (param i32) (result i32) local.get 0 i32.const 2 call $t))"""
    kernel, app = _pair(tmp_path, wit, wit, kernel, app)
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    (tmp_path / "a.wasm").write_bytes(app)
    (tmp_path / "k.wasm").write_bytes(kernel)
    assert wasm_tools("compose", "a.wasm", "-d", "k.wasm", "-o", "c.wasm", cwd=tmp_path).returncode == 0
    cases = ((16, ("ok", 3)), (20, ("ok", 5)), (18, ("trap",)), (65528, ("ok", 0)), (65532, ("trap",)),
             (2**32 - 4, ("trap",)))
    for at, want in cases:  # past the end of the app's memory: the kernel's lies there in the fused one
        store = wasmtime.Store(ENGINE)
        run = wc.Linker(ENGINE).instantiate(store, wc.Component.from_file(ENGINE, str(tmp_path / "c.wasm"))).get_func(
            store, "run")
        try:
            composed = ("ok", run(store, at))
        except (wasmtime.Trap, wasmtime.WasmtimeError):
            composed = ("trap",)
        store = wasmtime.Store(ENGINE)
        exports = wasmtime.Instance(store, wasmtime.Module(ENGINE, result.wasm), []).exports(store)
        try:
            fused = ("ok", exports["run"](store, at))
        except wasmtime.Trap:
            fused = ("trap",)
        assert fused == composed == want, at
