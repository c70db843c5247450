"""The builtin synth on RV32 RISC-V: every instruction class behaves in
RISC-V emulation as in wasmtime, the ilp32/ilp32f/ilp32d conventions hold
across registers and the stack, objects follow the contract on every RV32
cpu, a wrong object is refused, and stack depth reads RISC-V prologues."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

from corpus import MODULES
from test_synth import cases_for, synth
from wasm_harness import wat
from wasmelt.toolchains.cpus import CPUS, RISCV, cpu as cpu_named
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs
from wasmelt.toolchains.stage import StageError

RV_CPUS = [c for c in CPUS if cpu_named(c).family == RISCV]
# Every class on the common part; the float ABIs and the bare base on what they change.
CLASSES = [(name, "rv32imac") for name in sorted(MODULES)] + [
    ("f32_ops", "rv32imafc"), ("f64_ops", "rv32gc"), ("conversions", "rv32gc"), ("i64_ops", "rv32i")]
needs_gcc = pytest.mark.skipif(not shutil.which("riscv64-unknown-elf-gcc"),
                               reason="apt-get install gcc-riscv64-unknown-elf")


@pytest.mark.parametrize("name, cpu", CLASSES)
def test_instruction_classes_match_wasmtime(tmp_path, name, cpu):
    text, values = MODULES[name]
    wasm = wat(text)
    proc = synth(tmp_path, wasm, cpu)
    assert proc.returncode == 0, proc.stderr
    results = compare((tmp_path / "out.o").read_bytes(), wasm, cpu, cases_for(wasm, values), HostStubs())
    failures = [(r.case, r.problems) for r in results if r.problems]
    assert not failures, failures[:5]
    assert len(results) > 5


# Nine of each kind: a0-a7 and fa0-fa7 run out, an i64 is split between a7
# and the stack, and the results come back in a0-a1, fa0-fa1 or memory.
ABI_MODULE = """(module
  (import "hw" "sink" (func $sink (param i32 i64 f32 f64 i32 i64 f32 f64 i32 i64 f32 f64 i32 i32 i64 f64 f32 f32 f32 f32 f32)))
  (import "hw" "src" (func $src (result f64)))
  (func (export "spill") (param i32 i32 i32 i32 i32 i32 i32 i64 i64 f32 f64 f32 f32 f32 f32 f32 f32 f32 f32 f64) (result f64)
    (f64.add
      (f64.add (f64.convert_i64_s (i64.add (local.get 7) (local.get 8)))
               (f64.convert_i32_s (i32.sub (local.get 0) (local.get 6))))
      (f64.add (f64.mul (local.get 10) (f64.promote_f32 (local.get 17)))
               (f64.add (local.get 19) (f64.promote_f32 (f32.sub (local.get 18) (local.get 9)))))))
  (func (export "call_out") (param i32 i64 f32 f64) (result f64)
    (call $sink (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const -1) (i64.const 0x7fffffff00000001)
      (f32.const 0.25) (f64.const -1e300) (i32.const 9) (local.get 1) (local.get 2) (local.get 3) (i32.const 13)
      (i32.const 14) (i64.const -2) (f64.const 2.5) (f32.const 1) (f32.const 2) (f32.const 3) (f32.const 4) (f32.const 5))
    (f64.add (call $src) (local.get 3)))
  (func (export "two_floats") (param f32 f32) (result f32 f32) (local.get 1) (local.get 0))
  (func (export "float_int") (param f32 i32) (result f32 i32) (local.get 0) (i32.add (local.get 1) (i32.const 1)))
  (func (export "int_double") (param i32 f64) (result i32 f64) (local.get 0) (local.get 1))
  (func (export "two_doubles") (param f64 f64) (result f64 f64) (local.get 1) (local.get 0))
  (func (export "two_ints") (param i32 i32) (result i32 i32) (local.get 1) (local.get 0))
  (func (export "three") (param i64 i32 f32) (result i64 i32 f32) (local.get 0) (local.get 1) (local.get 2)))"""


@pytest.mark.parametrize("cpu", ["rv32imac", "rv32imafc", "rv32gc"])
def test_calling_convention_across_registers_and_stack(tmp_path, cpu):
    wasm = wat(ABI_MODULE)
    proc = synth(tmp_path, wasm, cpu)
    assert proc.returncode == 0, proc.stderr
    cases = [
        {"call": "spill", "args": [1, 2, 3, 4, 5, 6, -7, (1 << 40) + 3, -(1 << 33), 1.5, -2.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5,
                                   8.0, 1e10]},
        {"call": "call_out", "args": [-3, -(1 << 50), 3.5, 1e-300]},
        {"call": "two_floats", "args": [1.5, -0.75]}, {"call": "float_int", "args": [2.5, 41]},
        {"call": "int_double", "args": [-8, 3.25]}, {"call": "two_doubles", "args": [1e200, -4.5]},
        {"call": "two_ints", "args": [7, -9]}, {"call": "three", "args": [-(1 << 60), 5, 0.125]},
    ]
    stubs = HostStubs({"hw.src": [0.5], "hw.sink": []})
    results = compare((tmp_path / "out.o").read_bytes(), wasm, cpu, cases, stubs)
    assert [r.problems for r in results] == [[]] * len(cases)
    sink = results[1].firmware.calls[0]
    assert sink.name == "hw.sink" and sink.args[:4] == (-3, -(1 << 50), 3.5, 1e-300)
    assert sink.args[14:] == (-2, 2.5, 1.0, 2.0, 3.0, 4.0, 5.0)
    assert results[1].firmware.results == (0.5 + 1e-300,)
    assert results[7].firmware.results == (-(1 << 60), 5, 0.125)


@pytest.mark.parametrize("cpu", RV_CPUS)
def test_object_contract_on_every_rv32_cpu(tmp_path, cpu):
    wasm = wat("""(module (import "env" "gust:os/time@0.1.0#now" (func $now (result i64)))
      (func (export "run-demo") (param i32) (result i64) (i64.add (call $now) (i64.extend_i32_u (local.get 0))))
      (func (export "scale") (param f32) (result f32) (f32.mul (local.get 0) (f32.const 3)))
      (func (export "gust:os/time@0.1.0#deadline") (result i32) (i32.const 7)))""")
    proc = synth(tmp_path, wasm, cpu, "--size-table", "out.table.json")
    assert proc.returncode == 0, proc.stderr
    target = cpu_named(cpu)
    elf = ELFFile(io.BytesIO((tmp_path / "out.o").read_bytes()))
    assert elf.elfclass == 32 and elf["e_machine"] == "EM_RISCV" and elf["e_type"] == "ET_REL"
    assert bool(elf["e_flags"] & 1) == ("c" in target.extensions)  # EF_RISCV_RVC
    assert elf["e_flags"] & 6 == {"ilp32": 0, "ilp32f": 2, "ilp32d": 4}[target.abi]
    arch = elf.get_section_by_name(".riscv.attributes").data()
    assert b"rv32i" in arch and (b"_c" in arch) == ("c" in target.extensions)
    symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for export in ("run-demo", "scale", "gust:os/time@0.1.0#deadline"):
        assert symbols[export]["st_info"]["type"] == "STT_FUNC" and symbols[export]["st_info"]["bind"] == "STB_GLOBAL"
    assert symbols["gust:os/time@0.1.0#now"]["st_shndx"] == "SHN_UNDEF"
    soft_float = {s for s, sym in symbols.items() if sym["st_shndx"] == "SHN_UNDEF" and s.startswith("__mulsf3")}
    assert bool(soft_float) == (target.abi == "ilp32")  # f32.mul is a libcall without F
    assert 'wasm_run_demo(uint32_t) __asm__("run-demo")' in (tmp_path / "out.h").read_text()
    report = json.loads((tmp_path / "out.json").read_text())
    text = sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith(".text"))
    assert report["cpu"] == cpu and report["sections"]["text"] == text
    table = json.loads((tmp_path / "out.table.json").read_text())
    assert table["title"].startswith(cpu + (" (rv32imc)" if cpu == "esp32c3" else " (rv32imafdc)" if cpu == "rv32gc"
                                           else "") + ", builtin toolchain")


def test_esp32c3_is_rv32imc(tmp_path):
    wasm = wat('(module (func (export "f") (param i32) (result i32) (i32.mul (local.get 0) (i32.const 3))))')
    assert synth(tmp_path / "a", wasm, "esp32c3").returncode == 0
    assert synth(tmp_path / "b", wasm, "rv32imc").returncode == 0
    assert (tmp_path / "a/out.o").read_bytes() == (tmp_path / "b/out.o").read_bytes()


@needs_gcc
def test_gcc_builds_an_object_that_agrees(tmp_path):
    text, values = MODULES["i64_ops"]
    wasm = wat(text)
    proc = synth(tmp_path, wasm, "rv32imac", "--cc", "gcc")
    assert proc.returncode == 0, proc.stderr
    obj = (tmp_path / "out.o").read_bytes()
    elf = ELFFile(io.BytesIO(obj))
    assert elf["e_machine"] == "EM_RISCV" and elf["e_flags"] == 1
    results = compare(obj, wasm, "rv32imac", cases_for(wasm, values), HostStubs())
    assert not [r for r in results if r.problems]


def _facts(**changes) -> dict:
    return {"machine": "EM_RISCV", "class": 32, "type": "ET_REL", "flags": 0x1, "arch": "rv32i2p1_m2p0_a2p1_c2p0",
            **changes}


@pytest.mark.parametrize("changes, message", [
    ({"machine": "EM_ARM"}, "did not produce an ELF32 RISC-V relocatable object (got EM_ARM"),
    ({"type": "ET_EXEC"}, "did not produce an ELF32 RISC-V relocatable object"),
    ({"flags": 0x3}, "does not fit rv32imac (RISC-V rv32imac (ilp32)): its float ABI is ilp32f, not ilp32"),
    ({"arch": "rv32i2p1_m2p0_a2p1_f2p2_c2p0_zicsr2p0"}, "it needs the f extension(s)"),
])
def test_an_object_for_another_cpu_is_refused(changes, message):
    from wasmelt.toolchains.synth import check_machine

    check_machine(_facts(), cpu_named("rv32imac"), "builtin")
    with pytest.raises(StageError, match=__import__("re").escape(message)):
        check_machine(_facts(**changes), cpu_named("rv32imac"), "builtin")
    with pytest.raises(StageError, match="compressed"):
        check_machine(_facts(arch="rv32i2p1_m2p0"), cpu_named("rv32im"), "builtin")


def test_seam_check_wants_exports_in_code():
    from wasmelt.toolchains.synth import check_seam

    facts = {"defined": {"tick": {"thumb": False, "code": False}}, "undefined": ["__mulsi3", "__floatsisf"]}
    with pytest.raises(StageError, match="exports that are not functions in a code section: tick"):
        check_seam(facts, ["tick"], {}, RISCV)
    check_seam({**facts, "defined": {"tick": {"thumb": False, "code": True}}}, ["tick"], {}, RISCV)


FRAMES_C = """void use(char *);
int small(int x) { char b[20]; use(b); return x; }
int mid(int x) { char b[1500]; use(b); return x; }
int big(int x) { char b[5000]; use(b); return x; }
int chain(int x) { return mid(x) + 1; }
int fib(int x) { return x < 2 ? x : fib(x - 1) + fib(x - 2); }
"""


@pytest.mark.parametrize("cc, cpu", [("zig", "rv32imac"), ("zig", "rv32i"),
                                     pytest.param("gcc", "rv32imac", marks=needs_gcc),
                                     pytest.param("gcc", "rv32i", marks=needs_gcc)])
def test_stack_depth_reads_riscv_prologues(tmp_path, cc, cpu):
    from wasmelt.toolchains.synth import compile_c, elf_facts, stack_usage

    (tmp_path / "frames.c").write_text(FRAMES_C)
    compile_c(tmp_path / "frames.c", tmp_path / "frames.o", cc, cpu, "size")
    obj = (tmp_path / "frames.o").read_bytes()
    stack = stack_usage(obj, elf_facts(obj))
    assert 24 <= stack["small"] <= 64
    assert 1500 <= stack["mid"] <= 1600  # one addi
    assert 5000 <= stack["big"] <= 5100  # lui + add sp: over the 2 KiB of an addi
    assert stack["chain"] >= stack["mid"] + 16 or stack["chain"] >= stack["mid"] and cc == "zig"
    assert stack["fib"] is None  # recursion: unbounded


def test_small_data_sections_count_as_data_and_bss(tmp_path):
    from wasmelt.toolchains.synth import elf_facts

    if not shutil.which("riscv64-unknown-elf-gcc"):
        pytest.skip("apt-get install gcc-riscv64-unknown-elf")
    (tmp_path / "d.c").write_text("int counter; int seed = 5; int big[100];\n"
                                  "int f(void) { return counter++ + seed + big[3]; }\n")
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", "-Os", "-fdata-sections", "-c",
                    "d.c", "-o", "d.o"], cwd=tmp_path, check=True)
    facts = elf_facts((tmp_path / "d.o").read_bytes())
    assert {".sbss.counter", ".sdata.seed"} <= set(facts["per_section"])
    assert facts["sections"]["bss"] == 404 and facts["sections"]["data"] == 4


def test_unknown_cpu_is_refused_by_the_driver(tmp_path):
    wasm = wat('(module (func (export "f")))')
    proc = synth(tmp_path, wasm, "rv64gc")
    assert proc.returncode == 2 and "invalid choice: 'rv64gc'" in proc.stderr and "rv32imac" in proc.stderr
    (tmp_path / "in.wasm").write_bytes(wasm)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.firmware_test", "--firmware", "x.o",
                           "--reference", "in.wasm", "--result", "r.json", "--cpu", "rv64gc", "--cases", "[]"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 2 and "invalid choice: 'rv64gc'" in proc.stderr


RELOCS_C = r"""int data_word[4] = {11, 22, 33, 44};
__attribute__((noinline)) int helper(int x) { return x + 1000; }
int run(int i) { return data_word[i & 3] + helper(i); }
__asm__(".section .text.via_jal,\"ax\",@progbits\n"
        ".globl via_jal\n.type via_jal, @function\nvia_jal:\n"
        "  addi sp, sp, -16\n  sw ra, 12(sp)\n  jal ra, helper\n  call helper\n"
        ".globl via_jal_end\nvia_jal_end:\n"
        "  lw ra, 12(sp)\n  addi sp, sp, 16\n  ret\n.size via_jal, .-via_jal\n"
        ".section .rodata.span,\"a\"\n.globl span\n.type span, @object\n"
        "span: .4byte via_jal_end - via_jal\n.size span, 4\n");
