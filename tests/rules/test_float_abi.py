"""`float_abi` on `synth` through the CLI: an FPU part's default object is
hard-float, `soft` gives an `eabi` object that passes its firmware test in the
emulator, and `hard` on a part without an FPU is refused naming the attribute."""

from __future__ import annotations

import io

from elftools.elf.elffile import ELFFile

EF_ARM_ABI_FLOAT_HARD = 0x400

BUILD = """
[workspace]
name = "fp"

[[component]]
name = "core"
srcs = ["core.wat"]

[[synth]]
name = "hard"
src = ":core"
cpu = "cortex-m7"

[[synth]]
name = "soft"
src = ":core"
cpu = "{cpu}"
float_abi = "{abi}"

[[firmware_test]]
name = "soft_test"
firmware = ":soft"
cases = [{{ call = "scale", args = [1.5, 4], expect = [7.0] }}]
random_cases = 20
"""
CORE = """(module
  (func (export "scale") (param f32 i32) (result f32)
    (f32.add (f32.mul (local.get 0) (f32.convert_i32_s (local.get 1))) (f32.const 1))))
"""


def _setup(workspace, cpu="cortex-m7", abi="soft"):
    workspace.write("BUILD.toml", BUILD.format(cpu=cpu, abi=abi))
    workspace.write("core.wat", CORE)


def _flags(workspace, name: str) -> int:
    return ELFFile(io.BytesIO((workspace.root / f"wasmelt-out/{name}/{name}.o").read_bytes()))["e_flags"]


def test_soft_float_on_an_fpu_part_is_an_eabi_object_that_passes_in_emulation(workspace):
    _setup(workspace)
    assert workspace.run("build", "//...").code == 0
    run = workspace.run("test", "//...")
    assert run.code == 0, run.out + run.err
    assert "PASSED: //:soft_test" in run.out
    assert _flags(workspace, "hard") & EF_ARM_ABI_FLOAT_HARD
    assert not _flags(workspace, "soft") & EF_ARM_ABI_FLOAT_HARD


def test_hard_float_on_a_part_without_an_fpu_is_refused(workspace):
    _setup(workspace, cpu="cortex-m4", abi="hard")
    run = workspace.run("build", "//:soft")
    assert run.code == 2  # a configuration error
    assert "ERROR:" in run.err and '`float_abi = "hard"` needs an FPU, which cortex-m4 has not' in run.err
    assert "cortex-m4f, cortex-m7" in run.err and "Traceback" not in run.err
