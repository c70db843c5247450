"""The linear memory sized by use (memory_layout.py), the shadow stack's static
bound (shadow_stack.py), and the memory the firmware shares through the header."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wasm_harness import wat
from wasmelt.toolchains.builtin.synth.memory_layout import LayoutError, derive
from wasmelt.toolchains.builtin.synth.shadow_stack import analyse
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.firmware_test import compare
from wasmelt.toolchains.reference import HostStubs

LIB_C = """
static unsigned char buf[64];
static unsigned total;
__attribute__((export_name("buffer"))) unsigned char *buffer(void) { return buf; }
__attribute__((export_name("sum"))) unsigned sum(const unsigned char *p, unsigned n) {
  unsigned s = 0;
  for (unsigned i = 0; i < n; i++) s += p[i];
  total += s;
  return s;
}
"""

# A prebuilt module in rustc's default layout: a 1 MiB shadow stack below the
# data, 17 pages declared, a 32-byte frame in `run`.
RUST_LAYOUT = """(module
  (memory 17)
  (global $__stack_pointer (mut i32) (i32.const 1048576))
  (global $data_end i32 (i32.const 1048600))
  (global $heap_base i32 (i32.const 1048608))
  (export "__data_end" (global $data_end))
  (export "__heap_base" (global $heap_base))
  (data (i32.const 1048576) "\\05\\00\\00\\00\\07\\00\\00\\00")
  (func $leaf (param i32) (result i32) (i32.add (local.get 0) (i32.load (i32.const 1048576))))
  (func (export "run") (param i32) (result i32) (local $sp i32)
    (global.set $__stack_pointer (local.tee $sp (i32.sub (global.get $__stack_pointer) (i32.const 32))))
    (i32.store offset=8 (local.get $sp) (call $leaf (local.get 0)))
    (i32.store (i32.const 1048596) (i32.load offset=8 (local.get $sp)))
    (global.set $__stack_pointer (i32.add (local.get $sp) (i32.const 32)))
    (i32.load (i32.const 1048596)))
  (func (export "peek") (param i32) (result i32) (i32.load (local.get 0))))
