"""What makes the builtin synth's objects small keeps behaviour: true -Oz
with zig (it changes the code), the data-segment initialiser called out of
line from every export (keeping the arguments in place), bounds checks as one
unsigned compare that still traps at exactly the first byte past the memory,
the stack pointer's range given to the C compiler, and ARMv6-M's 32-bit
accesses through one shared routine."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from elftools.elf.elffile import ELFFile

import pytest

from wasm_harness import wat
from wasmelt.toolchains.builtin.synth.lower import LowerOptions, lower
from wasmelt.toolchains.builtin.synth.shadow_stack import pointer_alignment
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs
from wasmelt.toolchains.synth import COMMON_CFLAGS, cflags, compile_c, elf_facts

# A helper called six times from one function: clang's -Os inlines it
# everywhere, -Oz keeps one copy.
HELPER_CALLS = """(module
  (func $mul (param i32 i32) (result i32)
    (i32.wrap_i64 (i64.shr_s (i64.add (i64.mul (i64.extend_i32_s (local.get 0)) (i64.extend_i32_s (local.get 1)))
                                      (i64.const 32768)) (i64.const 16))))
  (func (export "poly") (param i32) (result i32) (local i32)
    (local.set 1 (call $mul (local.get 0) (local.get 0)))
    (call $mul (call $mul (call $mul (local.get 1) (local.get 0)) (call $mul (local.get 1) (i32.const 3)))
               (call $mul (local.get 0) (i32.const 7)))))"""


def _text(obj: bytes) -> int:
    return elf_facts(obj)["sections"]["text"]


def test_zig_gets_clangs_own_Oz_and_it_shrinks_the_object(tmp_path):
    flags = cflags("zig", "cortex-m4", "size")
    assert flags[-len(COMMON_CFLAGS) - 3:-len(COMMON_CFLAGS)] == ["-Os", "-Xclang", "-Oz"]
    assert "-Oz" not in cflags("zig", "cortex-m4", "speed") and "-O2" in cflags("zig", "cortex-m4", "speed")
    wasm = wat(HELPER_CALLS)
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm)).c_source)
    compile_c(source, tmp_path / "oz.o", "zig", "cortex-m4", "size")
    # The same compile without the pass-through: zig's driver alone means -Os.
    base = [a for a in cflags("zig", "cortex-m4", "size") if a not in ("-Xclang", "-Oz")]
    subprocess.run([sys.executable, "-m", "ziglang", "cc", *base, "-c", "module.c", "-o", "os.o"], cwd=tmp_path,
                   check=True, capture_output=True)
    oz, os_ = (tmp_path / "oz.o").read_bytes(), (tmp_path / "os.o").read_bytes()
    assert _text(oz) < _text(os_), (_text(oz), _text(os_))
    results = compare(oz, wasm, "cortex-m4", [{"call": "poly", "args": [a]} for a in (0, 65536, -98304, 12345)],
                      HostStubs())
    assert all(not r.problems for r in results), [r.problems for r in results]


DATA_AND_EXPORTS = """(module (memory 1)
  (data (i32.const 16) "\\01\\02\\03\\04\\05\\06\\07\\08\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10")
  (func (export "a") (param i32) (result i32) (i32.load8_u offset=16 (local.get 0)))
  (func (export "b") (param i32) (result i32) (i32.load16_u offset=16 (local.get 0)))
  (func (export "c") (param i32) (result i32) (i32.load offset=16 (local.get 0))))"""


def _calls_from(obj: bytes) -> dict[str, set[str]]:
    """Per text section (by its function), the symbols its relocations name."""
    elf = ELFFile(io.BytesIO(obj))
    symtab = elf.get_section_by_name(".symtab")
    found = {}
    for sec in elf.iter_sections():
        if sec.name.startswith(".rel.text."):
            found[sec.name.removeprefix(".rel.text.")] = {symtab.get_symbol(r["r_info_sym"]).name
                                                         for r in sec.iter_relocations()}
    return found


def test_every_export_calls_the_one_out_of_line_initialiser(tmp_path):
    wasm = wat(DATA_AND_EXPORTS)
    source = tmp_path / "module.c"
    lowered = lower(decode_module(wasm))
    source.write_text(lowered.c_source)
    assert lowered.c_source.count("WASMELT_FIRST_CALL();") == 3
    compile_c(source, tmp_path / "m.o", "zig", "cortex-m4", "size")
    obj = (tmp_path / "m.o").read_bytes()
    calls = _calls_from(obj)
    assert calls["wasmelt_init"] == {"", "wasmelt_memory"}  # its flag and image are local: section symbols
    for export in ("a", "b", "c"):
        assert "wasmelt_init" in calls[export], calls
        assert "wasmelt_data0" not in calls[export]  # the copy loop is not inlined into it
    # Each export is its load and a call, far smaller than a copy loop; the one
    # routine (flag test and set, 4-instruction copy loop, 3 literals) is all the runtime.
    sizes = elf_facts(obj)["functions"]
    assert max(sizes[e] for e in "abc") < sizes["wasmelt_init"] + 8, sizes
    assert sizes["wasmelt_init"] <= 40 and set(sizes) == {"a", "b", "c", "wasmelt_init", "wasmelt_trap"}, sizes
    # The first call (whichever export it is) sees the data segment.
    for first in ("a", "c"):
        results = compare(obj, wasm, "cortex-m4", [{"call": first, "args": [1]}, {"call": "b", "args": [2]}],
                          HostStubs())
        assert [r.firmware.results for r in results] == [(2,) if first == "a" else (0x05040302,), (0x0403,)]


def test_many_and_long_data_segments_all_land(tmp_path):
    """More segments than one literal pool serves (POOL_EVERY), one longer
    than a `movs` count: every byte where the reference has it."""
    segments = "".join(f'(data (i32.const {100 * k}) "{chr(65 + k) * (5 + k)}")' for k in range(20))
    long = "".join(f"\\{(i * 7) % 256:02x}" for i in range(700))
    wasm = wat(f'(module (memory 1) {segments} (data (i32.const 3001) "{long}")'
               '(func (export "r") (param i32) (result i32) (i32.load (local.get 0))))')
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm)).c_source)
    cases = [{"call": "r", "args": [a]} for a in (0, 50, 100, 1903, 1920, 3000, 3001, 3697, 3698)]
    for cc, cpu in (("zig", "cortex-m0"), ("gcc", "cortex-m4")):
        compile_c(source, tmp_path / "m.o", cc, cpu, "size")
        results = compare((tmp_path / "m.o").read_bytes(), wasm, cpu, cases, HostStubs())
        assert all(not r.problems for r in results), [(r.case, r.problems) for r in results if r.problems]
        assert results[3].firmware.results == (0x54545454,)


# A start function that keeps many values live (r0-r3, r12 and, with an FPU,
# the argument registers s0-s15) and an export whose arguments fill r0-r3,
# the stack and, hard-float, s0/d1: they reach the export's body unchanged
# only if the first call's initialiser saves what it clobbers.
CLOBBERING_START = """(module (memory 1)
  (data (i32.const 16) "\\2a")
  (global $g (mut i32) (i32.const 0)) (global $h (mut f64) (f64.const 0))
  (func $start (local i32 i32 i32 i32 i32 i32 f64 f64 f64 f32 f32 f32 f32)
    (local.set 0 (i32.const 1)) (local.set 6 (f64.const 1.5))
    (loop $l
      (local.set 1 (i32.add (local.get 1) (i32.mul (local.get 0) (i32.const 3))))
      (local.set 2 (i32.xor (local.get 2) (i32.shl (local.get 1) (i32.const 3))))
      (local.set 3 (i32.sub (local.get 3) (i32.rotl (local.get 2) (local.get 0))))
      (local.set 4 (i32.or (local.get 4) (i32.mul (local.get 3) (local.get 1))))
      (local.set 5 (i32.add (local.get 5) (i32.xor (local.get 4) (local.get 2))))
      (local.set 7 (f64.add (local.get 7) (f64.mul (local.get 6) (f64.convert_i32_s (local.get 0)))))
      (local.set 8 (f64.sub (local.get 8) (f64.div (local.get 7) (local.get 6))))
      (local.set 9 (f32.add (local.get 9) (f32.convert_i32_s (local.get 1))))
      (local.set 10 (f32.mul (local.get 10) (f32.sub (local.get 9) (f32.convert_i32_s (local.get 2)))))
      (local.set 11 (f32.add (local.get 11) (f32.div (local.get 10) (f32.add (local.get 9) (f32.const 0.5)))))
      (local.set 12 (f32.sub (local.get 12) (f32.mul (local.get 11) (local.get 9))))
      (br_if $l (i32.lt_u (local.tee 0 (i32.add (local.get 0) (i32.const 1))) (i32.const 20))))
    (global.set $g (i32.add (i32.add (local.get 1) (local.get 2)) (i32.add (local.get 3) (i32.add (local.get 4) (local.get 5)))))
    (global.set $h (f64.add (f64.add (local.get 7) (local.get 8))
                            (f64.promote_f32 (f32.add (f32.add (local.get 9) (local.get 10)) (f32.add (local.get 11) (local.get 12)))))))
  (start $start)
  (func (export "ints") (param i32 i32 i32 i32 i32 i32) (result i32)
    (i32.add (i32.load8_u offset=16 (i32.const 0))
      (i32.add (i32.mul (local.get 0) (i32.const 3))
        (i32.add (i32.mul (local.get 1) (i32.const 5))
          (i32.add (i32.mul (local.get 2) (i32.const 7))
            (i32.add (i32.mul (local.get 3) (i32.const 11))
              (i32.add (i32.mul (local.get 4) (i32.const 13)) (i32.mul (local.get 5) (i32.const 17)))))))))
  (func (export "floats") (param f32 f64 i32) (result f64)
    (f64.add (f64.add (f64.promote_f32 (local.get 0)) (f64.mul (local.get 1) (f64.const 3)))
             (f64.add (f64.convert_i32_s (i32.add (local.get 2) (global.get $g))) (global.get $h)))))"""


def test_the_first_call_initialises_and_keeps_the_arguments(tmp_path):
    wasm = wat(CLOBBERING_START)
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm)).c_source)
    ints = {"call": "ints", "args": [1, 2, 3, 4, 5, 6]}
    floats = {"call": "floats", "args": [2.5, -0.75, 9]}
    for cc, cpu in (("zig", "cortex-m0"), ("zig", "cortex-m4"), ("zig", "cortex-m4f"), ("gcc", "cortex-m0"),
                    ("gcc", "cortex-m4f")):
        obj = tmp_path / f"{cc}-{cpu}.o"
        compile_c(source, obj, cc, cpu, "size")
        calls = _calls_from(obj.read_bytes())
        assert "wasmelt_init" in calls["ints"] and "wasmelt_init" in calls["floats"], calls
        for order in ([ints, floats], [floats, ints]):  # whichever export runs first initialises
            results = compare(obj.read_bytes(), wasm, cpu, [*order, *order], HostStubs())
            assert all(not r.problems for r in results), (cc, cpu, [(r.case, r.problems) for r in results])
            assert results[0].firmware.results == results[2].firmware.results
        assert results[1].firmware.results == (1 * 3 + 2 * 5 + 3 * 7 + 4 * 11 + 5 * 13 + 6 * 17 + 42,)


def test_bounds_checks_trap_at_the_first_byte_past_the_memory(tmp_path):
    wasm = wat("""(module (memory 1)
      (func (export "load32") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
      (func (export "store16") (param i32) (i32.store16 offset=65530 (local.get 0) (i32.const 7)))
      (func (export "far") (param i32) (result i32) (i32.load8_u offset=65536 (local.get 0))))""")
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm), LowerOptions("check")).c_source)
    compile_c(source, tmp_path / "m.o", "zig", "cortex-m0", "size")
    cases = [{"call": "load32", "args": [65528]}, {"call": "load32", "args": [65529]},
             {"call": "load32", "args": [-1]}, {"call": "load32", "args": [-4]},
             {"call": "store16", "args": [4]}, {"call": "store16", "args": [5]}, {"call": "store16", "args": [-65530]},
             {"call": "far", "args": [0]}, {"call": "far", "args": [-1]}]
    results = compare((tmp_path / "m.o").read_bytes(), wasm, "cortex-m0", cases, HostStubs())
    assert all(not r.problems for r in results), [(r.case, r.problems) for r in results if r.problems]
    traps = [r.firmware.trap for r in results]
    assert traps == [None, "out_of_bounds_memory", "out_of_bounds_memory", "out_of_bounds_memory", None,
                     "out_of_bounds_memory", "out_of_bounds_memory", "out_of_bounds_memory", "out_of_bounds_memory"]



@pytest.mark.parametrize("top, body, align", [
    (4096, "(global.set $sp (local.tee $l (i32.sub (global.get $sp) (i32.const 48))))"
           "(global.set $sp (i32.add (local.get $l) (i32.const 48)))", 16),
    (4096, "(local.set $l (global.get $sp)) (global.set $sp (i32.sub (global.get $sp) (i32.const 8)))"
           "(global.set $sp (local.get $l))", 8),
    (4100, "(global.set $sp (i32.sub (global.get $sp) (i32.const 16)))", 4),  # the initial value's
    (4096, "(global.set $sp (i32.and (i32.sub (global.get $sp) (local.get 0)) (i32.const -16)))", 16),  # realigned
    (4096, "(global.set $sp (i32.sub (global.get $sp) (local.get 0)))", 1),  # a frame of run-time size
    (4096, "(global.set $sp (local.get 0))", 1),  # a parameter: anything
    (4096, "(local.set $l (local.get 0)) (global.set $sp (local.get $l))", 1),  # a local holding one
    (4096, "(global.set $sp (i32.const 4094))", 1),
])
def test_the_stack_pointers_alignment(top, body, align):
    m = decode_module(wat(f"""(module (memory 1) (global $sp (mut i32) (i32.const {top}))
        (func (export "f") (param i32) (result i32) (local $l i32) {body} (i32.const 0)))"""))
    assert pointer_alignment(m, 0) == align


# A frame of words (clang's shape: the pointer 16-aligned, the frame taken and
# given back by multiples of 16) accessed at constant offsets.
FRAME_WORDS = """(module (memory 1) (global $__stack_pointer (mut i32) (i32.const 1024))
  (func $fill (param $p i32) (param $v i32)
    (i32.store (local.get $p) (local.get $v)) (i32.store offset=4 (local.get $p) (i32.add (local.get $v) (i32.const 1)))
    (i32.store offset=8 (local.get $p) (i32.mul (local.get $v) (i32.const 3))))
  (func (export "frame") (param $v i32) (result i32) (local $f i32)
    (global.set $__stack_pointer (local.tee $f (i32.sub (global.get $__stack_pointer) (i32.const 16))))
    (call $fill (local.get $f) (local.get $v))
    (i32.store offset=12 (local.get $f) (i32.load offset=8 (local.get $f)))
    (i32.add (i32.add (i32.load (local.get $f)) (i32.load offset=4 (local.get $f)))
             (i32.load offset=12 (block (result i32) (global.set $__stack_pointer (i32.add (local.get $f) (i32.const 16)))
                                        (local.get $f))))))"""


def test_armv6m_accesses_frame_words_with_one_instruction(tmp_path):
    """The pointer's alignment told to the compiler: on cortex-m0 the frame's
    word accesses need no shared unaligned-access routine (with zig)."""
    wasm = wat(FRAME_WORDS)
    lowered = lower(decode_module(wasm), LowerOptions("check"))
    assert "#define WASMELT_SHARED_LD32" in lowered.c_source and "& 15u)) __builtin_unreachable();" in lowered.c_source
    source = tmp_path / "module.c"
    source.write_text(lowered.c_source)
    for cc in ("zig", "gcc"):
        compile_c(source, tmp_path / "m.o", cc, "cortex-m0", "size")
        obj = (tmp_path / "m.o").read_bytes()
        called = set().union(*_calls_from(obj).values())
        if cc == "zig":  # gcc folds its __builtin_constant_p before it knows the ranges
            assert not called & {"wasmelt_ld32u", "wasmelt_st32u"}, called
        results = compare(obj, wasm, "cortex-m0", [{"call": "frame", "args": [a]} for a in (5, -7)], HostStubs())
        assert [r.firmware.results for r in results] == [(5 + 6 + 15,), (-7 - 6 - 21,)], [r.problems for r in results]


UNALIGNED = """(module (memory 1)
  (func (export "rw16") (param i32 i32) (result i32)
    (i32.store16 offset=1 (local.get 0) (local.get 1)) (i32.load16_s offset=1 (local.get 0)))
  (func (export "rw32") (param i32 i32) (result i32)
    (i32.store offset=3 (local.get 0) (local.get 1)) (i32.load offset=3 (local.get 0)))
  (func (export "rw64") (param i32 i64) (result i64)
    (i64.store offset=5 (local.get 0) (local.get 1)) (i64.load offset=5 (local.get 0)))
  (func (export "rwf32") (param i32 f32) (result f32)
    (f32.store offset=1 (local.get 0) (local.get 1)) (f32.load offset=1 (local.get 0)))
  (func (export "rwf64") (param i32 f64) (result f64)
    (f64.store offset=7 (local.get 0) (local.get 1)) (f64.load offset=7 (local.get 0)))
  (func (export "bytes") (param i32) (result i32)
    (i32.store (i32.const 16) (i32.const 0x04030201)) (i32.load8_s offset=16 (local.get 0))))"""


def test_gcc_on_armv6m_accesses_unaligned_memory_without_memcpy(tmp_path):
    from wasmelt.toolchains.builtin.synth.lower import LowerOptions as Options

    wasm = wat(UNALIGNED)
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm), Options("check")).c_source)
    compile_c(source, tmp_path / "m.o", "gcc", "cortex-m0", "size")
    obj = (tmp_path / "m.o").read_bytes()
    assert not [s for s in elf_facts(obj)["undefined"] if s.startswith("mem")]
    cases = [{"call": "rw16", "args": [a, -12345]} for a in (0, 1, 65533)]
    cases += [{"call": "rw32", "args": [a, 0x12345678]} for a in (0, 1, 2, 65529, 65530)]
    cases += [{"call": "rw64", "args": [a, -0x123456789ABCDEF]} for a in (0, 3, 65523, 65524)]
    cases += [{"call": "rwf32", "args": [a, -1.5]} for a in (0, 2)] + [{"call": "rwf64", "args": [1, 1e300]}]
    cases += [{"call": "bytes", "args": [a]} for a in (0, 1, 2, 3)]
    results = compare(obj, wasm, "cortex-m0", cases, HostStubs())
    assert all(not r.problems for r in results), [(r.case, r.problems) for r in results if r.problems]
    # rw32 at 65530 and rw64 at 65524 end one byte past the memory; the cases before them end at it.
    assert [r.case["args"][0] for r in results if r.firmware.trap] == [65530, 65524]


# A C-style shadow stack: `frame` spills its arguments to a 32-byte frame and
# reads them back, `deep` recurses with 32-byte frames, `poke` stores anywhere.
SHADOW_STACK = """(module (memory 1)
  (global $__stack_pointer (mut i32) (i32.const 1024))
  (data (i32.const 1024) "\\07")
  (func $frame (export "frame") (param i32 i32 i32) (result i32) (local $sp i32)
    (global.set $__stack_pointer (local.tee $sp (i32.sub (global.get $__stack_pointer) (i32.const 32))))
    (i32.store offset=4 (local.get $sp) (local.get 0))
    (i32.store16 offset=10 (local.get $sp) (local.get 1))
    (i32.store8 offset=31 (local.get $sp) (local.get 2))
    (i64.store offset=16 (local.get $sp) (i64.extend_i32_u (local.get 0)))
    (local.set 0 (i32.add (i32.add (i32.load offset=4 (local.get $sp)) (i32.load16_u offset=10 (local.get $sp)))
                          (i32.add (i32.load8_u offset=31 (local.get $sp)) (i32.wrap_i64 (i64.load offset=16 (local.get $sp))))))
    (global.set $__stack_pointer (i32.add (local.get $sp) (i32.const 32)))
    (i32.add (local.get 0) (i32.load8_u (i32.const 1024))))
  (func $deep (export "deep") (param i32) (result i32) (local $sp i32)
    (global.set $__stack_pointer (local.tee $sp (i32.sub (global.get $__stack_pointer) (i32.const 32))))
    (i32.store offset=8 (local.get $sp) (local.get 0))
    (if (local.get 0) (then (drop (call $deep (i32.sub (local.get 0) (i32.const 1))))))
    (global.set $__stack_pointer (i32.add (local.get $sp) (i32.const 32)))
    (i32.load offset=8 (local.get $sp)))
  (func (export "poke") (param i32 i32) (i32.store (local.get 0) (local.get 1))))"""


def test_the_stack_pointers_range_drops_the_checks_of_frame_accesses_and_keeps_every_trap(tmp_path):
    wasm = wat(SHADOW_STACK)
    source = lower(decode_module(wasm), LowerOptions("check")).c_source
    hint = "if (!WASMELT_SP_OK(s0i32) || (s0i32 & 15u)) __builtin_unreachable();"  # its range and alignment
    assert source.count(hint) == 2  # after each read of the pointer
    (tmp_path / "hinted.c").write_text(source)
    (tmp_path / "plain.c").write_text(source.replace(hint, ""))
    for cpu in ("cortex-m0", "cortex-m4"):
        compile_c(tmp_path / "hinted.c", tmp_path / "hinted.o", "zig", cpu, "size")
        compile_c(tmp_path / "plain.c", tmp_path / "plain.o", "zig", cpu, "size")
        sizes = [elf_facts((tmp_path / f"{v}.o").read_bytes())["functions"]["frame"] for v in ("hinted", "plain")]
        assert sizes[0] < sizes[1], (cpu, sizes)  # the frame's checks are gone
        cases = [{"call": "frame", "args": [70000, 3, 9]}, {"call": "deep", "args": [5]},
                 {"call": "poke", "args": [65532, 1]}, {"call": "poke", "args": [65533, 1]},
                 {"call": "frame", "args": [1, 2, 3]}, {"call": "deep", "args": [40]}]
        results = compare((tmp_path / "hinted.o").read_bytes(), wasm, cpu, cases, HostStubs())
        # The overflow traps as the object contract says (wasm engines trap later, out of bounds).
        assert all(not r.problems for r in results[:-1]), [(r.case, r.problems) for r in results if r.problems]
        assert [r.firmware.trap for r in results] == [None, None, None, "out_of_bounds_memory", None,
                                                      "stack_overflow"]
        assert results[0].firmware.results == (70000 + 3 + 9 + 70000 + 7,)


def test_a_stack_pointer_that_starts_outside_the_memory_gets_no_range(tmp_path):
    text = SHADOW_STACK.replace("(i32.const 1024))\n  (data", "(i32.const 70000))\n  (data")
    assert "70000" in text
    hints = [line.strip() for line in lower(decode_module(wat(text)), LowerOptions("check")).c_source.splitlines()
             if "__builtin_unreachable" in line]
    assert hints == ["if ((s0i32 & 15u)) __builtin_unreachable();"] * 2  # its alignment only


# 32- and 64-bit accesses at any alignment, many values live across them.
WIDE_ACCESSES = """(module (memory 1)
  (data (i32.const 0) "\\01\\23\\45\\67\\89\\ab\\cd\\ef\\10\\32\\54\\76\\98\\ba\\dc\\fe\\11\\22\\33\\44\\55\\66\\77\\88")
  (func (export "mix") (param i32 i32) (result i32) (local i32 i32 i32 i32)
    (local.set 2 (i32.load (local.get 0)))
    (local.set 3 (i32.load offset=5 (local.get 0)))
    (local.set 4 (i32.wrap_i64 (i64.shr_u (i64.load offset=2 (local.get 0)) (i64.const 24))))
    (local.set 5 (i32.load offset=9 (local.get 0)))
    (i32.store offset=40 (local.get 0) (i32.xor (local.get 2) (local.get 1)))
    (i64.store offset=45 (local.get 0) (i64.extend_i32_u (i32.add (local.get 3) (local.get 4))))
    (f32.store offset=54 (local.get 0) (f32.load offset=1 (local.get 0)))
    (i32.store offset=59 (local.get 0) (local.get 5))
    (i32.add (i32.add (i32.mul (local.get 2) (i32.const 3)) (i32.mul (local.get 3) (i32.const 5)))
             (i32.add (i32.add (i32.mul (local.get 4) (i32.const 7)) (i32.mul (local.get 5) (local.get 1)))
                      (i32.add (i32.load offset=40 (local.get 0)) (i32.add (i32.load offset=46 (local.get 0))
                                                                          (i32.load offset=58 (local.get 0)))))))
  (func (export "one") (param i32) (result i32) (i32.load (local.get 0))))"""


def test_armv6m_wide_accesses_share_one_routine_and_keep_their_values(tmp_path):
    wasm = wat(WIDE_ACCESSES)
    source = tmp_path / "module.c"
    source.write_text(lower(decode_module(wasm), LowerOptions("check")).c_source)
    cases = [{"call": "mix", "args": [p, 0x5a5a1234]} for p in (0, 1, 2, 3, 4, 7, 65400, 65473)]
    cases += [{"call": "mix", "args": [65474, 1]}, {"call": "one", "args": [65533]}, {"call": "one", "args": [6]}]
    for cc in ("zig", "gcc"):
        compile_c(source, tmp_path / f"{cc}.o", cc, "cortex-m0", "size")
        obj = (tmp_path / f"{cc}.o").read_bytes()
        calls = _calls_from(obj)
        assert {"wasmelt_ld32u", "wasmelt_st32u"} <= calls["mix"], calls
        results = compare(obj, wasm, "cortex-m0", cases, HostStubs())
        assert all(not r.problems for r in results), (cc, [(r.case, r.problems) for r in results if r.problems])
        assert [r.firmware.trap for r in results][-3:] == ["out_of_bounds_memory", "out_of_bounds_memory", None]
        # The same source where the core has unaligned access: plain loads and stores, no routine.
        compile_c(source, tmp_path / f"{cc}-m3.o", cc, "cortex-m3", "size")
        assert "wasmelt_ld32u" not in _calls_from((tmp_path / f"{cc}-m3.o").read_bytes())["mix"]
    # Without the shared routines (a module with fewer sites) the accesses are inline and larger.
    inline = lower(decode_module(wasm), LowerOptions("check")).c_source.replace("#define WASMELT_SHARED_LD32\n", "")
    (tmp_path / "inline.c").write_text(inline.replace("#define WASMELT_SHARED_ST32\n", ""))
    compile_c(tmp_path / "inline.c", tmp_path / "inline.o", "zig", "cortex-m0", "size")
    sizes = [elf_facts((tmp_path / f"{v}.o").read_bytes())["functions"]["mix"] for v in ("zig", "inline")]
    assert sizes[0] < sizes[1] * 0.8, sizes


def test_armv6m_trusts_natural_alignment_hints_only_when_asked(tmp_path):
    """A module compiled from C or Rust (`natural_alignment`): an access whose hint
    is its size is one instruction on ARMv6-M, with no shared routine; one hinted
    `align=1` keeps the routine and works at any address. A misaligned address
    under a natural hint faults, as the same C does natively: never a wrong value."""
    wasm = wat("""(module (memory 1)
  (func (export "mix") (param i32 i32) (result i32) (local i32)
    (local.set 2 (i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0))))
    (i64.store offset=16 (local.get 0) (i64.extend_i32_u (i32.xor (local.get 2) (local.get 1))))
    (i32.store offset=24 (local.get 0) (i32.add (i32.load offset=8 (local.get 0)) (i32.load offset=12 (local.get 0))))
    (i32.add (i32.wrap_i64 (i64.load offset=16 (local.get 0))) (i32.load offset=24 (local.get 0))))
  (func (export "odd") (param i32) (result i32)
    (i32.add (i32.load align=1 (local.get 0)) (i32.add (i32.load offset=4 align=1 (local.get 0))
      (i32.add (i32.load offset=8 align=1 (local.get 0)) (i32.load offset=12 align=1 (local.get 0))))))
  (func (export "one") (param i32) (result i32) (i32.load (local.get 0))))""")
    source = lower(decode_module(wasm), LowerOptions("check", natural_alignment=True)).c_source
    assert "#define WASMELT_NATURAL_ALIGNMENT\n" in source and "wasmelt_ld32n(WASMELT_MEM" in source
    (tmp_path / "module.c").write_text(source)
    compile_c(tmp_path / "module.c", tmp_path / "natural.o", "zig", "cortex-m0", "size")
    obj = (tmp_path / "natural.o").read_bytes()
    calls = _calls_from(obj)
    assert not calls.get("mix", set()) & {"wasmelt_ld32u", "wasmelt_st32u"}, calls
    assert "wasmelt_ld32u" in calls["odd"], calls
    cases = [{"call": "mix", "args": [p, 0x5a5a1234]} for p in (0, 8, 65504)]
    cases += [{"call": "odd", "args": [p]} for p in (0, 1, 3, 65519)] + [{"call": "one", "args": [4]}]
    results = compare(obj, wasm, "cortex-m0", cases, HostStubs())
    assert all(not r.problems for r in results), [(r.case, r.problems) for r in results if r.problems]
    misaligned = compare(obj, wasm, "cortex-m0", [{"call": "one", "args": [6]}], HostStubs())[0]
    assert misaligned.firmware.trap.startswith("cpu fault (unaligned 4-byte access"), misaligned
    assert misaligned.problems and not misaligned.firmware.results, misaligned
    plain = lower(decode_module(wasm), LowerOptions("check")).c_source
    assert "#define WASMELT_NATURAL_ALIGNMENT\n" not in plain and "wasmelt_ld32n(WASMELT_MEM" not in plain
    (tmp_path / "plain.c").write_text(plain)
    compile_c(tmp_path / "plain.c", tmp_path / "plain.o", "zig", "cortex-m0", "size")
    sizes = [elf_facts((tmp_path / f"{v}.o").read_bytes())["functions"]["mix"] for v in ("natural", "plain")]
    assert sizes[0] < sizes[1], sizes


def test_a_module_with_few_wide_accesses_keeps_them_inline(tmp_path):
    source = lower(decode_module(wat('(module (memory 1) (func (export "f") (param i32) (result i32) '
                                     '(i32.add (i32.load (local.get 0)) (i32.load offset=4 (local.get 0)))))'))).c_source
    assert "#define WASMELT_SHARED" not in source and "wasmelt_ld32u:" not in source


STORES_ONLY = """(module (memory 1)
  (func (export "fill") (param i32 i32)
    (i32.store (local.get 0) (local.get 1)) (i32.store offset=4 (local.get 0) (local.get 1))
    (i32.store offset=9 (local.get 0) (local.get 1)) (i32.store offset=13 (local.get 0) (local.get 1)))
  (func (export "fixed") (param i32)
    (i32.store (i32.const 64) (local.get 0)) (i32.store (i32.const 68) (local.get 0))
    (i32.store (i32.const 72) (local.get 0)) (i32.store (i32.const 76) (local.get 0)))
  (func (export "get") (param i32) (result i32) (i32.load8_u (local.get 0))))"""


def test_armv6m_shared_stores_without_shared_loads_and_aligned_constants_stay_plain(tmp_path):
    # A module that only stores wide values has the store routine alone; an
    # address the compiler proves aligned keeps its one `str`.
    wasm = wat(STORES_ONLY)
    source = lower(decode_module(wasm), LowerOptions("check")).c_source
    assert "#define WASMELT_SHARED_ST32" in source and "#define WASMELT_SHARED_LD32" not in source
    (tmp_path / "module.c").write_text(source)
    for cc in ("zig", "gcc"):
        compile_c(tmp_path / "module.c", tmp_path / f"{cc}.o", cc, "cortex-m0", "size")
        calls = _calls_from((tmp_path / f"{cc}.o").read_bytes())
        assert "wasmelt_st32u" in calls["fill"] and "wasmelt_st32u" not in calls.get("fixed", set()), (cc, calls)
        cases = [{"call": "fill", "args": [p, 0x11223344]} for p in (0, 1, 2, 3, 65520)]
        cases += [{"call": "fixed", "args": [0x55667788]}, {"call": "get", "args": [66]},
                  {"call": "get", "args": [13]}, {"call": "fill", "args": [65521, 1]}]
        results = compare((tmp_path / f"{cc}.o").read_bytes(), wasm, "cortex-m0", cases, HostStubs())
        assert all(not r.problems for r in results), (cc, [(r.case, r.problems) for r in results if r.problems])
        assert results[-1].firmware.trap == "out_of_bounds_memory"
