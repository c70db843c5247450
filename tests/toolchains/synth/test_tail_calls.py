"""Tail calls in constant stack on every target, whatever the C compiler does
with `return f(x)`: deep direct, mutual and indirect tail recursion runs in the
emulator (a 1 MiB native stack) as in wasmtime, on ARMv6-M too."""

from __future__ import annotations

import shutil

import pytest

from test_synth import synth
from wasm_harness import wat
from wasmelt.toolchains.builtin.synth.tail_calls import cycles
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.synth.lower import LowerOptions, lower, symbol_function
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs

DEEP = 300_000  # calls: at 8 bytes a frame (the least a Thumb call that returns keeps) 2.3 MiB of native stack

TAIL = """(module
  (import "hw" "tick" (func $tick (param i32) (result i32)))
  (type $step (func (param i32 f64 i64) (result i32 f64)))
  (table funcref (elem $ping $pong $tick $leaf))

  ;; mutual recursion, an i64 counter
  (func $even (export "even") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 44))
      (else (return_call $odd (i64.sub (local.get 0) (i64.const 1))))))
  (func $odd (export "odd") (param i64) (result i32)
    (if (result i32) (i64.eqz (local.get 0)) (then (i32.const 99))
      (else (return_call $even (i64.sub (local.get 0) (i64.const 1))))))

  ;; self recursion whose local must be zero again on every call
  (func $sum (export "sum") (param $n i32) (param $acc i64) (result i64) (local $seen i32)
    (if (local.get $seen) (then unreachable))
    (local.set $seen (i32.const 1))
    (if (result i64) (i32.eqz (local.get $n)) (then (local.get $acc))
      (else (return_call $sum (i32.sub (local.get $n) (i32.const 1))
                              (i64.add (local.get $acc) (i64.extend_i32_u (local.get $n)))))))

  ;; a body that ends in its tail call
  (func $spin (export "spin") (param i32) (result i32)
    (if (i32.eqz (local.get 0)) (then (return (i32.const 5))))
    (return_call $spin (i32.sub (local.get 0) (i32.const 1))))

  ;; indirect mutual recursion through the table: mixed parameter types, two results
  (func $ping (type $step) (local $spare f32)
    (if (f32.ne (local.get $spare) (f32.const 0)) (then unreachable))
    (local.set $spare (f32.const 1))
    (if (result i32 f64) (i32.eqz (local.get 0)) (then (i32.wrap_i64 (local.get 2)) (local.get 1))
      (else (return_call_indirect (type $step)
              (i32.sub (local.get 0) (i32.const 1)) (local.get 1)
              (i64.add (local.get 2) (i64.const 3)) (i32.const 1)))))
  (func $pong (type $step)
    (return_call_indirect (type $step) (local.get 0) (local.get 1) (i64.sub (local.get 2) (i64.const 1))
      (i32.const 0)))
  (func (export "pingpong") (param i32 f64 i64) (result i32 f64)
    (return_call $ping (local.get 0) (local.get 1) (local.get 2)))

  ;; three members of different signatures, one leaving the cycle for an import
  (func $a (export "a") (param i32 f32) (result i64)
    (if (result i64) (i32.eqz (local.get 0)) (then (i64.extend_i32_s (call $tick (i32.const 7))))
      (else (return_call $b (f64.promote_f32 (local.get 1)) (i64.const 2) (i32.sub (local.get 0) (i32.const 1))))))
  (func $b (param f64 i64 i32) (result i64)
    (if (result i64) (i32.eq (local.get 2) (i32.const 5)) (then (return_call $leaf (local.get 1)))
      (else (return_call $c (local.get 2) (local.get 1) (local.get 0)))))
  (func $c (param i32 i64 f64) (result i64)
    (if (result i64) (i32.eq (local.get 0) (i32.const 1)) (then (i64.extend_i32_s (call $tick (local.get 0))))
      (else (return_call $a (local.get 0) (f32.demote_f64 (local.get 2))))))
  (func $leaf (param i64) (result i64) (i64.mul (local.get 0) (i64.const 1000)))
  ;; a tail call to an import
  (func (export "tick_tail") (param i32) (result i32) (return_call $tick (local.get 0)))
)"""

