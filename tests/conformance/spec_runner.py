"""The WebAssembly core spec suite through the real pipeline: each .wast file's
modules built as prebuilt components -> builtin synth, every command replayed
in order on one Thumb instance per module, results compared bit for bit.

Usage: python tests/conformance/spec_runner.py [--all | --in-scope | FILE.wast ...] [--cpu cortex-m4]
                                              [--bounds check] [--table FILE.md] [-j N]
One line per file and a total (passed / wrong / declined); exit 1 on any wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from wasmelt.toolchains import cpus

REPO = Path(__file__).resolve().parents[2]
SUITE = REPO.parent / "shared" / "wasm-testsuite"
DEFAULT_CPU = "cortex-m4"

# Every CPU the synth knows, the hard-float parts also as their `:soft`
# variants. Floats travel as their bits (NaN payloads unchanged): in core
# registers under a soft-float ABI, in the FPU's under a hard-float one.
CPUS = cpus.CPUS + tuple(n + cpus.SOFT for n in cpus.FPU_CPUS)

# A few representative files for `make test` (~1-2 minutes).
SUBSET = ("i32.wast", "float_misc.wast", "conversions.wast", "memory_trap.wast",
          "call_indirect.wast", "names.wast", "global.wast",
          "start.wast", "stack.wast")
# The ARMv6-M subset (no unaligned access, no wide multiplies or divides, its
# own code generation for calls, where clang makes no tail call a jump): `make
# test` runs it on cortex-m0 too.
M0_SUBSET = ("store.wast", "address.wast", "i64.wast", "float_memory.wast", "memory_trap.wast",
             "call_indirect.wast", "return_call.wast", "return_call_indirect.wast")

# The hard-float subset: floats in FPU registers and FPU instructions for the
# arithmetic, conversions and rounding the soft-float parts do in libgcc
# (`make test` runs it on cortex-m4f); br.wast returns two f64 in d0-d1.
HARD_FLOAT_SUBSET = ("f32.wast", "f64.wast", "float_misc.wast", "conversions.wast", "float_exprs.wast",
                     "float_memory.wast", "call.wast", "br.wast")

# Files for WebAssembly features an MCU object does not carry; their modules
# still go through the pipeline (every one must be declined, none wrong).
OUT_OF_SCOPE = {
    r"^simd_|^i8x16_|^i16x8_|^i32x4_|^relaxed_": "128-bit SIMD (no vector unit on Cortex-M)",
    r"(?<![fi])64\.wast$|^memory64": "memory64 / table64 (32-bit address space)",
    r"^memory-multi|^memory_size_import": "multiple memories or imported memory",
    r"^(array|struct|i31|ref_cast|ref_test|ref_eq|br_on_cast|type-subtyping|type-rec|type-canon|extern|binary-gc)":
        "GC proposal",
    r"^(call_ref|return_call_ref|ref_as_non_null|br_on_null|br_on_non_null|type-equivalence|br_table)":
        "typed function references (br_table.wast: its one module has a table of (ref null $t))",
    r"^(throw|throw_ref|try_table|tag|unwind)": "exception handling",
    r"^(linking|imports|instance|skip-stack-guard-page|table-sub|memory_grow)":
        "cross-instance linking, imported memories/tables/globals, or memory growth",
}

# Declines for features out of scope wherever they appear (a file of the core
# suite may have one module using them): not counted against the pass rate.
FEATURE_DECLINES = {
    "several memories": "multiple memories",
    "unknown reference type": "typed function references / GC", "unknown value type": "typed references / GC",
    "imports a memory": "imported memory", "imports a table": "imported table",
    "another module imports its": "memory or table shared between instances",
    "imports a function from another test module": "cross-instance function imports",
    "memory.grow/table.grow": "memory.grow/table.grow (always fail on the target, as wasm permits)",
    "typed reference": "typed references / GC",
}

TRAPS = {
    "unreachable": "unreachable", "integer divide by zero": "integer_divide_by_zero",
    "integer overflow": "integer_overflow", "invalid conversion to integer": "invalid_conversion",
    "undefined element": "undefined_element", "uninitialized element": "undefined_element",
    "out of bounds table access": "out_of_bounds_table", "table index is out of bounds": "out_of_bounds_table",
    "indirect call type mismatch": "indirect_call_type_mismatch",
    "out of bounds memory access": "out_of_bounds_memory", "null function reference": "undefined_element",
    "call stack exhausted": "stack_overflow",
}
NUMERIC = ("i32", "i64", "f32", "f64")
COUNTED = ("assert_return", "assert_trap", "action", "assert_exhaustion")  # and assert_uninstantiable
RAW = {"i32": "i32", "i64": "i64", "f32": "i32", "f64": "i64",  # soft-float AAPCS: same registers
       "funcref": "i32", "externref": "i32"}  # references: u32, 0 = null (externref N is N + 1)
RAW_HARD_FLOAT = {**RAW, "f32": "f32bits", "f64": "f64bits"}  # the bits, in FPU registers
VALUES = (*NUMERIC, "funcref", "externref")


def scope_of(name: str) -> str | None:
    """Why a file is out of scope, or None."""
    for pattern, reason in OUT_OF_SCOPE.items():
        if re.search(pattern, name):
            return reason
    return None


@dataclass
class FileResult:
    name: str
    passed: int = 0
    wrong: int = 0
    declined: int = 0
    wrongs: list[str] = field(default_factory=list)
    declines: Counter = field(default_factory=Counter)
    seconds: float = 0.0
    feature_declined: int = 0  # declines for an out-of-scope feature (FEATURE_DECLINES)
    grow_declines: list[str] = field(default_factory=list)  # each mismatch a failed grow explains, and how

    def decline(self, reason: str, n: int = 1) -> None:
        self.declined += n
        self.declines[reason] += n
        if any(k in reason for k in FEATURE_DECLINES):
            self.feature_declined += n

    def fail(self, line: int, what: str) -> None:
        self.wrong += 1
        self.wrongs.append(f"{self.name}:{line}: {what}")


@dataclass
class Built:
    """One module as the firmware would see it: its object in the emulator."""
    machine: object
    exports: dict  # name -> (params, results)
    grows: "GrowReach | None" = None  # which exports can run a memory.grow / table.grow (None: none can)
    grown: dict = field(default_factory=dict)  # grow op -> the last call on this instance that could run it
    last_grow: str | None = None  # the last of them
    grown_writer: str | None = None  # the last call, from the first grow on, that could write memory/tables/globals
    export_index: dict = field(default_factory=dict)  # export name -> function index
    raw: dict = field(default_factory=lambda: RAW)  # how each wasm type travels: RAW or RAW_HARD_FLOAT
    shared_with: str | None = None  # a module that imports its memory/table and changes it: not replayed


def wasm_tools() -> str:
    from wasmelt.toolchains import identity

    return identity.wasm_tools().path


# -- building ------------------------------------------------------------------


def build_modules(commands: list[dict], wasm_dir: Path, ws: Path, cache: Path, bounds: str, jobs: int,
                  cpu: str = DEFAULT_CPU) -> dict:
    """Build every module of a file in one workspace; -> filename -> object path or an error."""
    files = needed_modules(commands)
    pkg = ws / "m"
    pkg.mkdir(parents=True, exist_ok=True)
    (ws / "BUILD.toml").write_text('[workspace]\nname = "spec"\n')
    lines = []
    for i, name in enumerate(files):
        (pkg / f"m{i}.wasm").write_bytes((wasm_dir / name).read_bytes())
        lines.append(f'[[component]]\nname = "c{i}"\nsrcs = ["m{i}.wasm"]\nno_grow = false\n')
        lines.append(f'[[synth]]\nname = "s{i}"\nsrc = ":c{i}"\ncpu = "{cpu}"\nbounds = "{bounds}"\n')
    (pkg / "BUILD.toml").write_text("\n".join(lines))
    if not files:
        return {}
    events = ws / "events.jsonl"
    env = {**os.environ, "WASMELT_CACHE": str(cache)}
    subprocess.run([sys.executable, "-m", "wasmelt", "build", "-k", "-q", "-j", str(jobs), "--progress", "plain",
                    "--build_event_json_file", str(events), "//m/..."], cwd=ws, env=env, capture_output=True, text=True)
    errors = {}
    for line in events.read_text().splitlines():
        ev = json.loads(line)
        if ev["event"] == "action_finished" and ev["status"] == "failed":
            errors[ev["label"]] = ev.get("error") or "failed"
    out = {}
    for i, name in enumerate(files):
        obj = ws / "wasmelt-out" / "m" / f"s{i}" / f"s{i}.o"
        error = errors.get(f"//m:c{i}") or errors.get(f"//m:s{i}")
        out[name] = (pkg / f"m{i}.wasm", obj) if error is None and obj.exists() else _short(error or "not built")
    return out


def needed_modules(commands: list[dict]) -> list[str]:
    """The binary modules some counted command runs (binary.wast's hundreds of
    decoder-only modules are not built)."""
    needed, current, named = [], None, {}
    for c in commands:
        if c["type"] == "module" and c.get("module_type", "binary") == "binary":
            current = c["filename"]
            if c.get("name"):
                named[c["name"]] = current
        elif c["type"] == "assert_uninstantiable" and c.get("module_type", "binary") == "binary":
            needed.append(c["filename"])
        elif c["type"] in COUNTED:
            target = named.get(c["action"].get("module")) if c["action"].get("module") else current
            if target and target not in needed:
                needed.append(target)
    return needed


def _mark_sharers(wasm: Path, registered: dict) -> None:
    """A module importing a registered module's memory or table (which the
    object contract does not share) may write into it: later assertions on that
    module then depend on another instance and are declined."""
    from wasmelt.toolchains.builtin.wasm.decode import decode_module
    from wasmelt.toolchains.builtin.wasm.model import MEMORY, TABLE

    try:
        module = decode_module(wasm.read_bytes())
    except Exception:
        return
    for kind in (MEMORY, TABLE):
        for imp in module.imported(kind):
            owner = registered.get(imp.module)
            if isinstance(owner, Built):
                owner.shared_with = f"another module imports its {kind} and may change it"


def _short(error: str) -> str:
    """The decline reason: the stage's ERROR line, without the per-module details."""
    lines = [ln for ln in error.splitlines() if ln.strip()]
    msg = next((ln for ln in lines if "ERROR" in ln or "error" in ln.lower()), lines[-1] if lines else error)
    msg = re.sub(r"//m:[cs]\d+", "//m:X", msg)
    msg = re.sub(r"\b(function|func|global|segment|export|import|table|element|data segment) [\w$.`'\"-]+",
                 r"\1 N", msg)
    return msg.strip()[:160]


