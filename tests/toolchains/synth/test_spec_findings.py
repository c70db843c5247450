"""Regression tests for what the spec suite found in the builtin synth: wasm
names colliding with generated ones, signalling NaNs kept, segments out of
range, memory.grow, shadow-stack overflow, names the C compile rejected."""

from __future__ import annotations

import math
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from wasm_harness import wat
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wasm.model import FUNC
from wasmelt.toolchains.reference import HostStubs, run_reference
from wasmelt.toolchains.emulator import Signature, link_for_emulation
from wasmelt.toolchains.thumb_emulator import ThumbMachine

RAW = {"i32": "i32", "i64": "i64", "f32": "i32", "f64": "i64",  # cortex-m4 is soft-float: bits in core registers
       "funcref": "i32", "externref": "i32"}


def synth(tmp: Path, wasm: bytes, *extra: str) -> subprocess.CompletedProcess:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "in.wasm").write_bytes(wasm)
    return subprocess.run([sys.executable, "-m", "wasmelt.toolchains.synth", "--cpu", "cortex-m4", "--out", "out.o",
                           "--header", "out.h", "--report", "out.json", *extra, "--", "in.wasm"],
                          cwd=tmp, capture_output=True, text=True)


class Object:
    """A synthesized module running in the Thumb emulator; values as raw bits."""

    def __init__(self, tmp: Path, wasm: bytes, *extra: str, host: HostStubs | None = None, libgcc: bool = True):
        proc = synth(tmp, wasm, *extra)
        assert proc.returncode == 0, proc.stderr
        self.wasm = wasm
        self.module = decode_module(wasm)
        import json

        imports = json.loads((tmp / "out.json").read_text())["imports"]  # symbol -> module.field
        sigs = {}
        for symbol, full in imports.items():
            imp = next(i for i in self.module.imported(FUNC) if f"{i.module}.{i.name}" == full)
            t = self.module.types[imp.desc]
            sigs[symbol] = Signature(list(t.params), list(t.results))
        self.imports = imports
        image = link_for_emulation((tmp / "out.o").read_bytes(), sorted(sigs), "cortex-m4", libgcc=libgcc)
        self.machine = ThumbMachine(image, "cortex-m4", host or HostStubs(), sigs, imports)

    def call(self, name: str, *args: int):
        export = next(e for e in self.module.exports if e.name == name and e.kind == FUNC)
        t = self.module.func_type(export.index)
        out = self.machine.call(name, [RAW[p] for p in t.params], [RAW[r] for r in t.results], list(args))
        if out.trap:
            return out.trap
        return [v & ((1 << (64 if r in ("i64", "f64") else 32)) - 1) for r, v in zip(t.results, out.results)]


def f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


SNAN32, SNAN64 = 0x7FA00000, 0x7FF4000000000000


def is_quiet_nan32(bits: int) -> bool:
    return bits & 0x7F800000 == 0x7F800000 and bits & 0x00400000 != 0


def is_quiet_nan64(bits: int) -> bool:
    return bits & 0x7FF0000000000000 == 0x7FF0000000000000 and bits & 0x0008000000000000 != 0


def test_exports_named_like_generated_code_keep_their_meaning(tmp_path):
    obj = Object(tmp_path, wat("""(module
      (global $g0 (mut i32) (i32.const 42))
      (func $f0 (result i32) (i32.const 100))
      (func (export "f0") (result i32) (i32.const 1))
      (func (export "f1") (result i32) (call $f0))
      (func (export "g0") (result i32) (global.get $g0))
      (func (export "f32") (result i32) (i32.const 32))
      (func (export "u8") (result i32) (i32.const 8)))"""))
    assert [obj.call(n) for n in ("f0", "f1", "g0", "f32", "u8")] == [[1], [100], [42], [32], [8]]


def test_an_import_and_an_export_of_one_field_name_are_two_symbols(tmp_path):
    wasm = wat("""(module (import "env" "tick" (func $tick (result i32)))
      (func (export "tick") (result i32) (i32.add (call $tick) (i32.const 1))))""")
    obj = Object(tmp_path, wasm, host=HostStubs({"env.tick": [41]}))
    assert obj.imports == {"env.tick": "env.tick"}
    assert obj.call("tick") == [42]
    assert 'host_env_tick(void) __asm__("env.tick")' in (tmp_path / "out.h").read_text()


