"""C bindings from a WIT world, and a hand-written Rust no_std component:
both speak the canonical ABI so that fusing them agrees with composing them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import wasmtime
import wasmtime.component as wc

from wasm_harness import validate, wasm_tools
from wasmelt.toolchains.builtin.bindgen_c import BindgenError, generate
from wasmelt.toolchains.builtin.fuse import fuse
from wasmelt.toolchains.builtin.wit import world_from_json

WIT = """package kernel:os@0.1.0;
interface log { write: func(msg: string) -> u32; }
world kernel { export log; }
world app { import log; export run: func(n: u32) -> u32; }
"""
RUST_KERNEL = r"""#![no_std]
use core::panic::PanicInfo;

#[panic_handler]
fn panic(_: &PanicInfo) -> ! { core::arch::wasm32::unreachable() }

const ARENA_BYTES: usize = 256;
static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];
static mut USED: usize = 0;

/// A grow-free bump allocator: what the fused adapter copies the message into.
#[no_mangle]
pub unsafe extern "C" fn cabi_realloc(_old: *mut u8, _old_size: usize, align: usize, size: usize) -> *mut u8 {
    let at = (USED + align - 1) & !(align - 1);
    if at + size > ARENA_BYTES { core::arch::wasm32::unreachable() }
    USED = at + size;
    core::ptr::addr_of_mut!(ARENA).cast::<u8>().add(at)
}

/// kernel:os/log#write, by hand: a string arrives as (pointer, length).
#[export_name = "kernel:os/log@0.1.0#write"]
pub unsafe extern "C" fn log_write(ptr: *const u8, len: usize) -> u32 {
    let msg = core::slice::from_raw_parts(ptr, len);
    let mut hash: u32 = len as u32;
    for b in msg { hash = hash.wrapping_mul(31).wrapping_add(*b as u32); }
    USED = 0;
    hash
}
"""
C_APP = r"""#include "app.h"
static const char *words[] = {"", "ä", "tick", "日本語 ✓"};
uint32_t run(uint32_t n) {
    const char *s = words[n % 4];
    size_t len = 0;
    while (s[len]) len++;
    cabi_arena_reset();
    return log_write((wit_string_t){(uint8_t *)s, len}) + n;
}
"""


def _component(tmp_path, name, source, world, *extra):
    d = tmp_path / name
    d.mkdir()
    (d / "w.wit").write_text(WIT)
    (d / source[0]).write_text(source[1])
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", f"//t:{name}", "--out",
                           "o.wasm", "--report", "r.json", "--no-grow", "--wit", "w.wit", "--world", world,
                           "--bindings", f"{world}.h", *extra, "--", source[0]], cwd=d, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return (d / "o.wasm").read_bytes()


def test_c_app_with_generated_bindings_fuses_with_a_hand_written_rust_kernel(tmp_path):
    app = _component(tmp_path, "app", ("app.c", C_APP), "app", "--arena-bytes", "128")
    kernel = _component(tmp_path, "kernel", ("kernel.rs", RUST_KERNEL), "kernel")
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    validate(result.wasm)
    assert [s["function"] for s in result.report["seams"]] == ["kernel:os/log#write"]
    (tmp_path / "a.wasm").write_bytes(app)
    (tmp_path / "k.wasm").write_bytes(kernel)
    assert wasm_tools("compose", str(tmp_path / "a.wasm"), "-d", str(tmp_path / "k.wasm"), "-o",
                      str(tmp_path / "c.wasm")).returncode == 0
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    run = wc.Linker(engine).instantiate(store, wc.Component.from_file(engine, str(tmp_path / "c.wasm"))).get_func(
        store, "run")
    core_store = wasmtime.Store(engine)
    core = wasmtime.Instance(core_store, wasmtime.Module(engine, result.wasm), []).exports(core_store)["run"]
    seen = set()
    for n in range(12):
        want = run(store, n)
        run.post_return(store)
        assert core(core_store, n) & 0xFFFFFFFF == want
        seen.add(want - n)
    assert len(seen) == 4


def test_generated_header_has_canonical_layouts(tmp_path):
    doc = json.loads(wasm_tools_json(tmp_path, """package t:x;
