"""A short subset of the WebAssembly core spec suite through the real pipeline
(prebuilt component -> builtin synth -> Thumb emulation): no wrong result;
`make conformance` runs every file."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import spec_runner  # noqa: E402

pytestmark = pytest.mark.skipif(not spec_runner.SUITE.is_dir(), reason=f"no spec suite at {spec_runner.SUITE}")


SUBSETS = {spec_runner.DEFAULT_CPU: spec_runner.SUBSET, "cortex-m0": spec_runner.M0_SUBSET,
           "cortex-m4f": spec_runner.HARD_FLOAT_SUBSET}


@pytest.mark.parametrize("cpu", sorted(SUBSETS))
def test_subset_has_no_wrong_result(tmp_path, capsys, cpu):
    subset = SUBSETS[cpu]
    code = spec_runner.main([*subset, "--cpu", cpu, "--cache", str(tmp_path / "cache"),
                             "--json", str(tmp_path / "results.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    lines = {line.split()[0]: line for line in out.splitlines() if line.endswith("s") and ".wast" in line}
    assert set(lines) == set(subset)
    total = next(line for line in out.splitlines() if line.startswith("TOTAL"))
    assert ", wrong 0," in total and f"cpu = {cpu})" in total
    passed = int(total.split("passed ")[1].split(",")[0])
    assert passed > 1000, total  # the files really ran
    # A module declined that used to run is a lost capability, not a pass: each
    # file passes at least what the last whole-suite run on that cpu recorded.
    results = {r["file"]: r for r in json.loads((tmp_path / "results.json").read_text())}
    fewer = {name: (results[name]["passed"], floor) for name, floor in recorded_passes(cpu).items()
             if name in results and results[name]["passed"] < floor}
    assert not fewer, f"fewer assertions pass on {cpu} than docs/conformance.md records (now, recorded): {fewer}"


def recorded_passes(cpu: str = spec_runner.DEFAULT_CPU, text: str | None = None) -> dict[str, int]:
    """file -> passed, from the last table row of each file in docs/conformance.md
    under a `##` heading for `cpu`: one that names it, or (the default cpu's) one
    that names none."""
    if text is None:
        text = (Path(__file__).parents[2] / "docs" / "conformance.md").read_text()
    passes, section = {}, spec_runner.DEFAULT_CPU
    for line in text.splitlines():
        if line.startswith("## "):
            named = [c for c in spec_runner.CPUS if re.search(rf"(?<![\w-]){re.escape(c)}(?![\w:])", line)]
            section = max(named, key=len) if named else spec_runner.DEFAULT_CPU
        cells = [c.strip() for c in line.strip("|").split("|")]
        if section == cpu and line.startswith("| ") and cells[0].endswith(".wast") and cells[2].isdigit():
            passes[cells[0]] = int(cells[2])
    return passes


def test_recorded_passes_are_per_cpu():
    text = ("## Per file\n| a.wast | in | 5 | 0 | 0 |\n| b.wast | in | 7 | 0 | 0 |\n"
            "## Per file on cortex-m0\n| a.wast | in | 3 | 0 | 2 |\n"
            "## Per file on cortex-m0plus\n| a.wast | in | 1 | 0 | 4 |\n"
            "## Later, on the default cpu\n| b.wast | in | 8 | 0 | 0 |\n")
    assert recorded_passes("cortex-m4", text) == {"a.wast": 5, "b.wast": 8}
    assert recorded_passes("cortex-m0", text) == {"a.wast": 3}
    assert recorded_passes("cortex-m0plus", text) == {"a.wast": 1}
    assert recorded_passes("cortex-m3", text) == {}


@pytest.mark.parametrize("cpu", sorted(SUBSETS))
def test_the_recorded_table_covers_the_subset(cpu):
    assert set(SUBSETS[cpu]) <= set(recorded_passes(cpu))


def test_an_unknown_cpu_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_:
        spec_runner.main(["i32.wast", "--cpu", "cortex-m9"])
    assert exit_.value.code == 2
    assert "argument --cpu: `cortex-m9`: not a cpu the synth knows; one of cortex-m0, " in capsys.readouterr().err


def test_a_wrong_result_is_reported_and_fails(tmp_path, capsys):
    wast = tmp_path / "wrong.wast"
    wast.write_text('(module (func (export "one") (result i32) (i32.const 1)))\n'
                    '(assert_return (invoke "one") (i32.const 2))\n'
                    '(assert_return (invoke "one") (i32.const 1))\n'
                    '(assert_trap (invoke "one") "unreachable")\n')
    code = spec_runner.main([str(wast), "--cache", str(tmp_path / "cache")])
    out = capsys.readouterr().out
    assert code == 1
    assert "passed     1  wrong    2" in out
    assert "WRONG wrong.wast:2: one(): expected ['2'], got [1]" in out
    assert "WRONG wrong.wast:4: one(): expected trap unreachable, got returned [1]" in out


def test_nan_classes_and_exact_bits():
    assert spec_runner.matches({"type": "f32", "value": "nan:canonical"}, 0xFFC00000)
    assert not spec_runner.matches({"type": "f32", "value": "nan:canonical"}, 0x7FC00001)
    assert spec_runner.matches({"type": "f32", "value": "nan:arithmetic"}, 0x7FC00001)
    assert not spec_runner.matches({"type": "f32", "value": "nan:arithmetic"}, 0x7FA00000)  # signalling
    assert not spec_runner.matches({"type": "f64", "value": "nan:arithmetic"}, 0x7FF4000000000000)
    assert spec_runner.matches({"type": "f64", "value": "nan:canonical"}, 0x7FF8000000000000)
    assert not spec_runner.matches({"type": "f32", "value": "0"}, 0x80000000)  # -0.0 is not +0.0
    assert spec_runner.matches({"type": "i64", "value": "18446744073709551615"}, -1)



# Function indices: add 0, size 1, load 2, via 3, indirect 4, keep 5, kept 6, $inner 7, store 8;
# assertions from line 16.
GROWING = """(module
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $inner)
  (global $g (mut i32) (i32.const 0))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  (func (export "size") (result i32) (memory.size))
  (func (export "load") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "via") (param i32) (result i32) (call $inner (local.get 0)))
  (func (export "indirect") (param i32) (result i32) (call_indirect (param i32) (result i32) (local.get 0) (i32.const 0)))
  (func (export "keep") (param i32) (global.set $g (memory.grow (local.get 0))))
  (func (export "kept") (result i32) (global.get $g))
  (func $inner (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "store") (param i32 i32) (i32.store (local.get 0) (local.get 1)))
)
"""


def run_wast(tmp_path, capsys, text: str) -> tuple[int, str, dict]:
    wast = tmp_path / "grow.wast"
    wast.write_text(text)
    code = spec_runner.main([str(wast), "--cache", str(tmp_path / "cache"), "--json", str(tmp_path / "r.json")])
    return code, capsys.readouterr().out, json.loads((tmp_path / "r.json").read_text())[0]


def test_a_mismatch_in_a_module_that_contains_but_never_runs_a_grow_is_wrong(tmp_path, capsys):
    code, out, r = run_wast(tmp_path, capsys, GROWING + '(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))\n'
                                              '(assert_return (invoke "size") (i32.const 2))\n')
    assert code == 1, out
    assert (r["passed"], r["wrong"], r["declined"]) == (0, 2, 0), out
    assert "WRONG grow.wast:16: add(1, 2): expected ['4'], got [3]" in out
    assert "WRONG grow.wast:17: size(): expected ['2'], got [1]" in out  # no grow ran: memory.size is just wrong


def test_only_the_mismatches_a_failed_grow_explains_are_declined(tmp_path, capsys):
    code, out, r = run_wast(tmp_path, capsys, GROWING +
                            '(assert_return (invoke "load" (i32.const 0)) (i32.const 5))\n'  # 16: no grow yet
                            '(assert_return (invoke "via" (i32.const 1)) (i32.const 1))\n'  # 17: the grow itself: -1
                            '(assert_return (invoke "size") (i32.const 2))\n'  # 18: memory did not grow
                            '(assert_return (invoke "load" (i32.const 65536)) (i32.const 0))\n'  # 19: so this traps
                            '(assert_return (invoke "load" (i32.const 0)) (i32.const 5))\n'  # 20: `via` wrote nothing
                            '(assert_trap (invoke "load" (i32.const 0)) "out of bounds memory access")\n'  # 21
                            '(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 4))\n'  # 22: pure
                            '(assert_return (invoke "add" (i32.const 1) (i32.const 2)) (i32.const 3))\n'  # 23
                            '(assert_return (invoke "indirect" (i32.const 1)) (i32.const 1))\n'  # 24: through the table
                            '(invoke "store" (i32.const 0) (i32.const 9))\n'  # 25: a write after a failed grow
                            '(assert_return (invoke "load" (i32.const 0)) (i32.const 5))\n'  # 26
                            '(invoke "keep" (i32.const 1))\n'  # 27: stores the -1 in a global
                            '(assert_return (invoke "kept") (i32.const 1))\n')  # 28
    assert code == 1, out
    assert (r["passed"], r["wrong"], r["declined"]) == (3, 4, 6), out
    assert r["wrongs"] == ["grow.wast:16: load(0): expected ['5'], got [0]",
                           "grow.wast:20: load(0): expected ['5'], got [0]",
                           "grow.wast:21: load(0): expected trap out_of_bounds_memory, got returned [0]",
                           "grow.wast:22: add(1, 2): expected ['4'], got [3]"]
    via = "`via` (line 17), which reaches memory.grow in func 7"
    assert r["grow_declines"] == [
        "grow.wast:17: via(1): expected ['1'], got [4294967295]; `via` reaches memory.grow in func 7",
        f"grow.wast:18: size(): expected ['2'], got [1]; `size` reaches memory.size after {via}",
        f"grow.wast:19: load(65536): trapped (out_of_bounds_memory); trapped out_of_bounds_memory after {via}",
        "grow.wast:24: indirect(1): expected ['1'], got [4294967295]; `indirect` reaches memory.grow in func 7",
        "grow.wast:26: load(0): expected ['5'], got [9]; `load` reads memory/tables/globals after `store` (line 25), "
        "which could write memory/tables/globals after `indirect` (line 24), which reaches memory.grow in func 7",
        "grow.wast:28: kept(): expected ['1'], got [4294967295]; `kept` reads memory/tables/globals after `keep` "
        "(line 27), which reaches memory.grow in func 5 (`keep`) and writes memory/tables/globals"]
    assert r["declines"] == {spec_runner.GROW_RAN: 2, spec_runner.GROW_SIZE: 1, spec_runner.GROW_BOUNDS: 1,
                             spec_runner.GROW_STORED: 2}
    assert r["feature_declined"] == 6


def test_a_grow_in_the_start_function_explains_later_reads():
    from wasmelt.toolchains.builtin.wasm.model import Export, FUNC, Function, FuncType, Instr, MemoryType, Limits, Module

    grow = Function(0, body=[Instr("i32.const", (1,)), Instr("memory.grow", (0,)), Instr("drop"), Instr("end")])
    size = Function(1, body=[Instr("memory.size", (0,)), Instr("end")])
    pure = Function(1, body=[Instr("i32.const", (7,)), Instr("end")])
    module = Module(types=[FuncType((), ()), FuncType((), ("i32",))], functions=[grow, size, pure],
                    memories=[MemoryType(Limits(1))], start=0,
                    exports=[Export("size", FUNC, 1), Export("pure", FUNC, 2)])
    reach = spec_runner.GrowReach.of(module)
    assert reach.grows == {0: {"memory.grow": "memory.grow in func 0"}} and reach.sizes == {1: {"memory.size"}}
    built = spec_runner.Built(None, {}, reach, export_index={"size": 1, "pure": 2})
    assert spec_runner.grow_excuse(built, "size") is None  # nothing ran yet
    spec_runner.note_grow(built, None, None, module.start)
    assert spec_runner.grow_excuse(built, "size") == (
        spec_runner.GROW_SIZE, "`size` reaches memory.size after the start function (func 0), which reaches memory.grow in func 0")
    assert spec_runner.grow_excuse(built, "pure") is None
    assert spec_runner.grow_excuse(built, "pure", "out_of_bounds_table") is None  # a memory.grow keeps no table small
    assert spec_runner.grow_excuse(built, "pure", "out_of_bounds_memory")[0] == spec_runner.GROW_BOUNDS
    assert spec_runner.GrowReach.of(Module(functions=[pure], types=[FuncType((), ())] * 2)) is None