def test_names_in_the_reserved_namespace_are_refused(tmp_path):
    proc = synth(tmp_path, wat('(module (func (export "wasmelt_fn0")))'))
    assert proc.returncode == 1
    assert "export `wasmelt_fn0` is in a namespace the object reserves" in proc.stderr
    proc = synth(tmp_path, wat('(module (import "env" "__aeabi_fadd" (func)))'))
    assert proc.returncode == 1 and "import `env.__aeabi_fadd` is in a namespace" in proc.stderr


def test_duplicate_export_names_are_refused_before_the_c_compiler(tmp_path):
    # invalid wasm (validators reject it; wat2wasm will not write it): two exports named "f"
    one = wat('(module (func (export "f")) (func (export "g")))')
    proc = synth(tmp_path, one.replace(b"\x01g\x00", b"\x01f\x00"))
    assert proc.returncode == 1
    assert "duplicate export name 'f'" in proc.stderr and "Traceback" not in proc.stderr


def test_exports_named_like_the_c_runtime_work(tmp_path):
    wasm = wat("""(module
      (func (export "sqrt") (param f64) (result f64) (f64.sqrt (local.get 0)))
      (func (export "sqrtf") (param f32) (result f32) (f32.sqrt (local.get 0)))
      (func (export "floor") (param f32) (result f32) (f32.floor (local.get 0)))
      (func (export "memcpy") (param i32 i32 i32) (result i32) (local.get 0)))""")
    obj = Object(tmp_path, wasm)
    d = lambda v: struct.unpack("<Q", struct.pack("<d", v))[0]  # noqa: E731
    for v in [0.0, -0.0, 1.0, 2.0, 0.5, 1e-310, 5e-324, 1.7976931348623157e308, 123456.789, 3.0, 1e300, 7e-5,
              float("inf"), 2.0 ** -1073, 0.1]:
        assert obj.call("sqrt", d(v)) == [d(math.sqrt(v))], v  # Python's sqrt is correctly rounded
    assert is_quiet_nan64(obj.call("sqrt", d(-1.0))[0]) and is_quiet_nan64(obj.call("sqrt", SNAN64)[0])
    for v in (2.0, 0.1, 1e-40, 3.4e38, 10.0, 1e-45):
        x = struct.unpack("<f", struct.pack("<f", v))[0]
        assert obj.call("sqrtf", f32(x)) == [f32(math.sqrt(x))], v  # double then float rounding is exact for sqrt
    assert obj.call("floor", f32(-1.5)) == [f32(-2.0)]
    assert obj.call("memcpy", 7, 0, 0) == [7]


@pytest.mark.parametrize("body, param", [
    ("(f32.sub (local.get 0) (f32.const 0))", "f32"), ("(f32.mul (local.get 0) (f32.const 1))", "f32"),
    ("(f32.div (local.get 0) (f32.const 1))", "f32"), ("(f32.div (local.get 0) (f32.const -1))", "f32"),
    ("(f32.sub (f32.const -0) (local.get 0))", "f32"), ("(f32.mul (f32.const -1) (local.get 0))", "f32"),
    ("(f32.demote_f64 (f64.promote_f32 (local.get 0)))", "f32"), ("(f32.floor (local.get 0))", "f32"),
    ("(f32.ceil (local.get 0))", "f32"), ("(f32.trunc (local.get 0))", "f32"), ("(f32.nearest (local.get 0))", "f32"),
    ("(f64.sub (local.get 0) (f64.const 0))", "f64"), ("(f64.mul (local.get 0) (f64.const 1))", "f64"),
    ("(f64.div (local.get 0) (f64.const -1))", "f64"), ("(f64.floor (local.get 0))", "f64"),
    ("(f64.nearest (local.get 0))", "f64"), ("(f64.trunc (local.get 0))", "f64"),
])
def test_signalling_nans_come_out_quiet(tmp_path, body, param):
    obj = Object(tmp_path, wat(f'(module (func (export "f") (param {param}) (result {param}) {body}))'))
    if param == "f32":
        assert is_quiet_nan32(obj.call("f", SNAN32)[0])
    else:
        assert is_quiet_nan64(obj.call("f", SNAN64)[0])


