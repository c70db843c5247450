"""The inputs of the per-stage benchmarks: the example app's components and a
larger generated C application, built with the real stage drivers.

Each input set carries its components (root first), the DCE roots, and the
builtin fused and DCE'd modules, so every stage is measured on the same
bytes its peer gets: fuse on the components, DCE on the builtin fused module,
synth on the builtin DCE output.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "app"
EXAMPLE_COMPONENTS = [("app", "app.c"), ("kernel", "kernel.wat"), ("payload", "payload.rs")]
EXAMPLE_ROOTS = ["init", "tick"]
# The example's BUILD.toml fuses with these; the generated app uses the same.
FUSE_FLAGS = ["--memory", "shared", "--address-rebase", "--pack", "--share-stack"]


@dataclass
class InputSet:
    name: str
    components: list[tuple[str, Path]]  # (component name, core module), root first
    roots: list[str]
    work: Path
    fused: Path | None = None
    fuse_report: Path | None = None
    lean: Path | None = None
    notes: dict = field(default_factory=dict)
    c_sources: list[Path] | None = None  # when every component is C: what a native build compiles


def _driver(stage: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", f"wasmelt.toolchains.{stage}", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"the {stage} driver failed on {cwd}: {proc.stderr.strip()}")
    return proc


def build_component(work: Path, name: str, source: Path) -> Path:
    """One component through the component driver, as `wasmelt build` runs it."""
    folder = work / f"component-{name}"
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, folder / source.name)
    _driver("component", ["--label", f"//bench:{name}", "--out", "out.wasm", "--report", "report.json",
                          "--no-grow", "--", source.name], folder)
    return folder / "out.wasm"


def fuse_command(components: list[tuple[str, Path]], out: Path, toolchain: str = "builtin") -> list[str]:
    return [sys.executable, "-m", "wasmelt.toolchains.fuse", "--toolchain", toolchain, "--out", str(out),
            "--import-map", str(out.with_suffix(".imports.json")),
            "--provenance", str(out.with_suffix(".provenance.json")),
            "--report", str(out.with_suffix(".report.json")), *FUSE_FLAGS, "--",
            *[f"{name}=//bench:{name}={path}" for name, path in components]]


def dce_command(src: Path, out: Path, roots: list[str], *, toolchain: str = "builtin", strip: bool = False) -> list[str]:
    args = [sys.executable, "-m", "wasmelt.toolchains.dce", "--toolchain", toolchain, "--out", str(out),
            "--report", str(out.with_suffix(".report.json"))]
    for root in roots:
        args += ["--root", root]
    return args + (["--strip"] if strip else []) + ["--", str(src)]


def synth_command(src: Path, out: Path, roots: list[str], *, toolchain: str, cpu: str, cc: str,
                  bounds: str = "none", fuse_report: Path | None = None) -> list[str]:
    args = [sys.executable, "-m", "wasmelt.toolchains.synth", "--toolchain", toolchain, "--cpu", cpu, "--cc", cc,
            "--bounds", bounds, "--out", str(out), "--header", str(out.with_suffix(".h")),
            "--report", str(out.with_suffix(".size.json"))]
    for root in roots:
        args += ["--root", root]
    if fuse_report is not None:
        args += ["--fuse-report", str(fuse_report)]
    return args + ["--", str(src)]


def _check(cmd: list[str]) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} … failed: {proc.stderr.strip()}")


def finish(inputs: InputSet) -> InputSet:
    """The builtin fused and DCE'd modules: the inputs of the later stages."""
    stages = inputs.work / "stages"
    stages.mkdir(parents=True, exist_ok=True)
    inputs.fused = stages / "fused.wasm"
    inputs.fuse_report = inputs.fused.with_suffix(".report.json")
    _check(fuse_command(inputs.components, inputs.fused))
    inputs.lean = stages / "lean.wasm"
    _check(dce_command(inputs.fused, inputs.lean, inputs.roots))
    return inputs


def example(work: Path) -> InputSet:
    """examples/app: a C control loop, a WAT kernel and a Rust no_std payload."""
    work = work / "example"
    components = [(name, build_component(work, name, EXAMPLE / src)) for name, src in EXAMPLE_COMPONENTS]
    return finish(InputSet("example", components, list(EXAMPLE_ROOTS), work))


# -- a larger generated application -----------------------------------------------