def load(wasm: Path, obj: Path, module_name: str | None, registered: dict, cpu: str = DEFAULT_CPU) -> Built | str:
    from wasmelt.toolchains.builtin.wasm.decode import decode_module
    from wasmelt.toolchains.builtin.wasm.model import FUNC
    from wasmelt.toolchains.emulator import EmulationError, HostStubs, Signature, link_for_emulation, machine_for

    module = decode_module(wasm.read_bytes())
    raw = RAW_HARD_FLOAT if cpus.cpu(cpu).hard_float else RAW
    signatures, names = {}, {}
    for imp in module.imported(FUNC):
        if imp.module != "spectest":
            return f"imports a function from another test module ({imp.module}); the runner stubs only spectest"
        t = module.types[imp.desc]
        if any(p not in VALUES for p in (*t.params, *t.results)):
            return "a spectest import with typed references"
        signatures[imp.name] = Signature([raw[p] for p in t.params], [raw[r] for r in t.results])
        names[imp.name] = f"{imp.module}.{imp.name}"
    exports, export_index = {}, {}
    for e in module.exports:
        if e.kind == FUNC:
            t = module.func_type(e.index)
            exports[e.name] = (list(t.params), list(t.results))
            export_index[e.name] = e.index
    try:
        image = link_for_emulation(obj.read_bytes(), sorted(signatures), cpu, libgcc=True)
    except EmulationError as e:
        return f"link failed: {str(e)[:120]}"
    reach = GrowReach.of(module)
    built = Built(machine_for(cpu, image, HostStubs(), signatures, names), exports, reach, raw=raw,
                  export_index=export_index)
    if module.start is not None:
        note_grow(built, None, None, module.start)
    return built


