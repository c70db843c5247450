"""Differential fuzzing: seeded `wasm-tools smith` modules (MVP, bulk memory,
sign extension, saturating conversions, multi-value, tail calls; no imports) through the
builtin synth, Thumb emulation against wasmtime on random arguments, and the
builtin fuse and DCE against the module they came from.

WASMELT_FUZZ_MODULES (default 20) and WASMELT_FUZZ_SEED set the budget;
`make fuzz` runs a long campaign. A failure is shrunk with `wasm-tools shrink`
into tests/toolchains/synth/fuzz_regressions/ and rerun there for good."""

from __future__ import annotations

import os
import random
import struct
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from smith import smith_modules
from wasm_harness import validate, wasm_tools
from wasmelt.toolchains.builtin.dce import eliminate
from wasmelt.toolchains.builtin.fuse import FuseOptions, fuse
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wasm.model import FUNC
from wasmelt.toolchains.reference import HostStubs, Outcome, run_reference, same_value
from wasmelt.toolchains.emulator import EmulationError, link_for_emulation
from wasmelt.toolchains.thumb_emulator import ThumbMachine

CPU = os.environ.get("WASMELT_FUZZ_CPU", "cortex-m4")  # make fuzz FUZZ_CPU=cortex-m0 for ARMv6-M
SMITH_FLAGS = ("--max-imports", "0", "--min-funcs", "2", "--export-everything", "true", "--max-memories", "1",
               "--max-tables", "1", "--max-memory32-bytes", "131072", "--canonicalize-nans", "true",
               "--ensure-termination", "--allow-start-export", "false")
FEATURES = dict(reference_types=False, tail_call=True)
NUMERIC = ("i32", "i64", "f32", "f64")
REGRESSIONS = Path(__file__).parent / "fuzz_regressions"
POOLS = {"i32": [0, 1, -1, 7, 0x7FFFFFFF, -0x80000000, 65535, 65536, 1 << 20],
         "i64": [0, 1, -1, 0x7FFFFFFFFFFFFFFF, -(1 << 63), 1 << 32, 12345678901],
         "f32": [0.0, -0.0, 1.5, -2.25, 3.4e38, 1e-40, float("inf"), float("-inf"), float("nan"), 0.1],
         "f64": [0.0, -0.0, 1.5, -2.25, 1.7e308, 5e-324, float("inf"), float("-inf"), float("nan"), 0.1]}
# FUSE_OOB: fused with address rebasing, a module's memory sits at an offset in
# one shared memory, so an access past the end of its own memory lands in the
# shared one instead of trapping (found by this fuzzer: fuzz_regressions/fuse-rebase-oob.wasm).
# That is a property of rebasing, not compared here.
# Traps an MCU object cannot reproduce the way wasmtime does (its fuel is a
# wasm global, so out-of-fuel is `unreachable` on both sides).
UNCOMPARABLE = ("stack_overflow",)


@dataclass(frozen=True)
class Finding:
    stage: str
    wasm: bytes
    what: str


def _arg(rng: random.Random, t: str):
    if rng.random() < 0.5:
        return rng.choice(POOLS[t])
    if t in ("i32", "i64"):
        bits = 32 if t == "i32" else 64
        return rng.getrandbits(bits) - (1 << (bits - 1))
    raw = rng.getrandbits(32 if t == "f32" else 64)
    value = struct.unpack("<f" if t == "f32" else "<d", struct.pack("<I" if t == "f32" else "<Q", raw))[0]
    return float("nan") if value != value else value


def _same(a: Outcome, b: Outcome) -> bool:
    return a.trap == b.trap and len(a.results) == len(b.results) and all(
        same_value(x, y) for x, y in zip(a.results, b.results))


def _exports(module) -> list[tuple[str, list[str], list[str]]]:
    found = []
    for e in module.exports:
        if e.kind == FUNC:
            t = module.func_type(e.index)
            if all(p in NUMERIC for p in (*t.params, *t.results)):
                found.append((e.name, list(t.params), list(t.results)))
    return found


def _reference(wasm: bytes, name: str, args: list) -> Outcome | None:
    try:
        return run_reference(wasm, name, args, HostStubs(), grows=False)  # the MCU's memory never grows
    except wasmtime.WasmtimeError:
        return None  # instantiation traps (a segment out of range): the synth refuses those


def _synth(tmp: Path, wasm: bytes) -> subprocess.CompletedProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.wasm").write_bytes(wasm)
    return subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--cpu", CPU, "--bounds", "check",
                           "--out", "out.o", "--header", "out.h", "--report", "out.json", "--", "in.wasm"],
                          cwd=tmp, capture_output=True, text=True)


