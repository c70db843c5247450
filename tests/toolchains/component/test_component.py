"""The component stage driver: every source kind builds a valid, placeable
module; WIT makes a component; the grow check names the function; builds
are byte-identical across directories; missing tools are reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from wasm_harness import EXAMPLE, build_component, validate, wasm_tools
from wasmelt.toolchains.builtin.wasm.component import is_component
from wasmelt.toolchains.builtin.wasm.decode import decode_module


@pytest.mark.parametrize("name, source", [("app", "app.c"), ("kernel", "kernel.wat"), ("payload", "payload.rs")])
def test_each_language_builds_a_valid_module(tmp_path, name, source):
    data = build_component(tmp_path, name, EXAMPLE / source)
    validate(data)
    module = decode_module(data)
    report = json.loads((tmp_path / f"build-{name}" / "report.json").read_text())
    assert report["memory_grow"] == [] and not report["exports_cabi_realloc"]
    if source.endswith(".c"):
        names = {c.name for c in module.customs}
        assert "reloc.CODE" in names and "linking" in names
        assert report["heap_base"] is not None and report["stack_pointer_init"] == 2048
        assert report["memory_pages"] == [{"min": 1, "max": 1}]


def test_prebuilt_wasm_is_validated(tmp_path):
    (tmp_path / "bad.wasm").write_bytes(b"\0asm\x01\0\0\0\x01\x01")
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:bad", "--out", "o.wasm",
                           "--report", "r.json", "--", "bad.wasm"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "\nerror: validating the module failed" in proc.stderr
    assert proc.stderr.startswith("tool command: ") and " validate " in proc.stderr.splitlines()[0]


def test_wit_world_makes_a_component(tmp_path):
    (tmp_path / "k.wat").write_text('(module (memory (export "memory") 1) (func (export "tick") (param i32) (result i32) local.get 0))')
    (tmp_path / "k.wit").write_text("package t:k;\nworld k {\n  export tick: func(x: s32) -> s32;\n}\n")
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:k", "--out", "o.wasm",
                           "--report", "r.json", "--no-grow", "--wit", "k.wit", "--world", "k", "--", "k.wat"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = (tmp_path / "o.wasm").read_bytes()
    assert is_component(data)
    assert wasm_tools("validate", str(tmp_path / "o.wasm")).returncode == 0


def test_grow_check_names_the_function(tmp_path):
    grower = EXAMPLE.parent / "grow" / "grower.c"
    (tmp_path / "grower.c").write_text(grower.read_text())
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//examples/grow:grow",
                           "--out", "o.wasm", "--report", "r.json", "--no-grow", "--max-memory-pages", "4", "--",
                           "grower.c"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "component //examples/grow:grow grows its memory: memory.grow in `make_buffer` (1x)" in proc.stderr
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//examples/grow:grow",
                           "--out", "o.wasm", "--report", "r.json", "--max-memory-pages", "4", "--", "grower.c"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0  # allowed when no_grow = false


def test_builds_are_identical_across_directories(tmp_path):
    for source in ("app.c", "payload.rs"):
        a = build_component(tmp_path / "one", "x", EXAMPLE / source)
        b = build_component(tmp_path / "two" / "deeper", "x", EXAMPLE / source)
        assert a == b


def test_missing_compiler_is_reported(tmp_path):
    (tmp_path / "a.c").write_text("int f(void) { return 1; }\n")
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:a", "--cc", "clang",
                           "--out", "o.wasm", "--report", "r.json", "--", "a.c"], cwd=tmp_path, capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 1 and "`clang` is not installed" in proc.stderr


def test_mixed_source_kinds_are_refused(tmp_path):
    (tmp_path / "a.c").write_text("")
    (tmp_path / "b.wat").write_text("(module)")
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:a", "--out", "o.wasm",
                           "--report", "r.json", "--", "a.c", "b.wat"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "sources of one kind" in proc.stderr


def test_wasm_tools_is_the_bundled_executable_not_its_python_shim():
    from wasmelt.toolchains.identity import wasm_tools

    with open(wasm_tools().path, "rb") as f:
        assert f.read(4) == b"\x7fELF"  # the console script would start with "#!"


def test_rustc_without_rust_lld_is_reported(tmp_path):
    sysroot = tmp_path / "sysroot"
    (sysroot / "lib/rustlib/wasm32-unknown-unknown").mkdir(parents=True)
    fake = tmp_path / "bin" / "rustc"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\n[ \"$1\" = --print ] && echo {sysroot} || echo 'rustc 1.0.0'\n")
    fake.chmod(0o755)
    (tmp_path / "lib.rs").write_text("#![no_std]\n")
    env = {**os.environ, "PATH": str(fake.parent), "WASMELT_RUSTC": str(fake)}
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:r",
                           "--out", "o.wasm", "--report", "r.json", "--", "lib.rs"], cwd=tmp_path,
                          capture_output=True, text=True, env=env)
    assert proc.returncode == 1
    assert f"{fake} has the wasm32 target but no `rust-lld` linker" in proc.stderr and "lld-14" in proc.stderr
