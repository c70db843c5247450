"""Arm and RISC-V targets from one BUILD.toml through the CLI: `synth_cc =
"gcc"` picks each family's gcc, the RISC-V firmware test passes in emulation,
a budget fails the RISC-V build with its message, and the cache holds."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from elftools.elf.elffile import ELFFile

pytestmark = pytest.mark.skipif(not (shutil.which("riscv64-unknown-elf-gcc") and shutil.which("arm-none-eabi-gcc")),
                                reason="apt-get install gcc-riscv64-unknown-elf gcc-arm-none-eabi")

BUILD = """
[workspace]
name = "mixed"
synth_cc = "gcc"

[[component]]
name = "core"
srcs = ["core.wat"]

[[synth]]
name = "arm"
src = ":core"
cpu = "cortex-m0"

[[synth]]
name = "c3"
src = ":core"
cpu = "esp32c3"
max_text_bytes = {budget}

[[firmware_test]]
name = "c3_test"
firmware = ":c3"
imports = "host_stubs.toml"
cases = [{{ call = "mix", args = [7, 3], expect = [{expect}] }}, {{ call = "mix", args = [1, 0], trap = "integer_divide_by_zero" }}]
random_cases = 20
"""
CORE = """(module
  (import "hw" "led" (func $led (param i32)))
  (func (export "mix") (param i32 i32) (result i32)
    (call $led (local.get 0))
    (i32.add (i32.div_u (i32.const 1000) (local.get 1)) (i32.mul (local.get 0) (local.get 0)))))
"""


def _setup(workspace, budget: int = 4096, expect: int = 382):
    workspace.write("BUILD.toml", BUILD.format(budget=budget, expect=expect))
    workspace.write("core.wat", CORE)
    workspace.write("host_stubs.toml", '[imports."hw.led"]\nreturns = []\n')


def test_one_graph_two_families_with_gcc(workspace):
    _setup(workspace)
    build = workspace.run("build", "//...")
    assert build.code == 0, build.err
    run = workspace.run("test", "//...")
    assert run.code == 0, run.out + run.err
    assert "PASSED: //:c3_test" in run.out
    arm = ELFFile(io.BytesIO((workspace.root / "wasmelt-out/arm/arm.o").read_bytes()))
    rv = ELFFile(io.BytesIO((workspace.root / "wasmelt-out/c3/c3.o").read_bytes()))
    assert arm["e_machine"] == "EM_ARM" and rv["e_machine"] == "EM_RISCV" and rv["e_flags"] == 0x1
    assert rv.get_section_by_name(".riscv.attributes") is not None
    report = json.loads((workspace.root / "wasmelt-out/c3/c3.size.json").read_text())
    assert report["cc"] == "gcc" and report["cpu"] == "esp32c3" and "led" in report["undefined"]
    assert workspace.run("build", "//...").counts["executed"] == 0


def test_a_wrong_expectation_fails_in_riscv_emulation(workspace):
    _setup(workspace, expect=383)
    run = workspace.run("test", "//:c3_test")
    assert run.code == 1
    assert "expected results [383], firmware gave results [382]" in run.out and "0 passed, 1 failed" in run.out


def test_riscv_budget_fails_the_build_naming_the_function(workspace):
    _setup(workspace, budget=8)
    run = workspace.run("build", "//:c3")
    assert run.code == 1
    assert "size budget exceeded: text is" in run.err and "over the budget of 8 B" in run.err and "mix" in run.err
    assert "Traceback" not in run.err