def check_module(wasm: bytes, tmp: Path, rng: random.Random) -> tuple[list[Finding], int, str | None]:
    """-> (findings, calls compared, decline reason)."""
    module = decode_module(wasm)
    exports = _exports(module)
    calls = [(name, params, [_arg(rng, p) for p in params]) for name, params, _ in exports for _ in range(3)]
    findings = []
    refs = {i: _reference(wasm, name, args) for i, (name, _, args) in enumerate(calls)}
    # DCE and fuse keep behaviour (wasmtime before vs after).
    try:
        dce = eliminate(decode_module(wasm), [n for n, _, _ in exports]).wasm
        fused = fuse([("m", "//fuzz:m", wasm)], FuseOptions()).wasm
    except Exception as e:  # a stage refusing is fine if it says why; a crash is a finding
        if "Error" not in type(e).__name__:
            findings.append(Finding("dce/fuse", wasm, f"{type(e).__name__}: {e}"))
        dce = fused = None
    for stage, out in (("dce", dce), ("fuse", fused)):
        if out is None:
            continue
        validate(out)
        for i, (name, _, args) in enumerate(calls):
            after = _reference(out, name, args) if refs[i] is not None else None
            if stage == "fuse" and refs[i] is not None and refs[i].trap == "out_of_bounds_memory":
                continue  # address rebasing puts the module in a larger shared memory (see FUSE_OOB)
            if refs[i] is not None and not (after is not None and _same(refs[i], after)):
                findings.append(Finding(stage, wasm, f"{name}{tuple(args)}: before {refs[i]}, after {after}"))
    proc = _synth(tmp, wasm)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        if "Traceback" in proc.stderr or not any(ln.startswith("error: ") for ln in lines):
            findings.append(Finding("synth", wasm, f"no clear error: {proc.stderr[-400:]}"))
        return findings, 0, next((ln for ln in lines if ln.startswith("error: ")), "?")
    image = link_for_emulation((tmp / "out.o").read_bytes(), [], CPU, libgcc=True)
    machine = ThumbMachine(image, CPU)
    compared = 0
    sigs = {name: (params, results) for name, params, results in exports}
    for i, (name, params, args) in enumerate(calls):
        ref = refs[i]
        if ref is None or ref.trap in UNCOMPARABLE or name not in machine.symbols:
            continue  # (a name no ELF symbol can be, or one the linker reads as versioned: `@`)
        machine.reset()
        try:
            fw = machine.call(name, params, sigs[name][1], list(args))
        except EmulationError as e:
            findings.append(Finding("synth", wasm, f"{name}{tuple(args)}: {e}"))
            continue
        compared += 1
        if not _same(fw, ref):
            findings.append(Finding("synth", wasm, f"{name}{tuple(args)}: firmware {fw}, wasmtime {ref}"))
    return findings, compared, None


def shrink(finding: Finding, tmp: Path) -> bytes:
    """The smallest module `wasm-tools shrink` finds that still fails the same stage."""
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.wasm").write_bytes(finding.wasm)
    script = tmp / "predicate.sh"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {__file__} --predicate {finding.stage} \"$1\"\n")
    script.chmod(0o755)
    proc = wasm_tools("shrink", str(script), str(tmp / "in.wasm"), "-o", str(tmp / "shrunk.wasm"))
    return (tmp / "shrunk.wasm").read_bytes() if proc.returncode == 0 else finding.wasm


def campaign(count: int, seed: int, tmp: Path) -> tuple[list[Finding], int, dict]:
    rng = random.Random(seed)
    findings, compared, declines = [], 0, {}
    for n, wasm in enumerate(smith_modules(count, seed, *SMITH_FLAGS, entropy=6000, **FEATURES)):
        found, c, declined = check_module(wasm, tmp / f"m{n}", rng)
        findings += found
        compared += c
        if declined:
            declines[declined] = declines.get(declined, 0) + 1
    return findings, compared, declines


def test_fuzz_synth_fuse_and_dce_against_wasmtime(tmp_path):
    count = int(os.environ.get("WASMELT_FUZZ_MODULES", "20"))
    seed = int(os.environ.get("WASMELT_FUZZ_SEED", "2026"))
    findings, compared, declines = campaign(count, seed, tmp_path)
    print(f"fuzz: {count} modules (seed {seed}), {compared} calls compared on Thumb, declined {declines}")
    for i, finding in enumerate(findings[:3]):
        REGRESSIONS.mkdir(exist_ok=True)
        small = shrink(finding, tmp_path / f"shrink{i}")
        (REGRESSIONS / f"{finding.stage}-{seed}-{i}.wasm").write_bytes(small)
    assert not findings, "\n".join(f"[{f.stage}] {f.what}" for f in findings[:10])
    assert compared >= count, (compared, declines)  # the comparison really ran


def test_fuzz_regressions_stay_fixed(tmp_path):
    for path in sorted(REGRESSIONS.glob("*.wasm")) if REGRESSIONS.is_dir() else []:
        findings, _, _ = check_module(path.read_bytes(), tmp_path / path.stem, random.Random(0))
        assert not findings, (path.name, [f.what for f in findings])


def _predicate(stage: str, path: str) -> int:
    """For `wasm-tools shrink`: exit 0 while the module still fails `stage`."""
    import tempfile

    wasm = Path(path).read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            findings, _, _ = check_module(wasm, Path(tmp), random.Random(0))
        except Exception:
            return 1
    return 0 if any(f.stage == stage for f in findings) else 1


if __name__ == "__main__" and sys.argv[1:2] == ["--predicate"]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(_predicate(sys.argv[2], sys.argv[3]))
