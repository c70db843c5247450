"""The `firmware_test` runner: call the synthesized object's exports in
unicorn (Thumb or RISC-V, by its cpu) and the reference module's in
wasmtime, and compare results, the sequence of host calls, and traps, case
by case.

argv(firmware, reference, result, *, cpu, cases, random_cases, seed,
     imports) -> the command line; identities() -> the tools it runs.
Exit 0 when every case agrees (and meets its `expect`), 1 otherwise, with
each mismatch shown as both sides and a diff of the host-call traces.
"""

from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import os
import random
import io
import struct
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .builtin.synth.lower import import_symbols
from .builtin.wasm.decode import decode_module
from .builtin.wasm.model import FUNC
from .component import zig
from .cpus import TABLE
from .identity import ToolIdentity, builtin_tool
from .near_miss import near_misses
from .reference import HostStubs, Outcome, run_reference, same_value
from .stage import StageError, run_stage
from .emulator import EmulationError, Signature, link_for_emulation, machine_for

TEST_FILTER_ENV = "WASMELT_TEST_FILTER"  # wasmelt/commands/test.py sets it from --test_filter
EDGE_I32 = [0, 1, -1, 2, 7, 64, 255, -128, 0x7FFFFFFF, -0x80000000, 1000, -1000]
EDGE_I64 = [0, 1, -1, 1 << 32, -(1 << 63), (1 << 63) - 1, 123456789012]
EDGE_F = [0.0, -0.0, 1.0, -1.5, 0.5, 2.5, 1e10, -1e-10, float("inf"), float("-inf"), float("nan")]


def identities() -> list[ToolIdentity]:
    return [builtin_tool(), zig()]


def argv(firmware: str, reference: str, result: str, *, cpu: str, cases: list[dict], random_cases: int = 0,
         seed: int = 0, imports: str | None = None, imports_name: str | None = None) -> list[str]:
    args = ["python", "-m", "wasmelt.toolchains.firmware_test", "--firmware", firmware, "--reference", reference,
            "--result", result, "--cpu", cpu, "--cases", json.dumps(cases, sort_keys=True, separators=(",", ":")),
            "--random-cases", str(random_cases), "--seed", str(seed)]
    if imports:
        args += ["--imports", imports, "--imports-name", imports_name or imports]
    return args


def load_stubs(path: str | None) -> HostStubs:
    if not path:
        return HostStubs()
    try:
        data = tomllib.loads(Path(path).read_text())
    except tomllib.TOMLDecodeError as e:
        raise StageError(f"{path}: invalid TOML: {e}") from None
    returns = {}
    for name, spec in data.get("imports", {}).items():
        value = spec.get("returns", []) if isinstance(spec, dict) else spec
        returns[name] = value if isinstance(value, list) else [value]
    return HostStubs(returns)


def missing_stubs_message(names: list[str], export: str, stubs_file: str | None, stubs=()) -> str:
    """Why a case that calls an import without a stub is refused, and the stub to
    add (or the stub it was probably meant to match)."""
    listed = ", ".join(f"`{n}`" for n in names)
    typos = "".join(f" (`{n}` is one edit from the stub `{close}`: did you mean `{close}`?)"
                    for n, close in near_misses(names, stubs))
    where = (f"add it to {stubs_file}" if stubs_file
             else "give the firmware_test an `imports` file (host_stubs.toml) and add it there")
    example = "\n".join(f'  [imports."{n}"]\n  returns = [0]   # what each call answers, in turn; [] for no result'
                        for n in names)
    return (f"`{export}` calls host import(s) {listed} with no stub{typos}: its answer would be made up; {where}:\n"
            f"{example}")


def random_value(rng: random.Random, t: str):
    if t == "i32":
        return rng.choice(EDGE_I32) if rng.random() < 0.3 else rng.randint(-(1 << 31), (1 << 31) - 1)
    if t == "i64":
        return rng.choice(EDGE_I64) if rng.random() < 0.3 else rng.randint(-(1 << 63), (1 << 63) - 1)
    value = rng.choice(EDGE_F) if rng.random() < 0.3 else rng.uniform(-1e6, 1e6)
    return struct.unpack("<f", struct.pack("<f", value))[0] if t == "f32" else value


def case_name(case: dict) -> str:
    """`tick(3)`: how a case is shown, and one of the names --test_filter matches."""
    return f"{case['call']}({', '.join(map(repr, case.get('args', [])))})"