# -- memory.grow / table.grow --------------------------------------------------
#
# On the target memory.grow and table.grow fail (return -1) for any growth
# above 0, which wasm permits; the spec tests expect them to succeed. A mismatch
# is declined for that reason only when the failed grow can explain it, decided
# from the module itself (the lowering makes a grow a constant, so the emulator cannot see
# one run; "can reach" follows `call`s and, for `call_indirect`/`call_ref`,
# every function whose reference the module takes):
#
# - the assertion's own call can reach a grow: its result may be the -1
#   itself, or anything computed from it (a branch on it, a store of it);
# - or an earlier call on the same instance (or its start function) could reach
#   one, and this call shows what a failed grow leaves different:
#   - it trapped out of bounds (a memory access, or a table access / undefined
#     element after a table.grow): the memory or table stayed smaller. A
#     smaller memory or table only traps more, so an expected trap that did not
#     come, or a wrong value, is never explained this way;
#   - it can reach memory.size (after a memory.grow) or table.size (after a
#     table.grow): the size stayed smaller;
#   - it can read memory, a table or a global, and that earlier call, or any
#     call after it, could write one: the program may have stored something
#     computed from the -1 or from the small size, or a store past the old
#     size trapped before the call's other stores.
#
# Everything else is reported wrong: a mismatch in an instance where no call
# could reach a grow, in a call that computes from its arguments alone, or a
# wrong value read from a memory that a grow-reaching call never wrote. "Can
# reach" over-approximates "ran" (a branch not taken still counts): the decline
# may excuse a mismatch inside a call that could have run a grow but did not;
# it never excuses one that a failed grow could not have caused.

