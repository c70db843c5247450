"""Accesses of one base that share one bounds check (coalesce.py): which ones
do, that the object traps exactly where per-access checks would (in the Thumb
emulator, against wasmtime), keeps the side effects before the trap, and that a
group compiles to one compare."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from wasm_harness import wat
from wasmelt.toolchains.builtin.synth.coalesce import COVERED, Check, function_checks
from wasmelt.toolchains.builtin.synth.memory_layout import derive
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wasm.model import FUNC
from wasmelt.toolchains.emulator import link_for_emulation, machine_for
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs

CPUS = ["cortex-m4", "cortex-m0"]


def checks(body: str, from_zero: bool = True) -> list[Check | None]:
    """The checks of one function's accesses, in order."""
    m = decode_module(wat(f"(module (memory 1) (func (param i32 i32) (result i32) {body}))"))
    found = function_checks(m.functions[0].body, 65536, from_zero)
    return [found[k] for k in sorted(found)]


def test_accesses_of_one_base_share_the_first_ones_check():
    # one local, offsets 8, 0, 60 (an i64): the first checks [0, 68) of the base
    assert checks("(i32.load offset=8 (local.get 0)) (i32.add (i32.load (local.get 0))) "
                  "(i32.add (i32.wrap_i64 (i64.load offset=60 (local.get 0))))") == [Check(0, 0, 68), COVERED, COVERED]
    # `x + c` is x shifted: the check is on the lowest base, x (the first's minus 4)
    assert checks("(i32.load (i32.add (local.get 0) (i32.const 4))) (i32.add (i32.load (local.get 0))) "
                  "(i32.add (i32.load8_u offset=2 (i32.add (local.get 0) (i32.const 36))))") == [
        Check(4, 0, 39), COVERED, COVERED]
    # a tee, and the same pure expression twice, are one value
    assert checks("(i32.load (local.tee 1 (i32.shl (local.get 0) (i32.const 2)))) "
                  "(i32.add (i32.load offset=4 (local.get 1))) "
                  "(i32.add (i32.load16_u offset=12 (i32.shl (local.get 0) (i32.const 2))))") == [
        Check(0, 0, 14), COVERED, COVERED]


def test_what_ends_a_group():
    own = [Check(0, 0, 4), Check(0, 8, 4)]
    # the base reassigned: two values
    assert checks("(i32.load (local.get 0)) (local.set 0 (local.get 1)) (i32.add (i32.load offset=8 (local.get 0)))") == own
    # a store may be the last access of a group, never one a later check moves above
    assert checks("(i32.store offset=8 (local.get 0) (i32.load (local.get 0))) (i32.load offset=16 (local.get 0))") == [
        Check(0, 0, 12), COVERED, Check(0, 16, 4)]
    # a call, a branch, another trap (division), control flow
    for between in ("(call 0 (i32.const 0) (i32.const 0)) drop", "(br_if 0 (local.get 1)) drop",
                    "(drop (i32.div_u (i32.const 1) (local.get 1)))", "(if (local.get 1) (then))",
                    "(global.set 0 (i32.const 1))", "(memory.fill (i32.const 0) (i32.const 0) (local.get 1))"):
        m = decode_module(wat("(module (memory 1) (global (mut i32) (i32.const 0)) (func (param i32 i32) (result i32)"
                              f" (drop (i32.load (local.get 0))) {between} (i32.load offset=8 (local.get 0))))"))
        found = function_checks(m.functions[0].body, 65536)
        assert [found[k] for k in sorted(found)] == own, between
    # bases 2^32 - 65536 or more apart (a wrap may put both in the page): each its own check
    assert checks("(i32.load (i32.add (local.get 0) (i32.const 0x7fffffff))) "
                  "(i32.add (i32.load (i32.add (local.get 0) (i32.const 0x80000000))))") == [Check(0, 0, 4)] * 2
    # closer, one of them is always out of the page: the check always traps
    assert checks("(i32.load (local.get 0)) (i32.add (i32.load (i32.add (local.get 0) (i32.const -65536))))") == [
        Check(65536, 0, 65540), COVERED]