def filter_cases(cases: list[dict], globs: str) -> tuple[list[dict], int]:
    """The cases whose export (`tick`) or call (`tick(3)`) matches one of the comma-separated
    globs (all cases without any), and how many were left out."""
    patterns, depth, start = [], 0, 0
    for i, ch in enumerate(globs + ","):  # a comma inside a call's parentheses is part of the glob
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth <= 0:
            patterns.append(globs[start:i].strip())
            start = i + 1
    patterns = [p for p in patterns if p]
    if not patterns:
        return cases, 0
    kept = [c for c in cases if any(fnmatch.fnmatchcase(c["call"], g) or fnmatch.fnmatchcase(case_name(c), g)
                                    for g in patterns)]
    return kept, len(cases) - len(kept)


@dataclass
class CaseResult:
    case: dict
    firmware: Outcome
    reference: Outcome
    problems: list[str]
    stack_bytes: int | None = None  # the shadow stack's high-water mark in this case
    agree: bool = True  # the firmware and the reference gave the same outcome


@dataclass(frozen=True)
class StackWatch:
    """Where the shadow stack of the linked image lies: [floor, top) in wasm
    addresses, `base` the image address of wasm address `low`."""
    top: int
    floor: int
    low: int
    base: int

    def region(self) -> tuple[int, int]:
        return self.base + max(self.floor, self.low) - self.low, self.base + self.top - self.low - 1


def stack_watch(image: bytes, module) -> StackWatch | None:
    """From the builtin object's `wasmelt_memory` and its window symbols,
    and the module's stack pointer; None for other objects or no stack."""
    from elftools.elf.elffile import ELFFile

    from .builtin.synth.memory_layout import stack_floor
    from .builtin.synth.shadow_stack import analyse

    top = analyse(module).top
    symtab = ELFFile(io.BytesIO(image)).get_section_by_name(".symtab")
    found = {s.name: s["st_value"] for s in symtab.iter_symbols()
             if s.name in ("wasmelt_memory", "wasmelt_memory_low", "wasmelt_memory_end")}
    if top is None or len(found) < 3 or not found["wasmelt_memory_low"] < top <= found["wasmelt_memory_end"]:
        return None
    return StackWatch(top, stack_floor(module, top), found["wasmelt_memory_low"], found["wasmelt_memory"])


def _same(a: Outcome, b: Outcome) -> bool:
    return (a.trap == b.trap and len(a.results) == len(b.results)
            and all(same_value(x, y) for x, y in zip(a.results, b.results))
            and len(a.calls) == len(b.calls)
            and all(c.name == d.name and len(c.args) == len(d.args) and all(same_value(x, y) for x, y in zip(c.args, d.args))
                    for c, d in zip(a.calls, b.calls)))


def _show(o: Outcome) -> str:
    return f"trap {o.trap}" if o.trap else f"results {list(o.results)}"


def compare(obj: bytes, wasm: bytes, cpu: str, cases: list[dict], stubs: HostStubs,
            stubs_file: str | None = None) -> list[CaseResult]:
    module = decode_module(wasm)
    sigs = {}
    for e in module.exports:
        if e.kind == FUNC:
            t = module.func_type(e.index)
            sigs[e.name] = (list(t.params), list(t.results))
    import_sigs, import_names = {}, {}
    for symbol, imp in zip(import_symbols(module), module.imported(FUNC)):  # the symbols synth gave them
        t = module.types[imp.desc]
        import_sigs[symbol] = Signature(list(t.params), list(t.results))
        import_names[symbol] = f"{imp.module}.{imp.name}"
    image = link_for_emulation(obj, list(import_sigs), cpu)
    machine = machine_for(cpu, image, stubs, import_sigs, import_names)
    watch = stack_watch(image, module)
    lowest = [None]  # the lowest image address a case wrote in the stack region: its high-water mark

    def on_write(uc, access, address, size, value, user) -> None:
        if lowest[0] is None or address < lowest[0]:
            lowest[0] = address

    if watch:
        start, end = watch.region()
        machine.uc.hook_add(machine.uc_mod.UC_HOOK_MEM_WRITE, on_write, begin=start, end=end)
    results = []
    for case in cases:
        name = case["call"]
        if name not in sigs:
            raise StageError(f"case calls `{name}`, which the reference does not export; exports: {', '.join(sigs)}")
        params, result_types = sigs[name]
        args = list(case.get("args", []))
        if len(args) != len(params):
            raise StageError(f"case {case}: `{name}` takes {len(params)} argument(s) ({', '.join(params)})")
        machine.reset()
        lowest[0] = None
        fw = machine.call(name, params, result_types, args)
        depth = None if not watch else 0 if lowest[0] is None else watch.top - (lowest[0] - watch.base + watch.low)
        ref = run_reference(wasm, name, args, stubs)
        if stubs.missing:
            raise StageError(missing_stubs_message(sorted(stubs.missing), name, stubs_file, stubs.returns))
        problems = []
        agree = _same(fw, ref)
        if not agree:
            problems.append(f"firmware gave {_show(fw)}, reference gave {_show(ref)}")
            fw_calls = [f"{c.name}{c.args}" for c in fw.calls]
            ref_calls = [f"{c.name}{c.args}" for c in ref.calls]
            if fw_calls != ref_calls:
                diff = difflib.unified_diff(ref_calls, fw_calls, "reference calls", "firmware calls", lineterm="")
                problems.append("host calls differ:\n    " + "\n    ".join(diff))
        if "expect" in case and not (fw.trap is None and len(fw.results) == len(case["expect"]) and all(
                same_value(x, y) for x, y in zip(fw.results, case["expect"]))):
            problems.append(f"expected results {case['expect']}, firmware gave {_show(fw)}")
        if "trap" in case and fw.trap != case["trap"]:
            problems.append(f"expected trap {case['trap']}, firmware gave {_show(fw)}")
        if fw.trap == "stack_overflow" and "trap" not in case:
            room = f" ({watch.top - max(watch.floor, watch.low)} B below its top at {watch.top})" if watch else ""
            problems.append(f"the shadow stack overflowed{room}: a larger stack_size (component) or a shallower "
                            "call chain; the firmware trapped before writing outside it")
        results.append(CaseResult(case, fw, ref, problems, depth, agree))
    return results