interface k {
  record point { x: u8, y: u64, name: string }
  variant shape { none, circle(f32), named(point) }
  flags perms { read, write }
  f: func(p: point, q: perms) -> shape;
}
world w { export k; }
"""))
    header, glue = generate(world_from_json(doc, "w"), "w", 512)
    assert "typedef struct { uint8_t x; uint64_t y; wit_string_t name; } k_point_t;" in header
    assert "_Static_assert(sizeof(k_point_t) == 24 && _Alignof(k_point_t) == 8" in header
    assert "typedef struct { uint8_t tag; union { float circle; k_point_t named; } val; } k_shape_t;" in header
    assert "#define K_PERMS_WRITE (1u << 1)" in header
    assert "static uint8_t arena[512]" in glue
    assert '__attribute__((export_name("t:x/k#f")))' in glue
    # The header compiles and its layouts hold (the static asserts) for wasm32.
    (tmp_path / "w.h").write_text(header)
    (tmp_path / "w_glue.c").write_text(glue)
    (tmp_path / "impl.c").write_text('#include "w.h"\nk_shape_t k_f(k_point_t p, k_perms_t q) '
                                     '{ k_shape_t s; s.tag = K_SHAPE_NAMED; s.val.named = p; (void)q; return s; }\n')
    from wasmelt.toolchains.component import zig

    for src in ("w_glue.c", "impl.c"):
        proc = subprocess.run([zig().path, "cc", "--target=wasm32-freestanding", "-c", src, "-o", src + ".o"],
                              cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


def wasm_tools_json(tmp_path, wit: str) -> str:
    (tmp_path / "x.wit").write_text(wit)
    proc = wasm_tools("component", "wit", "--json", str(tmp_path / "x.wit"))
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode()


def test_unsupported_parameter_is_refused_naming_the_function(tmp_path):
    many = ", ".join(f"a{i}: u32" for i in range(17))
    doc = json.loads(wasm_tools_json(tmp_path, f"package t:x;\ninterface k {{ f: func({many}); }}\n"
                                               "world w { import k; }\n"))
    with pytest.raises(BindgenError, match=r"import `t:x/k#f`: more than 16 flat parameters are not supported"):
        generate(world_from_json(doc, "w"), "w", 64)


VARIANT_WIT = """package kernel:os@0.1.0;
interface k {
  variant value { none, num(u64), name(string), ratio(f32), pair(tuple<u8, f64>) }
  describe: func(v: value, o: option<u32>, r: result<f32, string>) -> u32;
}
world kernel { export k; }
world app { import k; export run: func(n: u32) -> u32; }
"""
VARIANT_APP = r"""#include "app.h"
uint32_t run(uint32_t n) {
    cabi_arena_reset();
    k_value_t v;
    v.tag = n % 5;
    switch (v.tag) {
    case K_VALUE_NUM: v.val.num = 0x123456789ull * n; break;
    case K_VALUE_NAME: v.val.name = (wit_string_t){(uint8_t *)"näme", 5}; break;
    case K_VALUE_RATIO: v.val.ratio = 1.5f * (float)n; break;
    case K_VALUE_PAIR: v.val.pair.f0 = (uint8_t)n; v.val.pair.f1 = 0.25 * n; break;
    }
    wit_option_u32_t o = {(uint8_t)(n & 1), {.some = n * 7}};
    wit_result_f32_string_t r;
    r.tag = (n >> 1) & 1;
    if (r.tag) r.val.err = (wit_string_t){(uint8_t *)"bad", 3}; else r.val.ok = 0.5f + n;
    return k_describe(v, o, r);
}
"""
VARIANT_KERNEL = r"""#include "kernel.h"
static uint32_t text(wit_string_t s) { uint32_t h = 0; for (size_t i = 0; i < s.len; i++) h = h * 31 + s.ptr[i]; return h; }
uint32_t k_describe(k_value_t v, wit_option_u32_t o, wit_result_f32_string_t r) {
    uint32_t h = v.tag * 1000;
    switch (v.tag) {
    case K_VALUE_NUM: h += (uint32_t)(v.val.num ^ (v.val.num >> 32)); break;
    case K_VALUE_NAME: h += text(v.val.name); break;
    case K_VALUE_RATIO: h += (uint32_t)(v.val.ratio * 100.0f); break;
    case K_VALUE_PAIR: h += v.val.pair.f0 + (uint32_t)(v.val.pair.f1 * 1000.0); break;
    }
    if (o.tag) h = h * 3 + o.val.some;
    h = h * 5 + (r.tag ? text(r.val.err) : (uint32_t)(r.val.ok * 10.0f));
    cabi_arena_reset();
    return h;
}
"""


def test_variant_parameters_flatten_like_the_canonical_abi(tmp_path):
    global WIT
    saved, WIT = WIT, VARIANT_WIT
    try:
        app = _component(tmp_path, "app", ("app.c", VARIANT_APP), "app", "--arena-bytes", "128")
        kernel = _component(tmp_path, "kernel", ("kernel.c", VARIANT_KERNEL), "kernel", "--arena-bytes", "128")
    finally:
        WIT = saved
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)])
    validate(result.wasm)
    (tmp_path / "a.wasm").write_bytes(app)
    (tmp_path / "k.wasm").write_bytes(kernel)
    assert wasm_tools("compose", str(tmp_path / "a.wasm"), "-d", str(tmp_path / "k.wasm"), "-o",
                      str(tmp_path / "c.wasm")).returncode == 0
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    run = wc.Linker(engine).instantiate(store, wc.Component.from_file(engine, str(tmp_path / "c.wasm"))).get_func(
        store, "run")
    core_store = wasmtime.Store(engine)
    core = wasmtime.Instance(core_store, wasmtime.Module(engine, result.wasm), []).exports(core_store)["run"]
    for n in range(20):
        want = run(store, n)
        run.post_return(store)
        assert core(core_store, n) & 0xFFFFFFFF == want == _describe(n), n


def _describe(n: int) -> int:
    """What VARIANT_KERNEL computes for what VARIANT_APP sends, in Python."""
    def text(b: bytes) -> int:
        h = 0
        for c in b:
            h = (h * 31 + c) & 0xFFFFFFFF
        return h

    tag = n % 5
    h = tag * 1000
    if tag == 1:
        num = (0x123456789 * n) & (2**64 - 1)
        h += (num ^ (num >> 32)) & 0xFFFFFFFF
    elif tag == 2:
        h += text("näme".encode())
    elif tag == 3:
        h += int(1.5 * n * 100)
    elif tag == 4:
        h += (n & 0xFF) + int(0.25 * n * 1000)
    h &= 0xFFFFFFFF
    if n & 1:
        h = (h * 3 + n * 7) & 0xFFFFFFFF
    return (h * 5 + (text(b"bad") if (n >> 1) & 1 else int((0.5 + n) * 10))) & 0xFFFFFFFF


def test_unknown_world_is_a_stage_error(tmp_path):
    (tmp_path / "w.wit").write_text(WIT)
    (tmp_path / "a.c").write_text("int x;\n")
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:a", "--out", "o.wasm",
                           "--report", "r.json", "--wit", "w.wit", "--world", "nope", "--", "a.c"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "C bindings for world `nope`: no world `nope` in the WIT; worlds: app, kernel" in proc.stderr





def test_wit_package_directory_needs_its_own_files(tmp_path):
    (tmp_path / "wit" / "deps" / "a").mkdir(parents=True)
    (tmp_path / "wit" / "deps" / "b").mkdir(parents=True)
    (tmp_path / "wit" / "deps" / "a" / "a.wit").write_text("package t:a;\ninterface i { f: func(); }\n")
    (tmp_path / "wit" / "deps" / "b" / "b.wit").write_text("package t:b;\ninterface j { g: func(); }\n")
    (tmp_path / "a.c").write_text("int x;\n")
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:a", "--out", "o.wasm",
                           "--report", "r.json", "--wit", "wit/deps/a/a.wit", "--wit", "wit/deps/b/b.wit",
                           "--world", "w", "--", "a.c"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "the package directory wit/deps has no .wit file of its own" in proc.stderr


WAT_KERNEL = """(module (memory (export "memory") 1)
  (global $bump (mut i32) (i32.const 1024))
  (func (export "cabi_realloc") (param i32 i32 i32 i32) (result i32) (local $r i32)
    global.get $bump local.tee $r local.get 3 i32.add global.set $bump local.get $r)
  (func (export "kernel:os/log@0.1.0#write") (param $p i32) (param $n i32) (result i32) (local $h i32) (local $i i32)
    local.get $n local.set $h
    block loop
      local.get $i local.get $n i32.ge_u br_if 1
      local.get $h i32.const 31 i32.mul local.get $p local.get $i i32.add i32.load8_u i32.add local.set $h
      local.get $i i32.const 1 i32.add local.set $i
      br 0
    end end
    i32.const 1024 global.set $bump
    local.get $h))"""


@pytest.mark.parametrize("options", [{}, {"pack": True}])
def test_a_relocated_c_app_and_an_access_shifted_wat_kernel_agree_with_their_composition(tmp_path, options):
    """The two ways a component is rebased meet at one seam: the adapter
    shifts the WAT kernel's pointers, not the C app's."""
    from wasmelt.toolchains.builtin.fuse import FuseOptions

    app = _component(tmp_path, "app", ("app.c", C_APP), "app", "--arena-bytes", "128")
    kernel = _component(tmp_path, "kernel", ("kernel.wat", WAT_KERNEL), "kernel")
    result = fuse([("app", "//t:app", app), ("kernel", "//t:kernel", kernel)], FuseOptions(**options))
    validate(result.wasm)
    assert {l["component"]: l["rebased_by"] for l in result.report["layout"]} == {
        "app": "relocations", "kernel": "memory accesses"}
    assert dict((l["component"], l["base"]) for l in result.report["layout"])["kernel"] > 0
    (tmp_path / "a.wasm").write_bytes(app)
    (tmp_path / "k.wasm").write_bytes(kernel)
    assert wasm_tools("compose", str(tmp_path / "a.wasm"), "-d", str(tmp_path / "k.wasm"), "-o",
                      str(tmp_path / "c.wasm")).returncode == 0
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    run = wc.Linker(engine).instantiate(store, wc.Component.from_file(engine, str(tmp_path / "c.wasm"))).get_func(
        store, "run")
    core_store = wasmtime.Store(engine)
    core = wasmtime.Instance(core_store, wasmtime.Module(engine, result.wasm), []).exports(core_store)["run"]
    for n in range(8):
        want = run(store, n)
        run.post_return(store)
        assert core(core_store, n) & 0xFFFFFFFF == want