def test_a_check_holds_for_later_accesses_it_covers_until_a_join():
    stores = "".join(f"(i32.store offset={o} (local.get 0) (local.get 1))" for o in (12, 8, 4, 0))
    assert checks(stores + "(i32.load offset=2 (local.get 0))") == [Check(0, 12, 4)] + [COVERED] * 4
    # after a call, a division, a branch out: the values and their checks stand
    assert checks("(drop (i32.load offset=8 (local.get 0))) (drop (i32.div_u (local.get 1) (local.get 1))) "
                  "(drop (br_if 0 (i32.const 0) (local.get 1))) (i32.load offset=4 (local.get 0))") == [
        Check(0, 8, 4), COVERED]
    # not beyond what was checked, nor below it in a memory from above 0, nor across a join or a write of the base
    assert checks("(drop (i32.load offset=4 (local.get 0))) (i32.store (local.get 0) (i32.const 0)) "
                  "(i32.load16_u offset=7 (local.get 0))") == [Check(0, 0, 8), COVERED, Check(0, 7, 2)]
    assert checks(stores, from_zero=False) == [Check(0, 12, 4), Check(0, 8, 4), Check(0, 4, 4), Check(0, 0, 4)]
    for between in ("(block)", "(if (local.get 1) (then))", "(local.set 0 (local.get 1))", "(loop)"):
        assert checks(f"(drop (i32.load offset=8 (local.get 0))) {between} (i32.load offset=4 (local.get 0))") == [
            Check(0, 8, 4), Check(0, 4, 4)], between
    # a global read twice is two values: a store or call between may set it
    m = decode_module(wat("(module (memory 1) (global (mut i32) (i32.const 0)) (func (result i32)"
                          " (drop (i32.load offset=8 (global.get 0))) (global.set 0 (i32.const 9))"
                          " (i32.load offset=4 (global.get 0))))"))
    found = function_checks(m.functions[0].body, 65536)
    assert [found[k] for k in sorted(found)] == [Check(0, 8, 4), Check(0, 4, 4)]


# Loads only; a store before a later out-of-bounds load; the base reassigned;
# shifted bases, wrapping near 2^32; a branch and a division between accesses.
GROUPS = """(module (memory 1)
  (func (export "loads") (param i32) (result i32)
    (i32.add (i32.add (i32.load offset=8 (local.get 0)) (i32.load8_u (local.get 0)))
             (i32.wrap_i64 (i64.load offset=100 (local.get 0)))))
  (func (export "store_then_load") (param i32) (result i32)
    (i32.store (local.get 0) (i32.const 0x55667788))
    (i32.load offset=200 (local.get 0)))
  (func (export "load_store_load") (param i32) (result i32) (local i32)
    (local.set 1 (i32.load offset=4 (local.get 0)))
    (i32.store offset=8 (local.get 0) (i32.add (local.get 1) (i32.const 1)))
    (i32.add (local.get 1) (i32.load offset=300 (local.get 0))))
  (func (export "reassigned") (param i32 i32) (result i32) (local i32)
    (local.set 2 (i32.load (local.get 0)))
    (local.set 0 (local.get 1))
    (i32.add (local.get 2) (i32.load offset=40 (local.get 0))))
  (func (export "shifted") (param i32) (result i32)
    (i32.add (i32.load (i32.add (local.get 0) (i32.const 4)))
             (i32.add (i32.load (local.get 0)) (i32.load (i32.add (local.get 0) (i32.const 56))))))
  (func (export "branch") (param i32 i32) (result i32)
    (block (result i32) (drop (br_if 0 (i32.load (local.get 0)) (local.get 1))) (i32.load offset=500 (local.get 0))))
  (func (export "divide") (param i32 i32) (result i32)
    (i32.add (i32.load (local.get 0)) (i32.add (i32.div_u (i32.const 7) (local.get 1)) (i32.load offset=500 (local.get 0)))))
  (func (export "load_then_store") (param i32) (i32.store offset=100 (local.get 0) (i32.load (local.get 0))))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1))))
"""

BASES = [0, 65000, 65424, 65430, 65428, 65432, 65436, 65470, 65472, 65476, 65480, 65496, 65520, 65527, 65528, 65532,
         65535, 65536, 2 ** 31, 2 ** 32 - 60, 2 ** 32 - 56, 2 ** 32 - 8, 2 ** 32 - 4, 2 ** 32 - 1]


def _signed(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


def _synth(tmp: Path, wasm: bytes, cpu: str, *extra: str) -> bytes:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.wasm").write_bytes(wasm)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--cpu", cpu, "--out", "out.o",
                           "--header", "out.h", "--report", "out.json", *extra, "--", "in.wasm"],
                          cwd=tmp, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return (tmp / "out.o").read_bytes()