GROW_OPS = ("memory.grow", "table.grow")
SIZE_OF = {"memory.size": "memory.grow", "table.size": "table.grow"}  # what a failed grow keeps small
INDIRECT = ("call_indirect", "return_call_indirect", "call_ref", "return_call_ref")
READS = re.compile(r"\.load|^(memory|table)\.(size|copy|fill|init|get)$|^global\.get$|^(call_indirect|return_call_indirect)$")
WRITES = re.compile(r"\.store|^(memory|table)\.(copy|fill|init|set)$|^global\.set$|^(data|elem)\.drop$")
BOUNDS_TRAPS = {"out_of_bounds_memory": "memory.grow", "out_of_bounds_table": "table.grow",
                "undefined_element": "table.grow"}


@dataclass
class GrowReach:
    """Per function (absolute index) of one module, transitively: which grows it
    can run, which sizes it can ask, and whether it can read or write memory, a
    table or a global."""
    grows: dict  # function index -> {"memory.grow": "memory.grow in func 3 (`grow`)", ...}
    sizes: dict  # function index -> {"memory.size", "table.size"} (those it can reach)
    reads: set
    writes: set
    names: dict  # function index -> its first export name

    @classmethod
    def of(cls, module) -> "GrowReach | None":
        from wasmelt.toolchains.builtin.wasm.model import FUNC

        base = len(module.imported(FUNC))
        bodies = {base + d: f.body for d, f in enumerate(module.functions)}
        if not any(i.op in GROW_OPS for body in bodies.values() for i in body):
            return None
        exprs = [*bodies.values(), *(g.init for g in module.globals), *(x for e in module.elements for x in e.items)]
        addressable = {i.imm[0] for expr in exprs for i in expr if i.op == "ref.func"}
        names = {}
        for e in module.exports:
            if e.kind == FUNC:
                names.setdefault(e.index, e.name)
        reach = cls({}, {}, set(), set(), names)
        callees = {}
        for fi, body in bodies.items():
            callees[fi] = set()
            for i in body:
                if i.op in GROW_OPS:
                    reach.grows.setdefault(fi, {}).setdefault(i.op, f"{i.op} in {reach.label(fi)}")
                if i.op in SIZE_OF:
                    reach.sizes.setdefault(fi, set()).add(i.op)
                if READS.search(i.op):
                    reach.reads.add(fi)
                if WRITES.search(i.op):
                    reach.writes.add(fi)
                if i.op in ("call", "return_call"):
                    callees[fi].add(i.imm[0])
                elif i.op in INDIRECT:
                    callees[fi] |= addressable
        changed = True
        while changed:  # to a fixed point: a caller reaches what its callees reach
            changed = False
            for fi, targets in callees.items():
                for t in sorted(targets):
                    for op, where in reach.grows.get(t, {}).items():
                        if op not in reach.grows.get(fi, {}):
                            reach.grows.setdefault(fi, {})[op] = where
                            changed = True
                    if not reach.sizes.get(t, set()) <= reach.sizes.get(fi, set()):
                        reach.sizes.setdefault(fi, set()).update(reach.sizes[t])
                        changed = True
                    for seen in (reach.reads, reach.writes):
                        if t in seen and fi not in seen:
                            seen.add(fi)
                            changed = True
        return reach

    def label(self, fi: int) -> str:
        return f"func {fi}" + (f" (`{self.names[fi]}`)" if fi in self.names else "")