CASES = [{"call": "even", "args": [DEEP]}, {"call": "even", "args": [DEEP + 1]}, {"call": "odd", "args": [DEEP]},
         {"call": "even", "args": [0]}, {"call": "odd", "args": [7]},
         {"call": "sum", "args": [DEEP, 0]}, {"call": "spin", "args": [DEEP]}, {"call": "sum", "args": [3, 10]},
         {"call": "pingpong", "args": [DEEP // 2, 0.25, -5]}, {"call": "pingpong", "args": [0, 1.5, 9]},
         {"call": "a", "args": [DEEP // 2, 1.5]}, {"call": "a", "args": [6, 0.0]}, {"call": "a", "args": [0, 2.0]},
         {"call": "a", "args": [2, 0.0]}, {"call": "tick_tail", "args": [3]}]


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4", "rv32imc"])
def test_deep_tail_recursion_runs_in_constant_stack(tmp_path, cpu):
    wasm = wat(TAIL)
    proc = synth(tmp_path, wasm, cpu)
    assert proc.returncode == 0, proc.stderr
    stubs = HostStubs({"hw.tick": [5] * 10})
    results = compare((tmp_path / "out.o").read_bytes(), wasm, cpu, CASES, stubs)
    assert [(r.case, r.problems) for r in results if r.problems] == []
    fw = {(r.case["call"], tuple(r.case["args"])): r.firmware for r in results}
    assert fw["even", (DEEP,)].results == (44,) and fw["odd", (DEEP,)].results == (99,)
    assert fw["sum", (DEEP, 0)].results == (DEEP * (DEEP + 1) // 2,)
    assert fw["a", (0, 2.0)].calls[0].name == "hw.tick" and fw["tick_tail", (3,)].results == (5,)


@pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="apt-get install gcc-arm-none-eabi")
def test_gcc_on_armv6m_too(tmp_path):
    wasm = wat(TAIL)
    proc = synth(tmp_path, wasm, "cortex-m0", "--cc", "gcc")
    assert proc.returncode == 0, proc.stderr
    results = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m0", CASES, HostStubs({"hw.tick": [5] * 10}))
    assert [(r.case, r.problems) for r in results if r.problems] == []


def test_tail_call_cycles_are_the_components_that_come_back():
    edges = {1: {2}, 2: {3}, 3: {1, 4}, 4: {4}, 5: {6}, 6: set(), 7: {5, 7}}
    assert cycles(edges) == [(1, 2, 3), (4,), (7,)]
    assert cycles({0: {1}, 1: set()}) == []


def test_the_lowering_jumps_within_a_cycle_and_calls_out_of_it():
    source = lower(decode_module(wat(TAIL)), LowerOptions()).c_source
    # even/odd share one function; the tail calls between them are jumps.
    assert "static u32 wasmelt_tail1(u32 which, u64 t0_u64) {" in source
    assert "t0_u64 = s0i64; goto Ltail2;" in source and "t0_u64 = s0i64; goto Ltail1;" in source
    assert "static u32 wasmelt_fn2(u64 l0) { return wasmelt_tail1(1u, l0); }" in source
    # a self tail call: its arguments become the parameters, a jump to the start
    assert "static u64 wasmelt_fn3(u32 t0_u32, u64 t0_u64) {" in source and "goto Ltail3;" in source
    assert "static u32 wasmelt_fn4(u32 t0_u32) {" in source and "goto Ltail4;" in source
    # the indirect ones: a jump for each table entry in the cycle
    assert "case 7u: t0_u32 = " in source and "goto Ltail6;" in source and "case 6u: t0_u32 = " in source
    # three signatures in one group: one parameter of each C type
    assert "static u64 wasmelt_tail8(u32 which, u32 t0_u32, u64 t0_u64, f32 t0_f32, f64 t0_f64) {" in source
    assert "static u64 wasmelt_fn10(u32 l0, u64 l1, f64 l2) { return wasmelt_tail8(2u, l0, l1, 0.0f, l2); }" in source
    # out of a cycle (to $leaf, the import, $ping from outside): ordinary calls
    assert "= wasmelt_fn11(" in source and "= wasmelt_imp0(" in source and "= wasmelt_fn5(" in source


def test_a_groups_function_counts_as_its_first_members():
    assert symbol_function("wasmelt_tail8") == 8 and symbol_function("wasmelt_fn8") == 8
    assert symbol_function("wasmelt_tail") is None and symbol_function("wasmelt_init") is None
