"""The per-stage benchmarks run on the example app and measure real outputs:
valid wasm from fuse and DCE, ARM objects whose .text `size` measured, and
the size claims the issues make (DCE no larger than wasm-opt, synth smaller
than wasm2c). Timings are printed by the scripts, never asserted."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import dce_bench  # noqa: E402
import fuse_bench  # noqa: E402
import stage_inputs  # noqa: E402
import stage_tools  # noqa: E402
import synth_bench  # noqa: E402


def _valid(path: str) -> None:
    proc = subprocess.run([stage_tools.wasm_tools(), "validate", path], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    return stage_inputs.example(tmp_path_factory.mktemp("stage-inputs"))


def test_inputs_are_the_builtin_stage_outputs(example):
    assert [n for n, _ in example.components] == ["app", "kernel", "payload"]
    for path in [p for _, p in example.components] + [example.fused, example.lean]:
        _valid(str(path))
    assert example.lean.stat().st_size < example.fused.stat().st_size


def test_fuse_bench(example, tmp_path):
    result = fuse_bench.run([example], 1, tmp_path, install_npm=False)
    rows = result["inputs"][0]["rows"]
    builtin = rows[0]
    assert builtin["toolchain"] == "builtin" and builtin["facts"]["bytes"] > 0
    assert builtin["facts"]["instantiate_error"] is None and builtin["facts"]["memories"] == [
        {"min_pages": 1, "max_pages": 1}]
    _valid(builtin["output"])
    for peer in rows[1:]:
        assert "error" not in peer, peer
        _valid(peer["output"])
    if len(rows) == 1:
        assert any("wasm-merge" in note for note in result["unavailable"])
    assert "== fuse: example" in fuse_bench.render(result)


def test_dce_bench_is_no_larger_than_wasm_opt(example, tmp_path):
    result = dce_bench.run([example], 1, tmp_path, install_npm=False)
    section = result["inputs"][0]
    by = {r["toolchain"]: r for r in section["rows"]}
    builtin = by["builtin"]
    _valid(builtin["output"])
    assert 0 < builtin["facts"]["bytes"] < section["input_facts"]["bytes"]
    if not shutil.which("wasm-opt"):
        pytest.skip("wasm-opt not installed (apt-get install binaryen)")
    plain, named = by["wasm-opt (system)"], by["wasm-opt -g (system)"]
    _valid(plain["output"])
    assert builtin["facts"]["bytes_no_custom"] <= plain["facts"]["bytes"]
    assert builtin["facts"]["bytes"] <= named["facts"]["bytes"]
    assert "no larger" in dce_bench.render(result)


def test_synth_bench_measures_text_and_beats_wasm2c(example, tmp_path):
    result = synth_bench.run([example], 1, tmp_path, cpus=("cortex-m4",), compilers=["zig"])
    rows = {r["toolchain"]: r for r in result["inputs"][0]["rows"]}
    builtin = rows["builtin"]
    obj = Path(builtin["output"]).read_bytes()
    assert obj[:4] == b"\x7fELF" and obj[18] == 40  # EM_ARM
    size = builtin["size"]
    assert size["text"] > 0 and size["bss"] > 0 and size["berkeley"]["text"] >= size["text"]
    if not shutil.which("wasm2c"):
        pytest.skip("wasm2c not installed (apt-get install wabt)")
    assert "error" not in rows["wasm2c"], rows["wasm2c"]
    assert size["text"] < rows["wasm2c"]["size"]["text"]
    assert "zig cortex-m4: builtin .text" in synth_bench.render(result)


@pytest.mark.skipif(not shutil.which("riscv64-unknown-elf-gcc"), reason="apt-get install gcc-riscv64-unknown-elf")
def test_synth_bench_has_rv32_rows_and_native_sizes(tmp_path):
    small = stage_inputs.generated(tmp_path / "inputs", libraries=1, functions=6)
    assert [p.name for p in small.c_sources] == ["ctl.c", "lib0.c"]
    result = synth_bench.run([small], 1, tmp_path, cpus=("rv32imac",), compilers=["zig", "gcc"])
    section = result["inputs"][0]
    builtin = {r["cc"]: r for r in section["rows"] if r["toolchain"] == "builtin"}
    assert set(builtin) == {"zig", "gcc"} and builtin["gcc"]["compiler"].startswith("riscv64-unknown-elf-gcc")
    for row in builtin.values():
        obj = Path(row["output"]).read_bytes()
        assert obj[18] == 243  # EM_RISCV
    native = {r["cc"]: r for r in section["native"]}
    assert set(native) == {"zig", "gcc"} and not any("error" in r for r in native.values()), native
    for cc, row in native.items():
        assert row["native"]["text"] > 0 and row["wasmelt_linked"]["text"] > 0
        assert row["wasmelt_object_text"] == builtin[cc]["size"]["text"]
    text = synth_bench.render(result)
    assert "native .text" in text and "wasmelt/native" in text