GROW_RAN = "the assertion's call can run memory.grow/table.grow, which always fails on the target"
GROW_BOUNDS = "out of bounds after a memory.grow/table.grow that failed on the target (an earlier call)"
GROW_SIZE = "memory.size/table.size after a memory.grow/table.grow that failed on the target (an earlier call)"
GROW_STORED = ("memory, a table or a global read after a memory.grow/table.grow that failed on the target and "
               "a call (that one or a later one) that could write them")


def grow_excuse(built: Built, export: str, trap: str | None = None) -> tuple[str, str] | None:
    """(decline reason, the precise detail) when the always-failing grow can
    explain a mismatch of this call (`trap`: the trap it ended in); None: the
    mismatch is wrong."""
    reach = built.grows
    if reach is None:
        return None
    fi = built.export_index.get(export)
    if fi in reach.grows:
        return GROW_RAN, f"`{export}` reaches {' and '.join(reach.grows[fi].values())}"
    grown = built.grown
    if trap in BOUNDS_TRAPS and BOUNDS_TRAPS[trap] in grown:
        return GROW_BOUNDS, f"trapped {trap} after {grown[BOUNDS_TRAPS[trap]]}"
    for size in sorted(reach.sizes.get(fi, ())):
        if SIZE_OF[size] in grown:
            return GROW_SIZE, f"`{export}` reaches {size} after {grown[SIZE_OF[size]]}"
    if built.grown_writer and fi in reach.reads:
        return GROW_STORED, f"`{export}` reads memory/tables/globals after {built.grown_writer}"
    return None


def note_grow(built: Built, export: str | None, line: int | None, fi: int | None = None) -> None:
    """After a call ran (`fi`: the start function): the grows it could have run,
    and whether it could have written state that differs for a failed grow. The
    last such call is named, the one a later mismatch most likely comes from."""
    reach = built.grows
    if reach is None:
        return
    fi = built.export_index.get(export) if fi is None else fi
    call = f"`{export}` (line {line})" if export else f"the start function ({reach.label(fi)})"
    for op, where in reach.grows.get(fi, {}).items():
        built.grown[op] = built.last_grow = f"{call}, which reaches {where}"
        if fi in reach.writes:
            built.grown_writer = f"{call}, which reaches {where} and writes memory/tables/globals"
    if fi not in reach.grows and built.last_grow and fi in reach.writes:
        # Once a grow failed, any call that writes can leave state that differs:
        # it may store a size or a value derived from the -1 an earlier call
        # stored, or trap on a store past the old size before its other stores.
        built.grown_writer = f"{call}, which could write memory/tables/globals after {built.last_grow}"