@pytest.mark.parametrize("libgcc", [False, True])
def test_promote_quiets_a_signalling_nan_with_either_runtime(tmp_path, libgcc):
    obj = Object(tmp_path, wat('(module (func (export "p") (param f32) (result f64) (f64.promote_f32 (local.get 0))))'),
                 libgcc=libgcc)
    assert is_quiet_nan64(obj.call("p", SNAN32)[0])
    assert obj.call("p", f32(1.5)) == [struct.unpack("<Q", struct.pack("<d", 1.5))[0]]


def test_float_globals_keep_their_exact_bits(tmp_path):
    obj = Object(tmp_path, wat("""(module
      (global $a f32 (f32.const nan:0x200001))
      (global $b (mut f64) (f64.const -0x1.8p+3))
      (global $c f32 (global.get $a))
      (func (export "a") (result i32) (i32.reinterpret_f32 (global.get $c)))
      (func (export "b") (result f64) (global.get $b))
      (func (export "set") (param f64) (global.set $b (local.get 0))))"""))
    assert obj.call("a") == [0x7FA00001]  # a signalling NaN, kept: reinterpret and global.get are bit copies
    assert obj.call("b") == [struct.unpack("<Q", struct.pack("<d", -12.0))[0]]
    obj.call("set", SNAN64 | 5)
    assert obj.call("b") == [SNAN64 | 5]


@pytest.mark.parametrize("segment, message", [
    ('(memory 1) (data (i32.const -16) "hi")', "data segment 0 (2 bytes at offset 4294967280) ends beyond the 65536"),
    ('(memory 1) (data (i32.const 65535) "hi")', "data segment 0 (2 bytes at offset 65535) ends beyond"),
    ('(memory 1) (data (i32.const 65537) "")', "data segment 0 (0 bytes at offset 65537) ends beyond"),
    ('(table 2 funcref) (func $f) (elem (i32.const -1) $f)',
     "element segment 0 (1 entries at offset 4294967295) ends beyond the 2 entries of table 0"),
])
def test_segments_out_of_range_are_a_build_error_naming_the_segment(tmp_path, segment, message):
    proc = synth(tmp_path, wat(f'(module {segment} (func (export "run")))'))
    assert proc.returncode == 1
    assert message in proc.stderr and "instantiating the module would trap" in proc.stderr


@pytest.mark.parametrize("text, what", [("(memory i64 1)", "memory 0"), ("(table i64 1 funcref)", "table 0")])
def test_64_bit_memories_and_tables_are_refused(tmp_path, text, what):
    proc = synth(tmp_path, wat(f'(module {text} (func (export "f")))'))
    assert proc.returncode == 1
    assert f"error: {what} has 64-bit addresses (memory64/table64); synth lowers 32-bit memories" in proc.stderr


def test_memory_grow_warns_at_build_time(workspace):
    workspace.write("app/grow.wat", """(module (memory 1)
      (func (export "grow") (result i32) (memory.grow (i32.const 1))))""")
    workspace.write("app/BUILD.toml", """
        [[component]]
        name = "grow"
        srcs = ["grow.wat"]
        no_grow = false

        [[synth]]
        name = "fw"
        src = ":grow"
        """)
    run = workspace.run("build", "//app:fw")
    assert run.code == 0, run.err
    assert ("WARNING: Synth //app:fw: memory.grow in grow always fails on the target (returns -1 for any growth "
            "above 0, memory.size stays 1)") in run.err


def test_memory_grow_by_0_answers_the_size_and_any_growth_fails(tmp_path):
    obj = Object(tmp_path, wat("""(module (memory 2)
      (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
      (func (export "size") (result i32) (memory.size)))"""))
    assert obj.call("grow", 0) == [2] and obj.call("size") == [2]
    assert obj.call("grow", 1) == [0xFFFFFFFF] and obj.call("grow", 0xFFFFFFFF) == [0xFFFFFFFF]
    assert obj.call("size") == [2]
    # The fuzzer's reference stops growth as the MCU does; wasmtime by itself grows.
    assert run_reference(obj.wasm, "grow", [0], grows=False).results == (2,)
    assert run_reference(obj.wasm, "grow", [1], grows=False).results == (-1,)
    assert run_reference(obj.wasm, "grow", [1]).results == (2,)


