"""The builtin synth: every instruction class behaves in Thumb emulation as
in wasmtime, objects follow the symbol contract on every CPU, budgets and
seam checks fail builds, and the bytes do not depend on the directory."""

from __future__ import annotations

import io
import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from corpus import MODULES
from wasm_harness import wat
from wasmelt.toolchains.builtin.synth import lower as lower_mod
from wasmelt.toolchains.synth import check_runtime_names, compile_c, elf_facts
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs, export_signatures

CPUS = ["cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m4f", "cortex-m7", "cortex-m33"]


def synth(tmp: Path, wasm: bytes, cpu: str = "cortex-m4", *extra: str) -> subprocess.CompletedProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.wasm").write_bytes(wasm)
    return subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--cpu", cpu, "--out", "out.o",
                           "--header", "out.h", "--report", "out.json", *extra, "--", "in.wasm"],
                          cwd=tmp, capture_output=True, text=True)


def cases_for(wasm: bytes, values: dict[str, list]) -> list[dict]:
    cases = []
    for name, (params, _) in export_signatures(wasm).items():
        pools = [values.get(p, values.get("i32", [0])) for p in params]
        combos = list(itertools.product(*pools))
        step = max(1, len(combos) // 40)  # a spread of at most ~40 vectors per export
        cases += [{"call": name, "args": list(c)} for c in combos[::step]]
    return cases


@pytest.mark.parametrize("name", sorted(MODULES))
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0", "cortex-m7"])
def test_instruction_classes_match_wasmtime(tmp_path, name, cpu):
    text, values = MODULES[name]
    wasm = wat(text)
    proc = synth(tmp_path, wasm, cpu)
    assert proc.returncode == 0, proc.stderr
    results = compare((tmp_path / "out.o").read_bytes(), wasm, cpu, cases_for(wasm, values), HostStubs())
    failures = [(r.case, r.problems) for r in results if r.problems]
    assert not failures, failures[:5]
    assert len(results) > 5


def test_traps_are_the_same_traps(tmp_path):
    wasm = wat(MODULES["conversions"][0] + "")
    assert synth(tmp_path, wasm).returncode == 0
    cases = [{"call": "t32s", "args": [float("nan")]}, {"call": "t32s", "args": [3e9]},
             {"call": "t64u", "args": [-1.0]}]
    results = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m4", cases, HostStubs())
    assert [r.firmware.trap for r in results] == ["invalid_conversion", "integer_overflow", "integer_overflow"]
    assert all(not r.problems for r in results)


def test_host_calls_are_recorded_in_order(tmp_path):
    wasm = wat("""(module
      (import "hw" "put" (func $put (param i32 i64)))
      (import "hw" "get" (func $get (result i32)))
      (func (export "run") (param i32) (result i32)
        (call $put (local.get 0) (i64.const 0x100000001))
        (call $put (call $get) (i64.const -1))
        (call $get)))""")
    assert synth(tmp_path, wasm).returncode == 0
    stubs = HostStubs({"hw.get": [11, 22], "hw.put": []})
    [result] = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m4", [{"call": "run", "args": [5]}], stubs)
    assert not result.problems
    assert [(c.name, c.args) for c in result.firmware.calls] == [
        ("hw.put", (5, 0x100000001)), ("hw.get", ()), ("hw.put", (11, -1)), ("hw.get", ())]
    assert result.firmware.results == (22,)


@pytest.mark.parametrize("cpu", CPUS)
def test_object_contract_on_every_cpu(tmp_path, cpu):
    wasm = wat("""(module (import "env" "gust:os/time@0.1.0#now" (func $now (result i64)))
      (func (export "run-demo") (param i32) (result i64) (i64.add (call $now) (i64.extend_i32_u (local.get 0))))
      (func (export "gust:os/time@0.1.0#deadline") (result i32) (i32.const 7)))""")
    proc = synth(tmp_path, wasm, cpu)
    assert proc.returncode == 0, proc.stderr
    elf = ELFFile(io.BytesIO((tmp_path / "out.o").read_bytes()))
    assert elf.elfclass == 32 and elf["e_machine"] == "EM_ARM" and elf["e_type"] == "ET_REL"
    hard = (elf["e_flags"] & 0x400) != 0  # EF_ARM_ABI_FLOAT_HARD
    assert hard == (cpu in ("cortex-m4f", "cortex-m7"))
    symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for export in ("run-demo", "gust:os/time@0.1.0#deadline"):
        assert symbols[export]["st_info"]["type"] == "STT_FUNC" and symbols[export]["st_value"] & 1
    assert symbols["gust:os/time@0.1.0#now"]["st_shndx"] == "SHN_UNDEF"
    header = (tmp_path / "out.h").read_text()
    assert 'wasm_run_demo(uint32_t) __asm__("run-demo")' in header


def test_same_bytes_from_two_directories(tmp_path):
    wasm = wat(MODULES["memory"][0])
    assert synth(tmp_path / "a" / "deeper", wasm).returncode == 0
    assert synth(tmp_path / "b", wasm).returncode == 0
    assert (tmp_path / "a/deeper/out.o").read_bytes() == (tmp_path / "b/out.o").read_bytes()


def test_budget_and_missing_root_fail_with_a_message(tmp_path):
    wasm = wat(MODULES["i32_ops"][0])
    proc = synth(tmp_path, wasm, "cortex-m4", "--max-text-bytes", "64")
    assert proc.returncode == 1 and "size budget exceeded: text is" in proc.stderr and "Biggest:" in proc.stderr
    proc = synth(tmp_path, wasm, "cortex-m4", "--root", "nope")
    assert proc.returncode == 1 and "roots nope are not exported functions" in proc.stderr


def test_seam_check_catches_a_stray_undefined_symbol():
    from wasmelt.toolchains.stage import StageError
    from wasmelt.toolchains.synth import check_seam

    facts = {"defined": {"tick": {"thumb": True}}, "undefined": ["read_timer", "malloc", "__aeabi_uldivmod"]}
    with pytest.raises(StageError, match="neither imports nor runtime helpers: malloc"):
        check_seam(facts, ["tick"], {"read_timer": "hw.read_timer"})
    with pytest.raises(StageError, match="exports missing from the object: init"):
        check_seam(facts | {"undefined": []}, ["tick", "init"], {})


def test_a_miscompiled_instruction_is_caught(tmp_path, monkeypatch):
    """Break i32.sub in the lowering: the differential comparison must notice."""
    wasm = wat(MODULES["i32_ops"][0])
    module_o = tmp_path / "bad.o"
    monkeypatch.setitem(lower_mod.SIMPLE, "i32.sub", ("i32", "{a} + {b}", None))
    from wasmelt.toolchains.builtin.wasm.decode import decode_module
    from wasmelt.toolchains.synth import compile_c

    lowered = lower_mod.lower(decode_module(wasm))
    (tmp_path / "bad.c").write_text(lowered.c_source)
    compile_c(tmp_path / "bad.c", module_o, "zig", "cortex-m4", "size")
    results = compare(module_o.read_bytes(), wasm, "cortex-m4", [{"call": "i32_sub", "args": [5, 3]}], HostStubs())
    assert results[0].problems and "firmware gave results [8], reference gave results [2]" in results[0].problems[0]


def test_bounds_check_traps_out_of_bounds(tmp_path):
    wasm = wat('(module (memory 1) (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))')
    assert synth(tmp_path, wasm, "cortex-m4", "--bounds", "check").returncode == 0
    results = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m4",
                      [{"call": "peek", "args": [65533]}, {"call": "peek", "args": [8]}], HostStubs())
    assert results[0].firmware.trap == "out_of_bounds_memory" and not results[0].problems
    assert results[1].firmware.results == (0,)


