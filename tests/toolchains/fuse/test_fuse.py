"""Builtin fusion: one valid module, one memory, direct calls, the same
behaviour as the components linked separately, and every refusal."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wasm_harness import (Host, call, example_components, instantiate, instantiate_linked, validate, wasm_tools, wat)
from wasmelt.toolchains.builtin.fuse import FuseError, FuseOptions, fuse
from wasmelt.toolchains.builtin.wasm.decode import decode_module


@pytest.fixture(scope="module")
def components(tmp_path_factory):
    return example_components(tmp_path_factory.mktemp("components"))


def _fuse(components, **options):
    return fuse([(n, f"//examples/app:{n}", d) for n, d in components], FuseOptions(**options))


def _run_scenario(store, instance, host):
    results = [call(store, instance, "init")]
    for value in [5, 90, 200, -3, 1000, 70, 71, 72, 500, 0]:
        results.append(call(store, instance, "tick", value))
    results.append(call(store, instance, "set_threshold", 10))
    results += [call(store, instance, "tick", v) for v in (20, 30)]
    results.append(call(store, instance, "selftest"))
    return results, host.calls


@pytest.mark.parametrize("options", [
    {}, {"pack": True}, {"share_stack": True}, {"pack": True, "share_stack": True},
])
def test_fused_app_behaves_like_the_linked_components(components, options):
    result = _fuse(components, **options)
    validate(result.wasm)
    module = decode_module(result.wasm)
    assert len(module.memories) == 1
    assert [f"{i.module}.{i.name}" for i in module.imports] == ["hw.read_timer", "hw.uart_write"]
    assert result.report["adapter_bytes"] == 0

    linked_host, fused_host = Host(), Host()
    store, instances = instantiate_linked(components, linked_host)
    expected = _run_scenario(store, instances["app"], linked_host)
    store, instance = instantiate(result.wasm, fused_host)
    assert _run_scenario(store, instance, fused_host) == expected
    assert any(name == "hw.uart_write" for name, _ in expected[1])  # the scenario reaches the host


def test_layout_is_disjoint_and_pack_is_smaller(components):
    plain, packed = _fuse(components), _fuse(components, pack=True)
    for report in (plain.report, packed.report):
        spans = sorted((l["base"], l["base"] + l["size"]) for l in report["layout"])
        assert all(a_end <= b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    assert packed.report["memory"]["pages"] < plain.report["memory"]["pages"]
    assert {l["rebased_by"] for l in plain.report["layout"]} == {"relocations", "memory accesses"}


def test_provenance_and_import_map(components):
    result = _fuse(components)
    module = decode_module(result.wasm)
    names = {p["component"] for p in result.provenance["functions"].values()}
    assert names == {"app", "kernel", "payload"}
    assert len(result.provenance["functions"]) == len(module.functions)
    links = {(l["component"], l["import"]) for l in result.import_map["links"]}
    assert ("app", "kernel.timer_now") in links and ("app", "payload.filter") in links
    assert [i["module"] + "." + i["name"] for i in result.import_map["imports"]] == ["hw.read_timer", "hw.uart_write"]


def test_output_is_deterministic(components):
    assert _fuse(components).wasm == _fuse(components).wasm


def test_memory_grow_is_refused_naming_component_and_function():
    grower = wat('(module (memory 1) (func $grow_heap (export "alloc") (result i32) i32.const 1 memory.grow))')
    other = wat('(module (memory 1) (func (export "f") (result i32) i32.const 1))')
    with pytest.raises(FuseError, match=r"//t:grower grows its memory \(memory.grow in `grow_heap`\)"):
        fuse([("main", "//t:main", other), ("grower", "//t:grower", grower)])


def test_a_lone_memory_keeps_its_limits_and_may_grow():
    # What a dce or synth of one prebuilt module fuses implicitly: nothing
    # else has a memory, so nothing needs rebasing and memory.grow works.
    grower = wat('(module (memory 1 3) (func (export "grow") (param i32) (result i32) local.get 0 memory.grow)'
                 ' (func (export "size") (result i32) memory.size))')
    pure = wat('(module (func (export "twice") (param i32) (result i32) local.get 0 i32.const 2 i32.mul))')
    for parts in ([("g", "//t:g", grower)], [("g", "//t:g", grower), ("p", "//t:p", pure)]):
        result = fuse(parts)
        validate(result.wasm)
        limits = decode_module(result.wasm).memories[0].limits
        assert (limits.min, limits.max) == (1, 3)
        assert result.report["memory"]["address_rebase"] is False
        store, instance = instantiate(result.wasm, Host())
        assert [call(store, instance, "grow", 1), call(store, instance, "size"),
                call(store, instance, "grow", 5)] == [("ok", 1), ("ok", 2), ("ok", -1)]


def test_pack_refuses_a_component_with_a_heap(tmp_path):
    src = tmp_path / "heap.c"
    src.write_text("""
        #include <stdint.h>
        extern unsigned char __heap_base;
        __attribute__((export_name("alloc"))) int32_t alloc(void) { return (int32_t)(uintptr_t)&__heap_base; }
    """)
    from wasm_harness import build_component

    heap = build_component(tmp_path, "heap", src)
    plain = wat('(module (memory 1) (data (i32.const 0) "x") (func (export "f") (result i32) i32.const 1))')
    with pytest.raises(FuseError, match=r"pack: component //t:heap takes the address of __heap_base"):
        fuse([("main", "//t:main", plain), ("heap", "//t:heap", heap)], FuseOptions(pack=True))
    fuse([("main", "//t:main", plain), ("heap", "//t:heap", heap)])  # fine without pack


def test_share_stack_refuses_a_layout_that_is_not_stack_first(tmp_path):
    src = tmp_path / "late.c"
    src.write_text('static int table[3] = {1, 2, 3};\n'
                   '__attribute__((export_name("f"))) int f(int x) { volatile int a[4]; a[x & 3] = table[x & 1]; return a[0]; }\n')
    from wasm_harness import build_component

    data_first = subprocess.run([sys.executable, "-m", "ziglang", "cc", "--target=wasm32-freestanding", "-Os",
                                 "-nostdlib", "-c", str(src), "-o", str(tmp_path / "late.o")], capture_output=True)
    assert data_first.returncode == 0, data_first.stderr
    link = subprocess.run([sys.executable, "-m", "ziglang", "wasm-ld", "--no-entry", "--emit-relocs",
                           "--export=f", "--no-stack-first", "-zstack-size=4096", str(tmp_path / "late.o"),
                           "-o", str(tmp_path / "late.wasm")], capture_output=True)
    assert link.returncode == 0, link.stderr
    late = (tmp_path / "late.wasm").read_bytes()
    stack_first = build_component(tmp_path, "early", src)
    with pytest.raises(FuseError, match="share_stack: component //t:late is not stack-first"):
        fuse([("early", "//t:early", stack_first), ("late", "//t:late", late)], FuseOptions(share_stack=True))


def test_overlapping_data_is_an_error():
    # Two access-rebased modules whose data would collide if packed at 16 bytes
    # each: the second one's data starts below its own used extent.
    a = wat('(module (memory 1) (data (i32.const 0) "0123456789abcdef0123") (func (export "f")))')
    with pytest.raises(FuseError):
        from wasmelt.toolchains.builtin import fuse as fuse_mod

        parts = [("a", "//t:a", a), ("b", "//t:b", a)]
        # Force both at base 0 by disabling the layout: fuse without rebasing.
        fuse(parts, FuseOptions(address_rebase=False))


def test_signature_mismatch_between_components_is_named():
    user = wat('(module (import "lib" "f" (func (param i64))) (func (export "main") i64.const 1 call 0))')
    lib = wat('(module (func (export "f") (param i32)))')
    with pytest.raises(FuseError, match=r"imports `lib.f` as \(i64\) -> \(\) but //t:lib exports `f` as \(i32\) -> \(\)"):
        fuse([("user", "//t:user", user), ("lib", "//t:lib", lib)])


def test_multi_memory_keeps_one_memory_per_component(components):
    result = _fuse(components, memory="multi", address_rebase=False)
    validate(result.wasm)
    assert len(decode_module(result.wasm).memories) == 3


def test_driver_writes_side_files_and_reports_errors(tmp_path, components):
    for name, data in components:
        (tmp_path / f"{name}.wasm").write_bytes(data)
    args = [sys.executable, "-m", "wasmelt.toolchains.fuse", "--out", "f.wasm", "--import-map", "im.json",
            "--provenance", "pv.json", "--report", "r.json", "--address-rebase", "--"]
    proc = subprocess.run(args + [f"{n}=//x:{n}={n}.wasm" for n, _ in components], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "r.json").read_text())["adapter_bytes"] == 0
    (tmp_path / "bad.wasm").write_bytes(b"\0asm\x01\0\0\0\x01\xff")
    proc = subprocess.run(args + ["bad=//x:bad=bad.wasm"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and proc.stderr.startswith("error: component //x:bad is not valid wasm")


def _binaryen_path() -> str | None:
    """wasm-merge and a wasm-opt with multi-memory lowering: on PATH, or the
    npm build `make bench-stages` installs under bench/.npm."""
    import os
    import shutil
    from pathlib import Path

    npm = Path(__file__).resolve().parents[3] / "bench" / ".npm" / "node_modules" / ".bin"
    for path in (os.environ.get("PATH", ""), f"{npm}{os.pathsep}{os.environ.get('PATH', '')}"):
        opt = shutil.which("wasm-opt", path=path)
        if shutil.which("wasm-merge", path=path) and opt and "--multi-memory-lowering" in subprocess.run(
                [opt, "--help"], capture_output=True, text=True).stdout:
            return path
    return None


@pytest.mark.skipif(_binaryen_path() is None, reason="no wasm-merge (Debian's binaryen has none; npm's does)")
def test_binaryen_adapter_fuses_the_example_to_one_memory(components, tmp_path):
    import os

    paths = []
    for name, data in components:
        (tmp_path / f"{name}.wasm").write_bytes(data)
        paths.append(f"{name}=//examples/app:{name}={tmp_path / f'{name}.wasm'}")
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.fuse", "--toolchain", "binaryen", "--out", "out.wasm",
                           "--import-map", "i.json", "--provenance", "p.json", "--report", "r.json", "--", *paths],
                          cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "PATH": _binaryen_path()})
    assert proc.returncode == 0, proc.stderr  # every component exports `memory`: only the root's is kept
    assert len(decode_module((tmp_path / "out.wasm").read_bytes()).memories) == 1