@pytest.mark.parametrize("cpu", CPUS)
def test_a_group_traps_exactly_where_wasm_does(tmp_path, cpu):
    wasm = wat(GROUPS)
    obj = _synth(tmp_path, wasm, cpu)  # no layout: the declared page, wasm's bounds exactly
    source = (tmp_path / "out.json").read_text()
    assert '"end": 65536' in source
    cases = [{"call": name, "args": [_signed(b)]} for name in ("loads", "store_then_load", "load_store_load", "shifted")
             for b in BASES]
    cases += [{"call": "reassigned", "args": [_signed(a), _signed(b)]} for a in (0, 65532, 65533, 2 ** 32 - 4)
              for b in (0, 65492, 65496, 65497)]
    cases += [{"call": name, "args": [_signed(a), k]} for name in ("branch", "divide") for a in (0, 65032, 65033, 65532, 65533)
              for k in (0, 1)]
    results = compare(obj, wasm, cpu, cases, HostStubs())
    assert [(r.case, r.problems) for r in results if r.problems] == []
    traps = [r for r in results if r.firmware.trap]
    assert {r.firmware.trap for r in traps} == {"out_of_bounds_memory", "integer_divide_by_zero"}
    # (a) the first access in bounds, a later one not: the group traps (loads at 8 and 0 fit, 100 does not)
    assert next(r for r in results if r.case == {"call": "loads", "args": [65430]}).firmware.trap == "out_of_bounds_memory"
    # the shifted bases wrap: x = 2^32 - 4 loads x + 4 = 0, but x itself is out of bounds
    assert next(r for r in results if r.case == {"call": "shifted", "args": [-4]}).firmware.trap == "out_of_bounds_memory"
    # a taken branch skips the far load; a division by zero traps before it as itself
    assert next(r for r in results if r.case == {"call": "branch", "args": [65532, 1]}).firmware.trap is None
    assert next(r for r in results if r.case == {"call": "divide", "args": [65033, 0]}).firmware.trap == \
        "integer_divide_by_zero"


class _Both:
    """One object instance in the emulator and one wasmtime instance, called
    in turn without a reset: what a trap left in memory shows in later calls."""

    def __init__(self, obj: bytes, wasm: bytes, cpu: str):
        import wasmtime

        self.module = decode_module(wasm)
        self.machine = machine_for(cpu, link_for_emulation(obj, [], cpu), HostStubs(), {}, {})
        self.store = wasmtime.Store()
        self.instance = wasmtime.Instance(self.store, wasmtime.Module(self.store.engine, wasm), [])

    def call(self, name: str, *args: int):
        import wasmtime

        t = self.module.func_type(next(e.index for e in self.module.exports if e.name == name and e.kind == FUNC))
        fw = self.machine.call(name, list(t.params), list(t.results), list(args))
        try:
            ref = self.instance.exports(self.store)[name](self.store, *args)
            ref = () if ref is None else (ref,)
        except wasmtime.Trap:
            ref = "trap"
        got = "trap" if fw.trap == "out_of_bounds_memory" else fw.trap or tuple(fw.results)
        assert got == ref, (name, args, got, ref)
        return got


@pytest.mark.parametrize("cpu", CPUS)
def test_a_store_before_a_later_out_of_bounds_load_happens_before_the_trap(tmp_path, cpu):
    both = _Both(_synth(tmp_path, wat(GROUPS), cpu), wat(GROUPS), cpu)
    assert both.call("store_then_load", 65400) == "trap"  # its store at 65400 fits, the load at 65600 does not
    assert both.call("peek", 65400) == (0x55667788,)
    both.call("poke", 65400, 41)
    assert both.call("load_store_load", 65396) == "trap"  # load 65400, store 65404, then the load at 65696
    assert both.call("peek", 65404) == (42,)
    # a store as the last access of a group: out of bounds, it traps before the load, which changes nothing
    assert both.call("load_then_store", 65436) == "trap"
    both.call("poke", 65300, 9)
    assert both.call("load_then_store", 65300) == () and both.call("peek", 65400) == (9,)