def test_an_export_named_like_a_runtime_function_is_not_called_by_the_compiler(tmp_path):
    wasm = wat('(module (func (export "sqrt") (param f64) (result f64) local.get 0 f64.sqrt))')
    proc = synth(tmp_path, wasm)
    assert proc.returncode == 0, proc.stderr
    facts = elf_facts((tmp_path / "out.o").read_bytes())
    assert "sqrt" in facts["defined"] and "sqrt" not in facts["referenced"]  # f64.sqrt is computed in the object


def test_the_compiler_calling_its_runtime_under_an_export_name_fails(tmp_path):
    from wasmelt.toolchains.stage import StageError

    # As if the compiler had lowered a copy to a memcpy call (on ARM it calls __aeabi_memcpy).
    (tmp_path / "m.c").write_text("void *memcpy(void *, const void *, unsigned);\n"
                                  "void copy(char *a, char *b, unsigned n) { memcpy(a, b, n); }\n")
    compile_c(tmp_path / "m.c", tmp_path / "m.o", "zig", "cortex-m4", "size")
    facts = elf_facts((tmp_path / "m.o").read_bytes())
    with pytest.raises(StageError, match="the compiled code calls the C runtime's `memcpy`, which the export of the "
                                         "same name would replace"):
        check_runtime_names(facts, {"memcpy": 0})