"""


def synth(tmp: Path, wasm: bytes, *extra: str) -> subprocess.CompletedProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.wasm").write_bytes(wasm)
    return subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--out", "out.o", "--header", "out.h",
                           "--report", "out.json", *extra, "--", "in.wasm"], cwd=tmp, capture_output=True, text=True)


def _lib(workspace, synth_attrs: str = "") -> None:
    workspace.write("lib/lib.c", LIB_C)
    workspace.write("lib/BUILD.toml", f"""
        [[component]]
        name = "lib"
        srcs = ["lib.c"]

        [[synth]]
        name = "fw"
        src = ":lib"
        {synth_attrs}
        """)


def test_a_c_library_holds_its_data_not_its_declared_pages(workspace):
    _lib(workspace)
    run = workspace.run("build", "//lib:fw")
    assert run.code == 0, run.err
    report = json.loads(workspace.read("wasmelt-out/lib/fw/fw.size.json"))
    memory = report["memory"]
    assert memory["declared"] == 65536
    # the stack-first layout: nothing uses the stack, so the component stage linked the least
    # (16 B, its static worst case rounded) instead of stack_size; then buf (64 B) and total (4 B)
    assert memory["stack_top"] == 16 and memory["stack_worst"] == 0
    assert memory["low"] == 0 and 16 + 68 <= memory["end"] <= 16 + 68 + 16
    assert report["objects"]["wasmelt_memory"] == memory["end"] - memory["low"] + memory["pad"]
    assert report["sections"]["bss"] < 120  # was 65 537
    header = workspace.read("wasmelt-out/lib/fw/fw.h")
    assert f"#define WASMELT_MEMORY_LOW {memory['low']}u" in header
    assert "static inline void *wasmelt_pointer(uint32_t offset, uint32_t length)" in header
    size = workspace.run("size", "//lib:fw")
    assert size.code == 0, size.err
    assert f"addresses [0, {memory['end']}) of 65536 declared" in size.out
    assert any(line.split()[:3] == ["sum", "(shadow", "stack)"] for line in size.out.splitlines()), size.out


FIRMWARE_C = r"""
#include "fw.h"
static const uint8_t message[5] = {1, 2, 3, 4, 5};
uint32_t firmware_main(void) {
  uint32_t at = wasm_buffer();                    /* the library's own buffer */
  uint8_t *p = wasmelt_pointer(at, sizeof message);
  if (!p) return 1;
  for (unsigned i = 0; i < sizeof message; i++) p[i] = message[i];
  if (wasmelt_offset(p, sizeof message) != at) return 2;
  if (wasmelt_pointer(WASMELT_MEMORY_END - 2, 4) || wasmelt_pointer(WASMELT_MEMORY_LOW - 1, 1)) return 3;
  if (wasmelt_offset(message, 1)) return 4;       /* firmware data is not in the memory */
  uint8_t *mine = wasmelt_pointer(WASMELT_HEAP_BASE, WASMELT_HEAP_SIZE);  /* the firmware's buffer */
  if (!mine) return 5;
  for (unsigned i = 0; i < 10; i++) mine[i] = 100;
  return wasm_sum(at, sizeof message) * 10000 + wasm_sum(wasmelt_offset(mine, 10), 10);
}
"""


def test_firmware_hands_the_library_its_buffer(workspace, tmp_path):
    from wasmelt.toolchains.cpus import cpu
    from wasmelt.toolchains.thumb_emulator import ThumbMachine

    _lib(workspace, "heap_size = 32")
    run = workspace.run("build", "//lib:fw")
    assert run.code == 0, run.err
    out = workspace.root / "wasmelt-out/lib/fw"
    memory = json.loads((out / "fw.size.json").read_text())["memory"]
    assert memory["heap_size"] == 32 and memory["end"] == memory["heap_base"] + 32
    (tmp_path / "firmware.c").write_text(FIRMWARE_C)
    zig = [sys.executable, "-m", "ziglang", "cc", *cpu("cortex-m4").zig_flags()]
    for cmd in ([*zig, "-Os", "-I", str(out), "-c", "firmware.c", "-o", "firmware.o"],
                [*zig, "-c", "-x", "c", "-", "-o", "start.o"],
                [*zig, str(out / "fw.o"), "firmware.o", "start.o", "-o", "fw.elf", "-Wl,--no-gc-sections"]):
        proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, input="void _start(void) {}\n")
        assert proc.returncode == 0, proc.stderr
    machine = ThumbMachine((tmp_path / "fw.elf").read_bytes(), "cortex-m4")
    outcome = machine.call("firmware_main", [], ["i32"], [])
    assert outcome.trap is None and outcome.results == (15 * 10000 + 1000,)


def test_a_prebuilt_core_holds_its_stack_frames_and_data(tmp_path):
    wasm = wat(RUST_LAYOUT)
    layout = derive(decode_module(wasm))
    assert layout.stack.worst == 32 and layout.declared == 17 * 65536
    assert (layout.low, layout.end) == (1048576 - 32, 1048608)
    proc = synth(tmp_path, wasm)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["sections"]["bss"] <= 64 + 8
    cases = [{"call": "run", "args": [a]} for a in (0, 1, -7, 1 << 20)] + [{"call": "peek", "args": [1048580]}]
    results = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m4", cases, HostStubs())
    assert [r.problems for r in results] == [[]] * len(cases)
    assert results[-1].firmware.results == (7,)
    # Below the stack's worst case and above the data the object has no memory: a trap, not other RAM.
    beyond = compare((tmp_path / "out.o").read_bytes(), wasm, "cortex-m4",
                     [{"call": "peek", "args": [1000]}, {"call": "peek", "args": [1048608]}], HostStubs())
    assert [r.firmware.trap for r in beyond] == ["out_of_bounds_memory"] * 2
    assert all(r.reference.trap is None and r.problems for r in beyond)  # firmware_test shows the difference


@pytest.mark.parametrize("module, why", [
    ('(module (memory 1) (func (export "f") (param i32) (result i32) (i32.load (local.get 0))))',
     "exports no __data_end/__heap_base"),
    ('(module (memory 1) (global $__stack_pointer (mut i32) (i32.const 1024)) (global i32 (i32.const 1040))'
     ' (export "__data_end" (global 1)) (func (export "f") (result i32) (memory.size)))', "memory.size in f"),
    ('(module (memory 1) (global $__stack_pointer (mut i32) (i32.const 1024)) (global i32 (i32.const 1040))'
     ' (export "__heap_base" (global 1)) (func (export "f") (result i32) (i32.load (i32.const 1040))))',
     "f takes __heap_base (it allocates above its data); declare heap_size"),
])
def test_the_declared_memory_is_kept_where_use_cannot_be_bounded(module, why):
    layout = derive(decode_module(wat(module)))
    assert (layout.low, layout.end) == (0, 65536)
    assert why in layout.reason


def test_heap_size_and_memory_bytes(tmp_path):
    reads_heap = ('(module (memory 1) (global $__stack_pointer (mut i32) (i32.const 1024)) (global i32 (i32.const 1040))'
                  ' (export "__heap_base" (global 1)) (func (export "f") (result i32) (i32.load (i32.const 1040))))')
    m = decode_module(wat(reads_heap))
    assert (derive(m, heap_size=100).end, derive(m, heap_size=100).heap_base) == (1144, 1040)
    assert (derive(m, memory_bytes=4096).low, derive(m, memory_bytes=4096).end) == (0, 4096)
    with pytest.raises(LayoutError, match="memory_bytes = 70000 is more than the module's declared memory"):
        derive(m, memory_bytes=70000)
    grows = decode_module(wat('(module (memory 1) (func (export "f") (result i32) (memory.grow (i32.const 1))))'))
    with pytest.raises(LayoutError, match="heap_size: the module sizes its own heap .*memory.grow in f.*set memory_bytes"):
        derive(grows, heap_size=64)


def test_attribute_errors_and_the_bounds_none_warning_through_the_cli(workspace):
    _lib(workspace, "memory_bytes = 100000")
    run = workspace.run("build", "//lib:fw")
    assert run.code != 0 and "Traceback" not in run.err
    assert "memory_bytes = 100000 is more than the module's declared memory (65536 bytes)" in run.err
    _lib(workspace, 'bounds = "none"')
    run = workspace.run("build", "//lib:fw")
    assert run.code == 0, run.err
    assert 'bounds = "none": the linear memory holds only the addresses [0, ' in run.err
    assert "reads and writes whatever RAM lies there" in run.err


@pytest.mark.parametrize("body, worst", [
    ("(global.set $sp (local.tee $l (i32.sub (global.get $sp) (i32.const 48))))"
     "(global.set $sp (i32.add (local.get $l) (i32.const 48)))", 48),
    ("(global.set $sp (i32.sub (global.get $sp) (i32.const 32)))"
     "(global.set $sp (i32.add (global.get $sp) (i32.const 32)))", 32),
    ("(global.set $sp (i32.sub (global.get $sp) (local.get 0)))", None),  # a frame of run-time size
    ("(global.set $sp (i32.and (global.get $sp) (i32.const -16)))", None),  # realigned below the pointer
    ("(global.set $sp (local.get 0))", None),  # the pointer set from elsewhere
    ("(drop (call $f (local.get 0)))", None),  # recursion
])
def test_the_shadow_stack_bound(body, worst):
    m = decode_module(wat(f"""(module (memory 1) (global $sp (mut i32) (i32.const 4096))
        (func $f (export "f") (param i32) (result i32) (local $l i32) {body} (i32.const 0)))"""))
    assert analyse(m).worst == worst


DEEP_C = """
__attribute__((export_name("deep"))) unsigned deep(unsigned i) {
  volatile unsigned char frame[256];
  frame[i & 255] = (unsigned char)i;
  return frame[(i + 1) & 255];
}
__attribute__((noinline)) static unsigned down(unsigned n) {
  volatile unsigned char frame[40];
  frame[n & 31] = (unsigned char)n;
  return n ? down(n - 1) + frame[n & 31] : 0;
}
__attribute__((export_name("recurse"))) unsigned recurse(unsigned n) { return down(n); }
"""


def _deep(workspace, stack_size: int, cases: str) -> None:
    workspace.write("app/deep.c", DEEP_C)
    workspace.write("app/BUILD.toml", f"""
        [[component]]
        name = "deep"
        srcs = ["deep.c"]
        stack_size = {stack_size}
        exports = ["recurse"]

        [[synth]]
        name = "fw"
        src = ":deep"

        [[firmware_test]]
        name = "test"
        firmware = ":fw"
        cases = {cases}
        """)


def test_firmware_test_reports_the_stack_high_water_and_fails_on_overflow(workspace):
    _deep(workspace, 1024, '[{ call = "recurse", args = [3] }, { call = "recurse", args = [1] }]')
    run = workspace.run("test", "//app:test", "--test_output=all")
    assert run.code == 0, run.err + run.out
    result = json.loads(workspace.read("wasmelt-out/app/test/test.result.json"))
    assert 4 * 48 <= result["stack_high_water"] <= 4 * 64  # four frames of down(), 40 B of array each
    assert f"shadow stack high-water {result['stack_high_water']} B (recurse(3))" in run.out + run.err
    _deep(workspace, 1024, '[{ call = "recurse", args = [100] }]')  # 100 frames: past the 1 KiB stack
    run = workspace.run("test", "//app:test")
    assert run.code != 0
    assert "the shadow stack overflowed (1024 B below its top at 1024)" in run.out + run.err


def test_a_static_worst_case_beyond_the_stack_fails_the_build(workspace):
    workspace.write("app/deep.c", DEEP_C)
    workspace.write("app/BUILD.toml", """
        [[component]]
        name = "deep"
        srcs = ["deep.c"]
        stack_size = 128
        exports = ["deep"]

        [[synth]]
        name = "fw"
        src = ":deep"
        """)
    run = workspace.run("build", "//app:fw")
    assert run.code != 0 and "Traceback" not in run.err
    assert "the shadow stack's static worst case is 256 B (through `deep`), more than the 128 B" in run.err
    assert "raise the component's stack_size" in run.err


def test_after_dce_the_components_report_still_sizes_the_memory(workspace):
    workspace.write("lib/lib.c", LIB_C)
    workspace.write("lib/BUILD.toml", """
        [[component]]
        name = "lib"
        srcs = ["lib.c"]

        [[dce]]
        name = "lean"
        src = ":lib"
        roots = ["sum"]

        [[synth]]
        name = "fw"
        src = ":lean"

        [[firmware_test]]
        name = "test"
        firmware = ":fw"
        cases = [{ call = "sum", args = [16, 64], expect = [0] }, { call = "sum", args = [68, 16] }]
        """)
    run = workspace.run("test", "//lib:test")
    assert run.code == 0, run.err + run.out
    lean = decode_module((workspace.root / "wasmelt-out/lib/lean/lean.wasm").read_bytes())
    assert not lean.globals and not lean.datas  # DCE dropped the stack pointer, __data_end and the zeroed data
    memory = json.loads(workspace.read("wasmelt-out/lib/fw/fw.size.json"))["memory"]
    assert (memory["low"], memory["end"]) == (0, 96)  # from the component's report: its 16 B stack, then the data


def test_reports_stand_in_for_what_dce_dropped():
    from wasmelt.toolchains.builtin.synth.memory_layout import LayoutHints

    fused = LayoutHints.from_report({"memory": {"used_bytes": 2112, "shared_stack_top": 2048}})
    component = LayoutHints.from_report({"data_end": 2100, "heap_base": 2112, "stack_pointer_init": 2048,
                                         "data_extent": 2100})
    assert fused == LayoutHints(2112, None, 2048) and component == LayoutHints(2100, 2112, 2048)
    assert LayoutHints.from_report({"bytes_before": 1}) == LayoutHints()  # a report that says nothing of memory
    lean = decode_module(wat('(module (memory 1) (data (i32.const 2060) "\\01")'
                             ' (func (export "f") (param i32) (result i32) (i32.load8_u (local.get 0))))'))
    assert "exports no __data_end" in derive(lean).reason
    layout = derive(lean, hints=fused)  # no stack pointer left: nothing uses the stack below its top
    assert (layout.low, layout.end) == (2048, 2112)
    assert (derive(lean, hints=component).low, derive(lean, hints=component).end) == (2048, 2112)


def test_memory_bytes_below_a_module_that_reads_memory_size_warns(tmp_path):
    wasm = wat('(module (memory 1) (func (export "pages") (result i32) (memory.size)))')
    proc = synth(tmp_path, wasm, "--memory-bytes", "4096")
    assert proc.returncode == 0, proc.stderr
    assert ("warning: memory_bytes = 4096; memory.size in pages still sees the declared 1 page(s): code that "
            "computes the end of the memory from memory.size addresses beyond the object's memory") in proc.stderr
    assert json.loads((tmp_path / "out.json").read_text())["memory"]["bytes"] == 4096


def test_a_small_unused_stack_bottom_stays_in_the_window():
    # 64 B of stack of which the exports use 32: cutting the 32 B below would cost a second
    # bound in every check; 2 KiB below (the same module with its stack at 2048) is cut.
    def module(top: int) -> str:
        return f"""(module (memory 1) (global $sp (mut i32) (i32.const {top}))
            (global i32 (i32.const {top + 16})) (export "__data_end" (global 1))
            (func (export "f") (param i32) (result i32) (local $l i32)
              (global.set $sp (local.tee $l (i32.sub (global.get $sp) (i32.const 32))))
              (i32.store (local.get $l) (local.get 0))
              (global.set $sp (i32.add (local.get $l) (i32.const 32)))
              (i32.load (local.get 0))))"""
    small = derive(decode_module(wat(module(64))))
    assert (small.low, small.end, small.stack_low) == (0, 80, 32)
    assert "the unused 32 B below it kept (less than 256 B" in small.reason
    assert "(its static worst case)" in small.reason
    large = derive(decode_module(wat(module(2048))))
    assert (large.low, large.end) == (2016, 2064) and "kept" not in large.reason


ALLOCATOR_C = """
extern unsigned char __heap_base;
static unsigned char *next;
__attribute__((export_name("alloc"))) void *alloc(unsigned n) {
  if (!next) next = &__heap_base;
  void *p = next;
  next += n;
  return p;
}
"""


def test_the_components_relocations_say_whether_it_takes_heap_base(workspace):
    # A constant that happens to equal __heap_base is not an allocator when the
    # component's relocations say nothing takes its address.
    m = decode_module(wat('(module (memory 1) (global $__stack_pointer (mut i32) (i32.const 16)) (global i32 '
                          '(i32.const 48)) (export "__heap_base" (global 1)) (func (export "f") (param i32) '
                          '(result i32) (i32.shl (i32.load (i32.const 32)) (i32.const 48))))'))
    assert "f takes __heap_base" in derive(m).reason and derive(m).end == 65536
    from wasmelt.toolchains.builtin.synth.memory_layout import LayoutHints
    assert derive(m, hints=LayoutHints(heap_base_taken=False)).end == 48
    workspace.write("lib/lib.c", LIB_C)
    workspace.write("lib/alloc.c", ALLOCATOR_C)
    workspace.write("lib/BUILD.toml", """
        [[component]]
        name = "lib"
        srcs = ["lib.c"]

        [[component]]
        name = "alloc"
        srcs = ["alloc.c"]

        [[synth]]
        name = "fw"
        src = ":alloc"
        """)
    run = workspace.run("build", "//lib:lib", "//lib:fw")
    assert run.code == 0, run.err
    assert json.loads(workspace.read("wasmelt-out/lib/lib/lib.report.json"))["heap_base_taken"] is False
    assert json.loads(workspace.read("wasmelt-out/lib/alloc/alloc.report.json"))["heap_base_taken"] is True
    memory = json.loads(workspace.read("wasmelt-out/lib/fw/fw.size.json"))["memory"]
    assert memory["end"] == 65536 and "alloc takes __heap_base" in memory["reason"]


@pytest.mark.parametrize("body, taken", [("(global.get $hb)", True), ("(i32.const 48)", False)])
def test_a_read_of_the_heap_base_global_counts_as_taking_it(body, taken):
    from wasmelt.toolchains.component import heap_base_taken

    m = decode_module(wat(f'(module (memory 1) (global $hb i32 (i32.const 48)) (export "__heap_base" (global $hb))'
                          f' (func (export "f") (result i32) {body}) (@custom "linking" "\\02"))'))
    assert heap_base_taken(m) is taken
    assert heap_base_taken(decode_module(wat('(module (memory 1))'))) is None  # no relocations: unknown


# A cut window [0, 64) of a 1-page memory: word loads and a store at small
# offsets, a byte load, and one load at a larger offset.
PADDED = """(module (memory 1)
  (global $data_end i32 (i32.const 64))
  (export "__data_end" (global $data_end))
  (data (i32.const 56) "\\01\\02\\03\\04\\05\\06\\07\\08")
  (func (export "ld") (param i32) (result i32) (i32.load (local.get 0)))
  (func (export "ld4") (param i32) (result i32) (i32.load offset=4 (local.get 0)))
  (func (export "ld8") (param i32) (result i32) (i32.load8_u (local.get 0)))
  (func (export "st") (param i32 i32) (i32.store offset=4 (local.get 0) (local.get 1)))
  (func (export "far") (param i32) (result i32) (i32.load offset=40 (local.get 0))))