"""


@needs_gcc
def test_emulation_link_applies_every_riscv_relocation_kind(tmp_path):
    """PC-relative data (medany), JAL, CALL_PLT with RELAX, and an ADD32/SUB32
    pair whose difference the link must redo after relaxing the call."""
    from wasmelt.toolchains.emulator import Signature, link_for_emulation, machine_for

    (tmp_path / "relocs.c").write_text(RELOCS_C)
    subprocess.run(["riscv64-unknown-elf-gcc", "-march=rv32imac", "-mabi=ilp32", "-mcmodel=medany", "-Os",
                    "-ffunction-sections", "-fdata-sections", "-c", "relocs.c", "-o", "relocs.o"], cwd=tmp_path, check=True)
    obj = (tmp_path / "relocs.o").read_bytes()
    elf = ELFFile(io.BytesIO(obj))
    kinds = {r["r_info_type"] for sec in elf.iter_sections() if sec["sh_type"] == "SHT_RELA" for r in sec.iter_relocations()}
    # psABI numbers: JAL 17, CALL_PLT 19, PCREL_HI20 23, PCREL_LO12_I 24, ADD32 35, SUB32 39, RELAX 51
    assert {17, 19, 23, 24, 35, 39, 51} <= kinds
    image = link_for_emulation(obj, [], "rv32imac")
    machine = machine_for("rv32imac", image, HostStubs(), {}, {})
    assert machine.call("run", ["i32"], ["i32"], [2]).results == (33 + 1002,)
    assert machine.call("run", ["i32"], ["i32"], [7]).results == (44 + 1007,)
    assert machine.call("via_jal", ["i32"], ["i32"], [5]).results == (2005,)
    linked = {s.name: s["st_value"] for s in ELFFile(io.BytesIO(image)).get_section_by_name(".symtab").iter_symbols()}
    span = int.from_bytes(machine.uc.mem_read(linked["span"], 4), "little")
    assert span == linked["via_jal_end"] - linked["via_jal"] and span <= 20


@pytest.mark.skipif(not shutil.which("wasm2c"), reason="wabt not installed (apt-get install wabt)")
@pytest.mark.parametrize("cc", ["zig", pytest.param("gcc", marks=needs_gcc)])
def test_wasm2c_adapter_targets_riscv_too(tmp_path, cc):
    wasm = wat('(module (memory 1) (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))')
    proc = synth(tmp_path, wasm, "rv32imc", "--toolchain", "wasm2c", "--cc", cc)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["sections"]["text"] > 0 and report["toolchain"] == "wasm2c" and report["cpu"] == "rv32imc"
    assert ELFFile(io.BytesIO((tmp_path / "out.o").read_bytes()))["e_machine"] == "EM_RISCV"