def test_a_fixed_size_reference_refuses_memories_of_different_sizes():
    with pytest.raises(ValueError, match=r"the module's memories differ in initial size \(\[65536, 131072\]\)"):
        run_reference(wat("(module (memory 1) (memory 2) (func (export \"f\")))"), "f", [], grows=False)


def test_shadow_stack_overflow_traps_in_every_mode(tmp_path):
    wasm = wat("""(module (memory 1)
      (global $__stack_pointer (mut i32) (i32.const 1024))
      (func $frame (export "frame") (param i32) (result i32)
        (local $sp i32)
        (global.set $__stack_pointer (local.tee $sp (i32.sub (global.get $__stack_pointer) (local.get 0))))
        (i32.store (local.get $sp) (i32.const 7))
        (global.set $__stack_pointer (i32.add (local.get $sp) (local.get 0)))
        (local.get $sp)))""")
    for bounds in ("none", "check", "mask"):
        obj = Object(tmp_path / bounds, wasm, "--bounds", bounds)
        assert obj.call("frame", 64) == [960]
        assert obj.call("frame", 2048) == "stack_overflow"  # 1024 - 2048 wraps below the memory


def test_memory_init_of_an_empty_or_dropped_segment(tmp_path):
    obj = Object(tmp_path, wat("""(module (memory 1) (data $e "") (data $p "abc")
      (func (export "empty") (param i32 i32 i32) (memory.init $e (local.get 0) (local.get 1) (local.get 2)))
      (func (export "drop") (data.drop $p))
      (func (export "init") (param i32) (memory.init $p (local.get 0) (i32.const 0) (i32.const 3)))
      (func (export "load") (param i32) (result i32) (i32.load8_u (local.get 0))))"""), "--bounds", "check")
    assert obj.call("empty", 0, 0, 0) == []
    assert obj.call("empty", 65536, 0, 0) == []
    assert obj.call("empty", 0, 1, 0) == "out_of_bounds_memory"
    assert obj.call("init", 10) == [] and obj.call("load", 12) == [ord("c")]
    obj.call("drop")
    assert obj.call("init", 10) == "out_of_bounds_memory"


def test_names_with_control_characters_and_unrepresentable_names(tmp_path):
    wasm = wat(r"""(module
      (func (export "a\n\"b\\?") (result i32) (i32.const 1))
      (func (export "") (result i32) (i32.const 2))
      (func (export "x\00y") (result i32) (i32.const 3))
      (func (export "\01z") (result i32) (i32.const 4)))""")
    proc = synth(tmp_path, wasm)
    assert proc.returncode == 0, proc.stderr
    left_out = "is left out of the object: no symbol can name it (its name"
    assert f"warning: export '' {left_out} is empty)" in proc.stderr
    assert f"warning: export 'x\\x00y' {left_out} contains a NUL character)" in proc.stderr
    assert f"warning: export '\\x01z' {left_out} starts with the byte 0x01" in proc.stderr
    obj = Object(tmp_path, wasm)
    assert obj.call('a\n"b\\?') == [1]
    proc = synth(tmp_path, wasm, "--root", "")
    assert proc.returncode == 1 and "root export '' cannot be an ELF symbol: its name is empty" in proc.stderr


def test_every_object_defines_wasmelt_init(tmp_path):
    for text in ('(module (func (export "f")))', '(module (memory 1) (data (i32.const 0) "x") (func (export "f")))'):
        obj = Object(tmp_path, wat(text))
        assert "wasmelt_init" in obj.machine.symbols
        assert "void wasmelt_init(void);" in (tmp_path / "out.h").read_text()