def _library_source(name: str, index: int, functions: int, rng: random.Random) -> tuple[str, list[str]]:
    """A C library component: lookup tables, filter state, a state machine and
    helper chains; every function exported, so DCE has work to do."""
    lines = ["#include <stdint.h>", '#define EXPORT(n) __attribute__((export_name(n)))', ""]
    exported = []
    for f in range(functions):
        fn = f"{name}_f{f}"
        kind = (f + index) % 4
        callee = f"{name}_f{rng.randrange(f)}" if f else None
        if kind == 0:
            table = ", ".join(str(rng.randrange(256)) for _ in range(32))
            lines += [f"static const uint8_t {fn}_tab[32] = {{{table}}};",
                      f"EXPORT(\"{fn}\") int32_t {fn}(int32_t x) {{",
                      f"    int32_t acc = {rng.randrange(1, 99)};",
                      "    for (int i = 0; i < 4; i++) acc = acc * 33 + " + f"{fn}_tab[(x >> (i * 5)) & 31];",
                      f"    return acc{' + ' + callee + '(x >> 1)' if callee else ''};", "}"]
        elif kind == 1:
            lines += [f"static int32_t {fn}_state[8];", f"static uint32_t {fn}_pos;",
                      f"EXPORT(\"{fn}\") int32_t {fn}(int32_t x) {{",
                      f"    int32_t prev = {fn}_state[{fn}_pos & 7];",
                      f"    int32_t next = prev + ((x - prev) >> {rng.randrange(1, 4)});",
                      f"    {fn}_state[++{fn}_pos & 7] = next;",
                      "    int32_t sum = 0;", f"    for (int i = 0; i < 8; i++) sum += {fn}_state[i];",
                      f"    return sum / 8{' ^ ' + callee + '(next)' if callee else ''};", "}"]
        elif kind == 2:
            cases = "\n".join(f"    case {c}: s = (s * {rng.randrange(3, 17)} + x) & 0xFFFF; break;" for c in range(6))
            lines += [f"static int32_t {fn}_s = {rng.randrange(100)};",
                      f"EXPORT(\"{fn}\") int32_t {fn}(int32_t x) {{",
                      f"    int32_t s = {fn}_s;", "    switch ((uint32_t)x % 7u) {", cases,
                      "    default: s = s ^ x;", "    }", f"    {fn}_s = s;",
                      f"    return {(callee + '(s) - ') if callee else ''}s;", "}"]
        else:
            k = rng.randrange(3, 29)
            lines += [f"EXPORT(\"{fn}\") int32_t {fn}(int32_t x) {{",
                      f"    uint32_t h = (uint32_t)x * 2654435761u;",
                      f"    h ^= h >> {k}; h *= 0x85EBCA6Bu; h ^= h >> 13;",
                      f"    return (int32_t)(h % 1000u){' + ' + callee + '((int32_t)h)' if callee else ''};", "}"]
        exported.append(fn)
        lines.append("")
    return "\n".join(lines), exported


def _root_source(libraries: dict[str, list[str]], rng: random.Random) -> str:
    """The root: `init` and `step` use part of every library; `diagnostics`
    uses the rest and is no DCE root."""
    lines = ["#include <stdint.h>", '#define EXPORT(n) __attribute__((export_name(n)))',
             '#define IMPORT(m, n) __attribute__((import_module(m), import_name(n)))', ""]
    used, unused = [], []
    for lib, functions in libraries.items():
        for fn in functions:
            lines.append(f'IMPORT("{lib}", "{fn}") int32_t {fn}(int32_t);')
        cut = max(1, len(functions) // 2)
        used += functions[cut - 2:cut + 2]  # the tops of call chains pull in part of the rest
        unused += functions[:1] + functions[-1:]
    lines += ["", "static int32_t history[16];", "static uint32_t ticks;", "",
              'EXPORT("init") int32_t init(void) {', "    int32_t acc = 0;",
              "    for (int i = 0; i < 16; i++) history[i] = i;", "    ticks = 0;"]
    lines += [f"    acc += {fn}({rng.randrange(1000)});" for fn in used[: len(used) // 2]]
    lines += ["    return acc;", "}", "", 'EXPORT("step") int32_t step(int32_t input) {',
              "    int32_t x = input ^ history[ticks++ & 15];"]
    lines += [f"    x = {fn}(x) + {rng.randrange(1, 9)};" for fn in used]
    lines += ["    history[ticks & 15] = x;", "    return x;", "}", "",
              'EXPORT("diagnostics") int32_t diagnostics(int32_t seed) {', "    int32_t acc = seed;"]
    lines += [f"    acc = acc * 31 + {fn}(acc);" for fn in unused]
    lines += ["    return acc;", "}", ""]
    return "\n".join(lines)


def generated(work: Path, libraries: int = 4, functions: int = 24, seed: int = 1) -> InputSet:
    """A root C component and `libraries` C library components of `functions`
    exported functions each; roots init and step reach about half of them."""
    work = work / f"generated-{libraries}x{functions}"
    src = work / "src"
    src.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    libs = {}
    for i in range(libraries):
        name = f"lib{i}"
        text, exported = _library_source(name, i, functions, rng)
        (src / f"{name}.c").write_text(text)
        libs[name] = exported
    (src / "ctl.c").write_text(_root_source(libs, rng))
    components = [("ctl", build_component(work, "ctl", src / "ctl.c"))]
    components += [(name, build_component(work, name, src / f"{name}.c")) for name in libs]
    inputs = InputSet(f"generated {libraries}x{functions}", components, ["init", "step"], work,
                      c_sources=[src / "ctl.c", *(src / f"{name}.c" for name in libs)])
    inputs.notes = {"libraries": libraries, "functions_per_library": functions, "seed": seed}
    return finish(inputs)


def all_inputs(work: Path, quick: bool = False) -> list[InputSet]:
    sets = [example(work)]
    if not quick:
        sets.append(generated(work))
    return sets


def describe(inputs: InputSet) -> dict:
    return {"name": inputs.name, "components": {n: p.stat().st_size for n, p in inputs.components},
            "roots": inputs.roots, "fused_bytes": inputs.fused.stat().st_size if inputs.fused else None,
            "lean_bytes": inputs.lean.stat().st_size if inputs.lean else None,
            "fuse_report": json.loads(inputs.fuse_report.read_text()) if inputs.fuse_report else None, **inputs.notes}
