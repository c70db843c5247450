"""An exported function the module also calls itself: its own calls go
through the export's wrapper, so the body lives in the export (no call-only
export left), and every result is still the reference's (wasmtime)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wasm_harness import wat
from wasmelt.toolchains.builtin.synth.lower import lower
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs
from wasmelt.toolchains.synth import compile_c, elf_facts

# `sum` (a loop over the data segment, 40-odd instructions) is exported and
# called by `twice`; the data segment makes every export test the first call.
SUM = """
  (func $sum (export "sum") (param $n i32) (param $k i32) (result i32) (local $i i32) (local $s i32)
    (block $out
      (loop $top
        (br_if $out (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $s (i32.add (i32.mul (local.get $s) (i32.const 31))
                               (i32.xor (i32.load8_u offset=16 (i32.and (local.get $i) (i32.const 15)))
                                        (local.get $k))))
        (local.set $s (i32.rotl (local.get $s) (i32.and (local.get $i) (i32.const 7))))
        (local.set $s (i32.add (local.get $s) (i32.shr_u (local.get $s) (i32.const 11))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    (local.get $s))"""
ENTRY = f"""(module (memory 1)
  (data (i32.const 16) "\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10")
  {SUM}
  (func (export "twice") (param i32) (result i32)
    (i32.add (call $sum (local.get 0) (i32.const 5)) (call $sum (i32.add (local.get 0) (i32.const 3)) (i32.const 9)))))"""
CASES = [{"call": "twice", "args": [7]}, {"call": "sum", "args": [20, 3]}, {"call": "twice", "args": [0]}]


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_an_export_the_module_calls_holds_its_body_and_keeps_its_results(tmp_path, cpu):
    wasm = wat(ENTRY)
    lowered = lower(decode_module(wasm))
    assert lowered.entries == ["sum"]
    assert lowered.c_source.count("wasmelt_fn0(") == 3  # prototype, definition, the wrapper's call: nothing else
    assert lowered.c_source.count("wasmelt_x0(") == 5  # prototype, declaration, definition, twice's two calls
    source = tmp_path / "module.c"
    source.write_text(lowered.c_source)
    compile_c(source, tmp_path / "m.o", "zig", cpu, "size")
    obj = (tmp_path / "m.o").read_bytes()
    assert set(elf_facts(obj)["functions"]) == {"sum", "twice", "wasmelt_init", "wasmelt_trap"}
    for order in (CASES, CASES[1:] + CASES[:1]):  # whichever export initialises the memory
        results = compare(obj, wasm, cpu, order, HostStubs())
        assert all(not r.problems for r in results), [(r.case, r.problems) for r in results]


def test_the_synth_stage_accepts_the_calls_of_an_export_by_its_symbol(tmp_path):
    (tmp_path / "m.wasm").write_bytes(wat(ENTRY))
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--toolchain", "builtin", "--cpu",
                           "cortex-m0", "--opt", "size", "--bounds", "check", "--cc", "zig", "--out", "m.o",
                           "--header", "m.h", "--report", "r.json", "--", "m.wasm"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "m.o").stat().st_size > 0


# fib, with a data segment so the wrapper has a first-call test: f(9) = 34.
RECURSIVE = """(module (memory 1) (data (i32.const 16) "\\01")
  (func $f (export "f") (param i32) (result i32)
    (if (result i32) (i32.lt_u (local.get 0) (i32.const 2))
      (then (i32.mul (local.get 0) (i32.load8_u offset=16 (i32.const 0))))
      (else (i32.add (call $f (i32.sub (local.get 0) (i32.const 1)))
                     (call $f (i32.sub (local.get 0) (i32.const 2)))))))
  (func (export "g") (param i32) (result i32) (call $f (local.get 0))))"""


@pytest.mark.parametrize("module", [
    RECURSIVE,  # each round would pay the wrapper's first-call test
    # small: the C compiler inlines it into its callers anyway
    """(module (func $inc (export "inc") (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func (export "g") (param i32) (result i32) (call $inc (call $inc (local.get 0)))))""",
    # a name the C compiler calls its runtime by: only the compiler's calls may name it
    ENTRY.replace('"sum"', '"memset"'),
    # in a table: the function keeps its own body for the table anyway
    ENTRY.replace("(memory 1)", "(memory 1) (table 1 funcref) (elem (i32.const 0) $sum)"),
], ids=["recursive", "small", "runtime-name", "in-a-table"])
def test_calls_stay_direct_where_the_wrapper_would_not_pay(module):
    lowered = lower(decode_module(wat(module)))
    assert lowered.entries == []
    assert lowered.c_source.count("wasmelt_x0(") == 2  # the export's declaration and definition only


def test_the_recursive_export_keeps_its_results(tmp_path):
    wasm = wat(RECURSIVE)
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm)).c_source)
    compile_c(source, tmp_path / "m.o", "zig", "cortex-m0", "size")
    results = compare((tmp_path / "m.o").read_bytes(), wasm, "cortex-m0",
                      [{"call": "g", "args": [9]}, {"call": "f", "args": [6]}], HostStubs())
    assert all(not r.problems for r in results) and results[0].firmware.results == (34,)