def test_a_compiler_warning_on_lowered_code_fails_the_build(tmp_path):
    from wasmelt.toolchains.stage import StageError
    from wasmelt.toolchains.synth import LOWERED_CFLAGS, compile_c

    (tmp_path / "m.c").write_text("unsigned f(void) { return 1u << 40; }\n")
    with pytest.raises(StageError, match="shift count >= width"):
        compile_c(tmp_path / "m.c", tmp_path / "m.o", "zig", "cortex-m4", "size", extra=LOWERED_CFLAGS)
    compile_c(tmp_path / "m.c", tmp_path / "m.o", "zig", "cortex-m4", "size")  # a warning, not an error


def test_reference_types_tables_and_element_segments(tmp_path):
    obj = Object(tmp_path, wat("""(module
      (type $r (func (result i32)))
      (table $t 4 funcref) (table $x 2 externref)
      (func $a (result i32) (i32.const 10)) (func $b (result i32) (i32.const 20))
      (elem $p func $a $b)
      (elem (i32.const 0) func $a)
      (func (export "call") (param i32) (result i32) (call_indirect $t (type $r) (local.get 0)))
      (func (export "init") (param i32 i32 i32) (table.init $t $p (local.get 0) (local.get 1) (local.get 2)))
      (func (export "copy") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
      (func (export "drop") (elem.drop $p))
      (func (export "is_null") (param i32) (result i32) (ref.is_null (table.get $t (local.get 0))))
      (func (export "set_ext") (param i32 externref) (table.set $x (local.get 0) (local.get 1)))
      (func (export "get_ext") (param i32) (result externref) (table.get $x (local.get 0)))
      (func (export "fill") (param i32 i32) (table.fill $t (local.get 0) (ref.func $b) (local.get 1)))
      (func (export "grow") (result i32) (table.grow $t (ref.null func) (i32.const 1)))
      (func (export "grow0") (result i32) (table.grow $t (ref.null func) (i32.const 0)))
      (func (export "size") (result i32) (table.size $t)))"""))
    assert obj.call("call", 0) == [10] and obj.call("call", 1) == "undefined_element"
    assert obj.call("init", 1, 0, 2) == [] and obj.call("call", 1) == [10] and obj.call("call", 2) == [20]
    assert obj.call("init", 3, 1, 2) == "out_of_bounds_table"
    assert obj.call("copy", 2, 0, 2) == [] and obj.call("call", 3) == [10]
    obj.call("drop")
    assert obj.call("init", 0, 0, 1) == "out_of_bounds_table" and obj.call("init", 0, 0, 0) == []
    assert obj.call("is_null", 3) == [0] and obj.call("is_null", 9) == "out_of_bounds_table"
    assert obj.call("set_ext", 1, 43) == [] and obj.call("get_ext", 1) == [43] and obj.call("get_ext", 0) == [0]
    assert obj.call("fill", 0, 4) == [] and [obj.call("call", i) for i in range(4)] == [[20]] * 4
    assert obj.call("grow") == [0xFFFFFFFF] and obj.call("grow0") == [4] and obj.call("size") == [4]
    assert ("table.grow in grow, grow0 always fails on the target (returns -1 for any growth above 0, table.size "
            "stays): tables are fixed arrays") in synth(tmp_path / "again", obj.wasm).stderr


def test_funcref_parameters_lower_instead_of_crashing(tmp_path):
    wasm = wat("""(module (table 1 funcref)
      (func (export "is_null") (param funcref) (result i32) (ref.is_null (local.get 0)))
      (func (export "id") (param externref) (result externref) (local.get 0)))""")
    obj = Object(tmp_path, wasm)
    assert obj.call("is_null", 0) == [1] and obj.call("is_null", 5) == [0] and obj.call("id", 77) == [77]
    assert 'uint32_t wasm_id(uint32_t) __asm__("id");' in (tmp_path / "out.h").read_text()


def test_many_results_come_back_in_the_callers_struct(tmp_path):
    results = " ".join(["i64", "f64", "i32"] * 5)
    consts = " ".join(f"({t}.const {i})" for i, t in enumerate(["i64", "f64", "i32"] * 5))
    obj = Object(tmp_path, wat(f'(module (func (export "many") (result {results}) {consts}))'))
    got = obj.call("many")
    assert got[0:3] == [0, struct.unpack("<Q", struct.pack("<d", 1.0))[0], 2] and got[-1] == 14 and len(got) == 15