"""


def _run(tmp: Path, wasm: bytes, cpu: str, cases: list[dict], *extra: str) -> list:
    proc = synth(tmp, wasm, "--cpu", cpu, *extra)
    assert proc.returncode == 0, proc.stderr
    return compare((tmp / "out.o").read_bytes(), wasm, cpu, cases, HostStubs())


def test_a_cut_window_pads_above_its_end_for_one_bounds_limit():
    layout = derive(decode_module(wat(PADDED)))
    # offset + size: 4 (ld), 8 (ld4, st), 1 (ld8) share the limit; far's 44 keeps its own bound
    assert (layout.end, layout.limit, layout.reach, layout.pad) == (64, 63, 8, 7)
    assert "a 7 B zero pad above 64" in layout.reason
    assert derive(decode_module(wat(PADDED)), bounds="none").pad == 0  # no checks, nothing to pad for
    # the pad stays inside the declared memory: with memory_bytes 4 below it, only 5 bytes of reach fit
    near = derive(decode_module(wat(PADDED)), memory_bytes=65536 - 4)
    assert (near.limit, near.reach, near.pad) == (65531, 4, 3)
    whole = derive(decode_module(wat(PADDED)), memory_bytes=65536)
    assert (whole.limit, whole.pad) == (None, 0)
    # one site of offset 40 is not worth 36 B more of RAM; six are
    six = PADDED.replace("(i32.load offset=40 (local.get 0))", "(i32.load offset=40 (local.get 0))"
                         + " (drop (i32.load offset=40 (local.get 0)))" * 5 + " (i32.load offset=40 (local.get 0))")
    assert derive(decode_module(wat(six))).reach == 44
    # accesses of one offset + size share their exact bound already: no pad
    words = PADDED.replace("i32.load8_u", "i32.load").replace("offset=4 ", "").replace("offset=40 ", "")
    assert (derive(decode_module(wat(words))).limit, derive(decode_module(wat(words))).pad) == (None, 0)


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0"])
def test_the_pad_lets_through_only_what_the_declared_memory_holds(tmp_path, cpu):
    wasm = wat(PADDED)
    cases = [{"call": "ld", "args": [60]}, {"call": "ld8", "args": [63]},  # the window's last bytes
             {"call": "ld", "args": [61]}, {"call": "ld4", "args": [59]},  # straddle its end into the pad: zeroes
             {"call": "st", "args": [59, 0x11223344]},                     # [63, 67): one byte in, three in the pad
             {"call": "st", "args": [63, 5]}, {"call": "ld4", "args": [63]},  # the highest base: [67, 71), the pad's end
             {"call": "ld", "args": [65533]}, {"call": "ld", "args": [-1]},  # straddle the declared end, wrap
             {"call": "ld4", "args": [65532]}, {"call": "st", "args": [-4, 1]}]
    results = _run(tmp_path, wasm, cpu, cases)
    assert [r.problems for r in results] == [[]] * len(cases)
    assert [r.firmware.results for r in results[:4]] == [(0x08070605,), (8,), (0x080706,), (8,)]
    assert results[6].firmware.results == (0,)
    assert [r.firmware.trap for r in results[7:]] == ["out_of_bounds_memory"] * 4
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["objects"]["wasmelt_memory"] == 64 + 7  # the RAM the size report counts holds the pad
    assert (report["memory"]["end"], report["memory"]["pad"], report["memory"]["limit"]) == (64, 7, 63)
    header = (tmp_path / "out.h").read_text()
    assert "#define WASMELT_MEMORY_END 64u" in header and "a 7 B zero pad above 64" in header
    # Beyond what the pad holds the object traps where wasm reads zeroes: the cut window, as before.
    beyond = _run(tmp_path / "beyond", wasm, cpu, [{"call": "ld8", "args": [64]}, {"call": "ld", "args": [64]},
                                                    {"call": "far", "args": [21]}])
    assert [r.firmware.trap for r in beyond] == ["out_of_bounds_memory"] * 3
    assert all(r.reference.trap is None for r in beyond)


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0"])
def test_the_whole_memory_keeps_exact_checks(tmp_path, cpu):
    from wasmelt.toolchains.builtin.synth.lower import LowerOptions, lower

    wasm = wat(PADDED)
    source = lower(decode_module(wasm), LowerOptions("check", 65536)).c_source
    assert "WASMELT_MEM_LIMIT" not in source and "wasmelt_memory[65536]" in source
    cases = [{"call": "ld", "args": [65532]}, {"call": "ld8", "args": [65535]}, {"call": "ld4", "args": [65528]},
             {"call": "ld", "args": [65533]}, {"call": "ld8", "args": [65536]}, {"call": "ld4", "args": [65529]},
             {"call": "st", "args": [65529, 7]}, {"call": "far", "args": [65492]}, {"call": "far", "args": [65493]}]
    results = _run(tmp_path, wasm, cpu, cases, "--memory-bytes", "65536")
    assert [r.problems for r in results] == [[]] * len(cases)
    assert [r.firmware.trap for r in results] == [None] * 3 + ["out_of_bounds_memory"] * 4 + [None,
                                                                                              "out_of_bounds_memory"]


def _sweep_module() -> str:
    """Loads and store-then-loads of every width at small offsets, and one
    load at an offset beyond the pad's reach, in a window [0, 64) of one page."""
    funcs = []
    for o in (0, 7):
        for op, t in (("i32.load8_u", "i32"), ("i32.load16_u", "i32"), ("i32.load", "i32"), ("i64.load", "i64")):
            name = f"{op.replace('.', '_')}_{o}"
            store = op.replace("load", "store").removesuffix("_u")
            funcs.append(f'(func (export "{name}") (param i32) (result {t}) ({op} offset={o} (local.get 0)))')
            funcs.append(f'(func (export "st{name}") (param i32) (result {t}) ({store} offset={o} (local.get 0) '
                         f'({t}.const -2)) ({op} offset={o} (local.get 0)))')
    funcs.append('(func (export "far") (param i32) (result i32) (i32.load offset=40 (local.get 0)))')
    return ('(module (memory 1) (global $data_end i32 (i32.const 64)) (export "__data_end" (global $data_end)) '
            '(data (i32.const 0) "' + "".join(f"\\{i + 1:02x}" for i in range(64)) + '") ' + " ".join(funcs) + ")")