def test_functions_32_and_64_do_not_collide_with_the_float_types(tmp_path):
    # Internal functions are named f<index>; f32 and f64 are also the C float types.
    funcs = " ".join(f"(func $f{i} (param i32) (result i32) (i32.add (local.get 0) (i32.const {i})))" for i in range(70))
    wasm = wat(f'(module {funcs} (func (export "both") (param i32) (result i32) '
               "(call $f64 (call $f32 (local.get 0)))))")
    proc = synth(tmp_path, wasm)
    assert proc.returncode == 0, proc.stderr
    results = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m4", [{"call": "both", "args": [1]}], HostStubs())
    assert not results[0].problems and results[0].firmware.results == (97,)


@pytest.mark.skipif(not __import__("shutil").which("wasm2c"), reason="wabt not installed (apt-get install wabt)")
@pytest.mark.parametrize("cc", ["zig", "gcc"])
def test_wasm2c_adapter_compiles_with_either_compiler(tmp_path, cc):
    if cc == "gcc" and not __import__("shutil").which("arm-none-eabi-gcc"):
        pytest.skip("arm-none-eabi-gcc not installed")
    wasm = wat('(module (memory 1) (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))')
    proc = synth(tmp_path, wasm, "cortex-m0", "--toolchain", "wasm2c", "--cc", cc)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["sections"]["text"] > 0 and report["toolchain"] == "wasm2c"


@pytest.mark.parametrize("cpu, cc, opt, core", [
    ("cortex-m0", "zig", "size", "armv6m"), ("cortex-m0plus", "zig", "size", "armv6m"),
    ("cortex-m4", "zig", "size", "thumb2"), ("cortex-m3", "zig", "size", "thumb2"), ("rv32imc", "zig", "size", "rv32"),
    ("cortex-m0", "gcc", "size", None), ("cortex-m4", "zig", "speed", None)])
def test_the_lowered_c_compiles_without_the_llvm_passes_that_cost_flash(tmp_path, monkeypatch, cpu, cc, opt, core):
    """The synth compiles its C at size without loop strength reduction and
    tail duplication; on ARMv6-M also without constant hoisting and jump
    tables, on Thumb-2 with ext-TSP block placement; gcc and opt = "speed" get
    only -Werror."""
    from wasmelt.toolchains import synth as synth_mod

    class Compiled(Exception):
        pass

    seen = []

    def record(source, obj, *args, extra=(), **kwargs):
        seen.append(list(extra))
        raise Compiled  # the flags are what is checked; nothing needs compiling

    monkeypatch.setattr(synth_mod, "compile_c", record)
    (tmp_path / "in.wasm").write_bytes(wat('(module (func (export "f")))'))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(Compiled):
        synth_mod.main(["--cpu", cpu, "--cc", cc, "--opt", opt, "--out", "out.o", "--header", "out.h",
                        "--report", "out.json", "--", "in.wasm"])
    [extra] = seen
    llvm = ["-mllvm", "-disable-lsr", "-mllvm", "-tail-dup-placement=false"]
    per_core = {"armv6m": ["-mllvm", "-disable-constant-hoisting", "-fno-jump-tables"],
                "thumb2": ["-mllvm", "-enable-ext-tsp-block-placement"], "rv32": []}
    assert extra == ["-Werror"] + ([] if core is None else llvm + per_core[core]), extra