# -- values --------------------------------------------------------------------


def raw_arg(v: dict) -> int:
    if v["type"] in ("funcref", "externref"):
        if v["value"] == "null":
            return 0
        if v["type"] == "funcref":
            raise _Unsupported("a non-null funcref argument")
        return int(v["value"]) + 1
    if v["type"] not in NUMERIC:
        raise _Unsupported(f"{v['type']} argument")
    return int(v["value"])


def matches(expected: dict, got: int) -> bool:
    t, value = expected["type"], expected.get("value")
    if t in ("funcref", "externref"):
        got &= 0xFFFFFFFF
        if value is None:  # any non-null reference
            return got != 0
        return got == (0 if value == "null" else int(value) + 1)
    bits = 32 if t in ("i32", "f32") else 64
    got &= (1 << bits) - 1
    if t in ("f32", "f64") and isinstance(value, str) and value.startswith("nan:"):
        exp_mask, quiet = (0x7F800000, 0x00400000) if t == "f32" else (0x7FF0000000000000, 0x0008000000000000)
        if got & exp_mask != exp_mask:
            return False
        payload = got & ((exp_mask ^ ((1 << (bits - 1)) - 1)))
        return payload == quiet if value == "nan:canonical" else bool(payload & quiet)
    return got == int(value) & ((1 << bits) - 1)


class _Unsupported(Exception):
    pass


def _bits(t: str, value) -> int:
    """Results come back as i32/i64 (RAW); as unsigned bits."""
    return int(value) & ((1 << (32 if t in ("i32", "f32") else 64)) - 1)


# -- replay --------------------------------------------------------------------


def invoke(built: Built, action: dict):
    from wasmelt.toolchains.builtin.synth.lower import symbol_name_problem

    field_ = action["field"]
    if field_ not in built.exports:
        raise _Unsupported("export not a function in the object")
    if symbol_name_problem(field_):
        raise _Unsupported(f"an export name that {symbol_name_problem(field_)} cannot be an ELF symbol")
    if field_ not in built.machine.symbols:  # the synth's seam check saw it in the object
        raise _Unsupported("the linker renamed the export (it reads `@` in a symbol as a version)")
    params, results = built.exports[field_]
    if any(t not in VALUES for t in (*params, *results)):
        raise _Unsupported("an export with a typed reference")
    args = [raw_arg(a) for a in action["args"]]
    outcome = built.machine.call(field_, [built.raw[p] for p in params], [built.raw[r] for r in results], args)
    return outcome, results