@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m0"])
def test_every_access_near_the_ends_traps_where_wasm_does_and_agrees_where_it_runs(tmp_path, cpu):
    wasm = wat(_sweep_module())
    layout = derive(decode_module(wasm))
    assert layout.end == 64 and layout.pad > 0 and layout.reach < 40 + 8  # both forms of the check are swept
    names = [e.name for e in decode_module(wasm).exports if e.name != "__data_end"]
    bases = [*range(56, 72), 65528, 65530, 65532, 65533, 65535, 65536, 0xFFFFFFF9, 0xFFFFFFFF]
    cases = [{"call": name, "args": [base - (1 << 32) if base >= 1 << 31 else base]} for name in names for base in bases]
    results = _run(tmp_path, wasm, cpu, cases)
    ran = 0
    for r in results:
        if r.reference.trap is not None:  # beyond the declared memory: the firmware traps too
            assert r.firmware.trap == "out_of_bounds_memory", r.case
        elif r.firmware.trap is None:  # what the object lets through is what wasm computes
            assert r.firmware.results == r.reference.results, r.case
            ran += 1
        else:  # in the declared memory beyond the window (and its pad): the cut window traps
            assert r.firmware.trap == "out_of_bounds_memory", r.case
    assert ran > len(names) * 4  # the window's top bytes, and the pad, ran
