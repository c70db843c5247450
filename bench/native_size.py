"""Native size: a bench input's C sources compiled directly for the MCU (gcc
and zig cc, -Os, -ffunction-sections -fdata-sections, freestanding, no unwind
tables) next to wasmelt's
object, both linked by the CPU family's GNU ld with --gc-sections from the
same roots, so section merging and RISC-V call relaxation apply to both.

linked_sections(objects, roots, cpu, out) -> .text/.rodata/.data/.bss of the link;
compare(c_sources, roots, cpu, wasmelt_objects, work) -> rows for one CPU.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from wasmelt.toolchains.cpus import ARM, cpu as cpu_named
from wasmelt.toolchains.synth import elf_facts

# What a bare-metal firmware build uses: no libc headers but the compiler's own
# (<stdint.h>), and no unwind tables (zig emits them for Arm by default, and
# they would drag libgcc's unwinder and memcpy into the link).
NATIVE_FLAGS = ["-Os", "-ffunction-sections", "-fdata-sections", "-ffreestanding", "-fno-unwind-tables",
                "-fno-asynchronous-unwind-tables"]
LINKERS = {ARM: "arm-none-eabi-gcc"}  # every other family: riscv64-unknown-elf-gcc


def gcc_for(cpu: str) -> str | None:
    return shutil.which(LINKERS.get(cpu_named(cpu).family, "riscv64-unknown-elf-gcc"))


def _run(cmd: list[str], cwd: Path) -> None:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        errors = [l for l in proc.stderr.splitlines() if "warning" not in l and "NOTE" not in l]
        raise RuntimeError(f"{Path(cmd[0]).name} … failed: {' '.join(errors)[-400:]}")


def compile_native(sources: list[Path], cpu: str, cc: str, work: Path, copts: list[str] = ()) -> list[Path]:
    """One object per C source, compiled as a firmware build would (the
    wasm import/export attributes are ignored, so imports become calls);
    `copts` after the usual flags."""
    target = cpu_named(cpu)
    if cc == "gcc":
        base = [gcc_for(cpu), *target.gcc_flags()]
    else:
        base = [sys.executable, "-m", "ziglang", "cc", *target.zig_flags()]
    work.mkdir(parents=True, exist_ok=True)
    objects = []
    for source in sources:
        obj = work / f"{source.stem}.o"
        _run([*base, *NATIVE_FLAGS, *copts, "-Wno-attributes", "-Wno-unknown-attributes", "-c", str(source), "-o",
              str(obj)], work)
        objects.append(obj)
    return objects


def linked_sections(objects: list[Path], roots: list[str], cpu: str, out: Path, runtime_outside: bool = False) -> dict:
    """Link without start files or libc, keeping what the roots reach, with
    libgcc for compiler helpers; the section sizes of the result. With
    `runtime_outside`, symbols nothing here defines are left undefined (a
    runtime the firmware brings, such as wasm2c's wasm-rt)."""
    gcc = gcc_for(cpu)
    flags = cpu_named(cpu).gcc_flags()
    keep = [f"-Wl,-u,{r}" for r in roots[1:]]
    outside = ["-Wl,--unresolved-symbols=ignore-all"] if runtime_outside else []
    _run([gcc, *flags, "-nostdlib", "-Wl,--gc-sections", *outside, f"-Wl,-e,{roots[0]}", *keep, *map(str, objects),
          "-lgcc", "-o", str(out)], out.parent)
    return elf_facts(out.read_bytes())["sections"]


def compare(c_sources: list[Path], roots: list[str], cpu: str, wasmelt_objects: dict[str, Path], work: Path) -> list[dict]:
    """Per compiler: native linked .text against wasmelt's object (.o and
    linked) built by the same compiler from the fused, DCE'd wasm."""
    if gcc_for(cpu) is None:
        return [{"cpu": cpu, "error": f"no {LINKERS.get(cpu_named(cpu).family, 'riscv64-unknown-elf-gcc')} to link with"}]
    rows = []
    for cc, obj in wasmelt_objects.items():
        folder = work / f"native-{cc}-{cpu}"
        try:
            native = linked_sections(compile_native(c_sources, cpu, cc, folder), roots, cpu, folder / "native.elf")
            ours = linked_sections([obj], roots, cpu, folder / "wasmelt.elf")
        except RuntimeError as e:
            rows.append({"cpu": cpu, "cc": cc, "error": str(e)})
            continue
        rows.append({"cpu": cpu, "cc": cc, "native": native, "wasmelt_linked": ours,
                     "wasmelt_object_text": elf_facts(obj.read_bytes())["sections"]["text"]})
    return rows