def _window_module() -> str:
    """A window [4064, 4160): a shadow stack of one 32 B frame below 4096 and data above."""
    return """(module (memory 1)
      (global $__stack_pointer (mut i32) (i32.const 4096))
      (global $data_end i32 (i32.const 4160))
      (export "__data_end" (global $data_end))
      (data (i32.const 4096) "\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10")
      (func (export "frame") (result i32) (local $sp i32)
        (global.set $__stack_pointer (local.tee $sp (i32.sub (global.get $__stack_pointer) (i32.const 32))))
        (i32.store offset=8 (local.get $sp) (i32.const 7))
        (global.set $__stack_pointer (i32.add (local.get $sp) (i32.const 32)))
        (i32.load offset=8 (local.get $sp)))
      (func (export "down") (param i32) (result i32)
        (i32.add (i32.load offset=8 (local.get 0)) (i32.add (i32.load16_u (i32.add (local.get 0) (i32.const 2)))
                                                           (i32.load8_u offset=20 (local.get 0))))))"""


@pytest.mark.parametrize("cpu", CPUS)
def test_a_window_from_above_0_checks_both_ends_of_a_group(tmp_path, cpu):
    wasm = wat(_window_module())
    layout = derive(decode_module(wasm))
    assert (layout.low, layout.end) == (4064, 4160)
    bases = [*range(4056, 4070), *range(4134, 4146), 0, 2 ** 32 - 2]
    results = compare(_synth(tmp_path, wasm, cpu), wasm, cpu, [{"call": "down", "args": [_signed(b)]} for b in bases],
                      HostStubs())
    for base, r in zip(bases, results):
        # bytes [b + 8, b + 12), [b + 2, b + 4), [b + 20, b + 21): all in [4064, 4160), or a trap
        inside = 4064 <= base + 2 and base + 21 <= 4160
        assert (r.firmware.trap is None) == inside, base
        if inside:
            assert r.firmware.results == r.reference.results, base


@pytest.mark.parametrize("cpu", CPUS)
def test_a_group_compiles_to_one_compare(tmp_path, cpu):
    wasm = wat("""(module (memory 1)
      (func (export "sum") (param i32) (result i32)
        (i32.add (i32.add (i32.load offset=12 (local.get 0)) (i32.load offset=8 (local.get 0)))
                 (i32.add (i32.load offset=4 (local.get 0)) (i32.load (local.get 0))))))""")
    _synth(tmp_path, wasm, cpu)
    dump = subprocess.run(["arm-none-eabi-objdump", "-d", "--no-show-raw-insn", str(tmp_path / "out.o")],
                          capture_output=True, text=True, check=True).stdout
    body = dump.split("<sum>:")[1].split("\n\n")[0]
    assert len([ln for ln in body.splitlines() if "\tcmp" in ln]) == 1, body


@pytest.mark.parametrize("cpu", CPUS)
def test_a_group_in_a_cut_window_with_a_pad_lets_through_only_what_wasm_does(tmp_path, cpu):
    wasm = wat("""(module (memory 1) (global $data_end i32 (i32.const 64)) (export "__data_end" (global $data_end))
      (data (i32.const 0) \"""" + "".join(f"\\{i + 1:02x}" for i in range(64)) + """\")
      (func (export "near") (param i32) (result i32)
        (i32.add (i32.load offset=4 (local.get 0)) (i32.add (i32.load (local.get 0)) (i32.load16_u (i32.add (local.get 0) (i32.const 2))))))
      (func (export "far") (param i32) (result i32) (i32.add (i32.load (local.get 0)) (i32.load offset=40 (local.get 0))))
      (func (export "word") (param i32) (result i32) (i32.load (local.get 0))))""")
    layout = derive(decode_module(wasm))
    assert layout.end == 64 and 8 <= layout.reach < 44  # near's group shares the limit, far's is exact
    bases = [*range(16, 26), *range(54, 72), 65528, 65532, 65535, 2 ** 32 - 2]
    cases = [{"call": name, "args": [_signed(b)]} for name in ("near", "far") for b in bases]
    results = compare(_synth(tmp_path, wasm, cpu), wasm, cpu, cases, HostStubs())
    for r in results:
        if r.reference.trap or r.firmware.trap:  # beyond the declared memory, or beyond the window and its pad
            assert r.firmware.trap == "out_of_bounds_memory", r.case
        else:
            assert r.firmware.results == r.reference.results, r.case
    far = {b: r.firmware.trap for b, r in zip(bases, results[len(bases):])}
    assert [b for b in bases if far[b] is None] == list(range(16, 21))  # [b, b + 44) in [0, 64): exact
    near = {b: r.firmware.trap for b, r in zip(bases, results)}
    assert [b for b in bases if near[b] is None] == [*range(16, 26), *range(54, 64)]  # the base below the limit