def run_file(wast: Path, work: Path, cache: Path, bounds: str = "check", jobs: int = 2,
             cpu: str = DEFAULT_CPU) -> FileResult:
    from wasmelt.toolchains.emulator import EmulationError

    result = FileResult(wast.name)
    start = time.monotonic()
    json_path, wasm_dir = work / "commands.json", work / "wasm"
    wasm_dir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run([wasm_tools(), "json-from-wast", str(wast), "-o", str(json_path), "--wasm-dir",
                           str(wasm_dir)], capture_output=True, text=True)
    if proc.returncode != 0:
        result.decline(f"json-from-wast failed: {proc.stderr.strip()[:100]}")
        return result
    commands = json.loads(json_path.read_text())["commands"]
    objects = build_modules(commands, wasm_dir, work / "ws", cache, bounds, jobs, cpu)
    instances: dict[str, Built | str] = {}
    current: Built | str = "no module"
    registered: dict = {}

    def mismatch(line: int, what: str, trap: str | None = None) -> None:
        excuse = grow_excuse(built, c["action"]["field"], trap)  # the spec lets a grow fail; on the target it always does
        if excuse:
            result.decline(excuse[0])
            result.grow_declines.append(f"{result.name}:{line}: {what}; {excuse[1]}")
        else:
            result.fail(line, what)

    def target(action: dict) -> Built | str:
        return instances.get(action["module"], "unknown module") if action.get("module") else current

    for c in commands:
        kind, line = c["type"], c["line"]
        if kind in ("module", "assert_uninstantiable") and c.get("module_type", "binary") == "binary":
            _mark_sharers(wasm_dir / c["filename"], registered)  # even one that fails may have written
        if kind in ("module", "assert_uninstantiable"):
            if c.get("module_type", "binary") != "binary":
                built: Built | str = "text module"
            else:
                got = objects.get(c["filename"], "not built")
                built = got if isinstance(got, str) else load(*got, c.get("name"), registered, cpu)
            if kind == "module":
                current = built
                if c.get("name"):
                    instances[c["name"]] = built
                continue
            # The module must not instantiate: a build error, or a trap on initialisation.
            if isinstance(built, str):
                if "imports" in built or "not built" in built:
                    result.decline(built)
                else:
                    result.passed += 1  # refused at build time, as instantiation would trap
                continue
            if "wasmelt_init" not in built.machine.symbols:
                result.fail(line, f"instantiation should trap ({c['text']}) but the object has no initialisation")
                continue
            outcome = built.machine.call("wasmelt_init", [], [], [])
            if outcome.trap is None:
                result.fail(line, f"instantiation should trap ({c['text']}) but did not")
            else:
                result.passed += 1
            continue
        if kind == "register":
            registered[c["as"]] = instances.get(c.get("name")) if c.get("name") else current
            continue
        if kind not in COUNTED:
            continue  # assert_invalid/malformed/unlinkable: the validator's and linker's business
        action = c["action"]
        built = target(action)
        if isinstance(built, str):
            result.decline(built)
            continue
        if built.shared_with:
            result.decline(built.shared_with)
            continue
        if action["type"] != "invoke":
            result.decline("exported globals are not in the object")
            continue
        try:
            outcome, results = invoke(built, action)
        except _Unsupported as e:
            result.decline(str(e))
            continue
        except EmulationError as e:
            outcome, results = None, []
            note_grow(built, action["field"], line)
            if kind != "assert_exhaustion":
                result.fail(line, f"{action['field']}: {e}")
                continue
        else:
            note_grow(built, action["field"], line)
        if kind == "assert_exhaustion":
            if outcome is None or outcome.trap:
                result.passed += 1
            else:
                result.fail(line, f"{action['field']}: returned, expected stack exhaustion")
            continue
        if kind == "assert_trap":
            want = next((v for k, v in TRAPS.items() if c["text"].startswith(k)), c["text"])
            if outcome.trap == want:
                result.passed += 1
            else:
                got = outcome.trap or f"returned {[_bits(t, v) for t, v in zip(results, outcome.results)]}"
                mismatch(line, f"{action['field']}{_show(action['args'])}: expected trap {want}, got {got}",
                         outcome.trap)
            continue
        if outcome.trap:
            mismatch(line, f"{action['field']}{_show(action['args'])}: trapped ({outcome.trap})", outcome.trap)
            continue
        if kind == "action":
            result.passed += 1
            continue
        expected = c["expected"]
        if any(e["type"] not in VALUES for e in expected):
            result.decline("a result of a GC or typed reference type")
            continue
        got = [_bits(t, v) for t, v in zip(results, outcome.results)]
        if len(got) == len(expected) and all(matches(e, g) for e, g in zip(expected, got)):
            result.passed += 1
        else:
            mismatch(line, f"{action['field']}{_show(action['args'])}: expected "
                              f"{[e.get('value') for e in expected]}, got {got}")
    result.seconds = time.monotonic() - start
    return result


def _show(args: list[dict]) -> str:
    return "(" + ", ".join(str(a.get("value")) for a in args) + ")"


# -- the command line ------------------------------------------------------------


def suite_files(names: list[str]) -> list[Path]:
    return [SUITE / n if "/" not in n else Path(n) for n in names]