def failure_message(failed: list[CaseResult], total: int) -> str:
    """What failed: the firmware and its reference disagree (a lowering bug), or both agree on
    an outcome the case's `expect`/`trap` does not (the expectation, or the source, is wrong)."""
    disagree = [r for r in failed if not r.agree]
    expectation = [r for r in failed if r.agree]
    parts = []
    if disagree:
        parts.append(f"{len(disagree)} of {total} cases: the firmware and its reference disagree "
                     f"({', '.join(case_name(r.case) for r in disagree[:3])}{', ...' if len(disagree) > 3 else ''})")
    if expectation:
        parts.append(f"{len(expectation)} of {total} cases: the firmware and its reference agree, and both differ "
                     f"from the case's expectation ({', '.join(case_name(r.case) for r in expectation[:3])}"
                     f"{', ...' if len(expectation) > 3 else ''}); check the `expect` or `trap` of the case, "
                     "or the source")
    return "; ".join(parts)


def run(args) -> None:
    cases = json.loads(args.cases)
    wasm = Path(args.reference).read_bytes()
    module = decode_module(wasm)
    rng = random.Random(args.seed)
    exported = [(e.name, module.func_type(e.index)) for e in module.exports if e.kind == FUNC]
    for i in range(args.random_cases):
        name, t = exported[i % len(exported)]
        cases.append({"call": name, "args": [random_value(rng, p) for p in t.params], "random": True})
    cases, filtered = filter_cases(cases, os.environ.get(TEST_FILTER_ENV, ""))
    stubs = load_stubs(args.imports)
    try:
        results = compare(Path(args.firmware).read_bytes(), wasm, args.cpu, cases, stubs,
                          args.imports_name or args.imports)
    except EmulationError as e:
        raise StageError(str(e)) from None
    failed = [r for r in results if r.problems]
    lines = []
    for r in results:
        status = "FAIL" if r.problems else "ok"
        label = case_name(r.case)
        if r.problems or not r.case.get("random"):
            lines.append(f"{status:4} {label} -> {_show(r.firmware)}, {len(r.firmware.calls)} host call(s)")
        for p in r.problems:
            lines.append("     " + p.replace("\n", "\n     "))
    summary = f"{len(results) - len(failed)} of {len(results)} cases agree ({args.random_cases} random, seed {args.seed})"
    depths = [(r.stack_bytes, r.case) for r in results if r.stack_bytes is not None]
    deepest = max(depths, key=lambda d: d[0], default=None)
    if deepest:
        case = deepest[1]
        summary += f"; shadow stack high-water {deepest[0]} B" + (
            f" ({case['call']}({', '.join(map(repr, case.get('args', [])))}))" if deepest[0] else "")
    if filtered:
        summary += f"; {filtered} case(s) left out by --test_filter={os.environ[TEST_FILTER_ENV]}"
    Path(args.result).write_text(json.dumps({"cases": len(results), "failed": len(failed), "cpu": args.cpu,
                                             "seed": args.seed,
                                             "stack_high_water": deepest[0] if deepest else None},
                                            indent=2) + "\n")
    print("\n".join(lines + [summary]))
    if failed:
        raise StageError(failure_message(failed, len(results)))


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmelt.toolchains.firmware_test")
    for flag in ("--firmware", "--reference", "--result", "--cases"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--cpu", required=True, choices=tuple(TABLE))
    parser.add_argument("--random-cases", type=int, default=0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--imports")
    parser.add_argument("--imports-name")  # the stubs file as the user names it, for messages
    return run_stage(lambda: run(parser.parse_args(argv_)))


if __name__ == "__main__":
    sys.exit(main())
