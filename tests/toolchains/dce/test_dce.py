"""Builtin DCE: kept exports behave exactly as before (wasmtime), on the
example app and on random modules; outputs validate; unknown roots are
named; the builtin is no larger than binaryen's on the example."""

from __future__ import annotations

import shutil
import subprocess

import pytest
import wasmtime

from smith import smith_modules
from wasm_harness import Host, call, example_components, instantiate, validate, wat
from wasmelt.toolchains.builtin.dce import DceError, eliminate
from wasmelt.toolchains.builtin.fuse import FuseOptions, fuse
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.reference import HostStubs, run_reference, same_value


def _numeric_exports(data: bytes) -> list[tuple[str, list[str]]]:
    module = wasmtime.Module(wasmtime.Engine(), data)
    if any(not isinstance(i.type, wasmtime.FuncType) for i in module.imports):
        return []
    found = []
    for e in module.exports:
        if isinstance(e.type, wasmtime.FuncType):
            types = [str(t) for t in e.type.params] + [str(t) for t in e.type.results]
            if all(t in ("i32", "i64", "f32", "f64") for t in types):
                found.append((e.name, [str(t) for t in e.type.params]))
    return found


ARGS = {"i32": [0, 1, -7], "i64": [0, -1, 1 << 40], "f32": [0.0, 1.5, float("nan")], "f64": [0.0, -2.5, 1e300]}


def _same(a, b) -> bool:
    return (a.trap == b.trap and len(a.results) == len(b.results) and all(same_value(x, y) for x, y in zip(a.results, b.results))
            and [c.name for c in a.calls] == [c.name for c in b.calls])


def test_random_modules_keep_behaviour():
    checked = 0
    for data in smith_modules(150, 77, "--max-imports", "3", "--min-exports", "2", "--min-funcs", "3",
                              "--max-memories", "1", "--max-tables", "1", reference_types=False):
        exports = _numeric_exports(data)
        if not exports:
            continue
        roots = [name for name, _ in exports[: max(1, len(exports) // 2)]]
        result = eliminate(decode_module(data), roots)
        validate(result.wasm)
        for name, params in exports:
            if name not in roots:
                continue
            for i in range(2):
                args = [ARGS[p][i % len(ARGS[p])] for p in params]
                try:
                    before = run_reference(data, name, args, HostStubs())
                except wasmtime.WasmtimeError:
                    break  # instantiation itself traps (a start function or a segment): nothing to compare
                after = run_reference(result.wasm, name, args, HostStubs())
                assert _same(before, after), (name, args, before, after)
                checked += 1
    assert checked > 40


def test_example_app_keeps_behaviour_and_drops_the_unused(tmp_path):
    components = example_components(tmp_path)
    fused = fuse([(n, f"//x:{n}", d) for n, d in components], FuseOptions(pack=True, share_stack=True))
    result = eliminate(decode_module(fused.wasm), ["init", "tick"])
    validate(result.wasm)
    assert {"app:selftest", "app:set_threshold", "kernel:dump_log"} <= set(result.report["functions_removed"])
    chains = {s["function"]: s["kept_alive_by"] for s in result.report["largest_survivors"]}
    assert chains["payload:checksum"][0] == "export `init`"
    before_host, after_host = Host(), Host()
    s1, i1 = instantiate(fused.wasm, before_host)
    s2, i2 = instantiate(result.wasm, after_host)
    for name, args in [("init", ())] + [("tick", (v,)) for v in (3, 500, -9, 80, 90, 100)]:
        assert call(s1, i1, name, *args) == call(s2, i2, name, *args)
    assert before_host.calls == after_host.calls


def test_unknown_root_lists_the_exports():
    module = decode_module(wat('(module (func (export "a")) (func (export "b")))'))
    with pytest.raises(DceError, match=r"root `c` not exported; the module exports: a, b"):
        eliminate(module, ["c"])


def test_indirect_call_targets_stay(tmp_path):
    data = wat("""(module (type $t (func (result i32))) (table 2 funcref) (elem (i32.const 0) $one $two)
      (func $one (result i32) i32.const 1) (func $two (result i32) i32.const 2) (func $dead (result i32) i32.const 3)
      (func (export "pick") (param i32) (result i32) local.get 0 call_indirect (type $t)))""")
    result = eliminate(decode_module(data), ["pick"])
    validate(result.wasm)
    assert len(decode_module(result.wasm).functions) == 3
    assert run_reference(result.wasm, "pick", [1]).results == (2,)


@pytest.mark.skipif(not shutil.which("wasm-opt"), reason="binaryen's wasm-opt is not installed")
def test_no_larger_than_wasm_opt_on_the_example(tmp_path):
    components = example_components(tmp_path)
    fused = fuse([(n, f"//x:{n}", d) for n, d in components], FuseOptions(pack=True, share_stack=True)).wasm
    narrowed = decode_module(fused)
    narrowed.exports = [e for e in narrowed.exports if e.name in ("init", "tick")]
    from wasmelt.toolchains.builtin.wasm.encode import encode_module

    (tmp_path / "in.wasm").write_bytes(encode_module(narrowed))
    subprocess.run(["wasm-opt", "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
                    "--enable-nontrapping-float-to-int", "--enable-multivalue", "--remove-unused-module-elements",
                    str(tmp_path / "in.wasm"), "-o", str(tmp_path / "opt.wasm")], check=True)
    ours = eliminate(decode_module(fused), ["init", "tick"], strip_custom=True).module
    ours.customs = [c for c in ours.customs if c.name != "name"]  # wasm-opt writes no name section
    assert len(encode_module(ours)) <= (tmp_path / "opt.wasm").stat().st_size


def test_a_declarative_segment_named_by_a_live_elem_drop_stays_when_its_functions_go():
    data = wat("""(module
      (func $unused)
      (func (export "f") (result i32) elem.drop 0 i32.const 7)
      (elem declare func $unused))""")
    result = eliminate(decode_module(data), ["f"])
    validate(result.wasm)
    assert run_reference(result.wasm, "f", []).results == (7,)


def test_a_trap_in_the_start_function_is_the_reference_outcome():
    data = wat("""(module
      (func $boot unreachable)
      (start $boot)
      (func (export "f") (result i32) i32.const 1))""")
    outcome = run_reference(data, "f", [])
    assert outcome.trap == "unreachable" and outcome.results == ()
    assert run_reference(eliminate(decode_module(data), ["f"]).wasm, "f", []).trap == "unreachable"


def test_a_runaway_loop_ends_out_of_fuel():
    data = wat('(module (func (export "spin") (loop (br 0))))')
    assert run_reference(data, "spin", []).trap == "out_of_fuel"