def table(results: list[FileResult], bounds: str) -> str:
    rows = ["| file | scope | passed | wrong | declined | of which out-of-scope features | main decline reason |",
            "|---|---|---:|---:|---:|---:|---|"]
    for r in results:
        reason = r.declines.most_common(1)[0][0].replace("|", "/") if r.declines else ""
        reason = reason.replace("`", "'")[:110]
        rows.append(f"| {r.name} | {scope_of(r.name) or 'in'} | {r.passed} | {r.wrong} | {r.declined} | "
                    f"{r.feature_declined} | {reason} |")
    return "\n".join(rows)


def totals(results: list[FileResult]) -> tuple[int, int, int]:
    return (sum(r.passed for r in results), sum(r.wrong for r in results), sum(r.declined for r in results))


def runnable_cpu(name: str) -> str:
    if name in CPUS:
        return name
    raise argparse.ArgumentTypeError(f"`{name}`: not a cpu the synth knows; one of {', '.join(CPUS)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="spec_runner")
    parser.add_argument("files", nargs="*", help=".wast files (names in the suite, or paths)")
    parser.add_argument("--all", action="store_true", help="every .wast file of the suite")
    parser.add_argument("--in-scope", action="store_true", help="every .wast file of the suite that is in scope")
    parser.add_argument("--bounds", default="check", choices=["none", "check", "mask"])
    parser.add_argument("--cpu", default=DEFAULT_CPU, type=runnable_cpu,
                        help=f"the synth target and emulated core (default {DEFAULT_CPU}; one of {', '.join(CPUS)})")
    parser.add_argument("-j", "--jobs", type=int, default=2)
    parser.add_argument("--cache", help="wasmelt cache to reuse between runs")
    parser.add_argument("--table", help="write the per-file table (markdown) here")
    parser.add_argument("--json", help="write per-file results (with every wrong result) here")
    args = parser.parse_args(argv)
    if not SUITE.is_dir():
        print(f"spec suite not found at {SUITE}; nothing to run")
        return 0
    names = sorted(p.name for p in SUITE.glob("*.wast")) if args.all or args.in_scope else list(args.files or SUBSET)
    if args.in_scope:
        names = [n for n in names if not scope_of(n)]
    results = []
    with tempfile.TemporaryDirectory(prefix="wasmelt-spec-") as tmp:
        cache = Path(args.cache) if args.cache else Path(tmp) / "cache"
        for i, path in enumerate(suite_files(names)):
            r = run_file(path, Path(tmp) / f"f{i}", cache, args.bounds, args.jobs, args.cpu)
            results.append(r)
            scope = scope_of(r.name)
            print(f"{r.name:32} passed {r.passed:5}  wrong {r.wrong:4}  declined {r.declined:5}  "
                  f"{r.seconds:6.1f}s{'  (out of scope: ' + scope + ')' if scope else ''}", flush=True)
            for w in r.wrongs[:10]:
                print(f"    WRONG {w}", flush=True)
    passed, wrong, declined = totals(results)
    in_scope = [r for r in results if not scope_of(r.name)]
    ip, iw, idc = totals(in_scope)
    feature = sum(r.feature_declined for r in in_scope)
    counted = ip + iw + idc - feature
    print(f"TOTAL {len(results)} files: passed {passed}, wrong {wrong}, declined {declined} "
          f"(of {passed + wrong + declined} assertions; bounds = {args.bounds}, cpu = {args.cpu})")
    print(f"IN SCOPE {len(in_scope)} files: passed {ip}, wrong {iw}, declined {idc}, of which {feature} for "
          f"out-of-scope features" + (f" ({100 * ip / counted:.2f}% of the other {counted} pass)" if counted else ""))
    if args.table:
        Path(args.table).write_text(table(results, args.bounds) + "\n")
    if args.json:
        Path(args.json).write_text(json.dumps([{"file": r.name, "passed": r.passed, "wrong": r.wrong,
                                                "declined": r.declined, "feature_declined": r.feature_declined,
                                                "wrongs": r.wrongs, "grow_declines": r.grow_declines,
                                                "declines": dict(r.declines)} for r in results], indent=1))
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
