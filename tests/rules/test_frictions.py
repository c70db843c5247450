"""The frictions a real library-OS project hit, each through the CLI: a
component straight to dce/synth, firmware_test calling `pkg:os/x@0.1.0#f`
exports, non-function DCE roots refused at dce, demangled Rust names, the name
section's names in `wasmelt size`, typo'd imports flagged ("did you mean")."""

from __future__ import annotations

import json
import shutil

from conftest import REPO

KERNEL = """\
[[component]]
name = "kernel"
srcs = ["kernel.c"]
wit = ["wit/kernel.wit", "wit/deps/hal/hal.wit"]
world = "kernel"
arena_bytes = 64

[[dce]]
name = "lean"
src = ":kernel"
roots = ["kernel:os/sem@0.1.0#acquire", "kernel:os/sem@0.1.0#release"]

[[synth]]
name = "fw"
src = ":kernel"

[[synth]]
name = "fw_lean"
src = ":lean"

[[firmware_test]]
name = "test"
firmware = ":fw"
imports = "host_stubs.toml"
cases = [
  { call = "kernel:os/sem@0.1.0#acquire", args = [1], expect = [1] },
  { call = "kernel:os/sem@0.1.0#acquire", args = [1] },
  { call = "kernel:os/sem@0.1.0#release", args = [1] },
]
random_cases = 40
"""


def _libos(workspace):
    for name in ("kernel.c", "host_stubs.toml", "wit"):
        source = REPO / "examples" / "libos" / name
        if source.is_dir():
            shutil.copytree(source, workspace.root / "os" / name)
        else:
            workspace.write(f"os/{name}", source.read_text())
    workspace.write("os/BUILD.toml", KERNEL)
    return workspace


def test_a_component_model_component_goes_straight_to_dce_and_synth(workspace):
    ws = _libos(workspace)
    r = ws.run("build", "//os:fw", "//os:fw_lean")
    assert r.code == 0, r.err
    assert r.err.count("] Fuse //os:") == 2  # the implicit one-component fuse of each, no fuse target
    assert (ws.root / "wasmelt-out/os/fw/fw.core.wasm").read_bytes()[:8] == b"\0asm\x01\0\0\0"  # a core module
    r = ws.run("aquery", "//os:fw")
    assert r.code == 0 and "Fuse" in r.out and "Synth" in r.out


def test_firmware_test_calls_exports_named_with_at_colon_and_hash(workspace):
    ws = _libos(workspace)
    r = ws.run("test", "//os:test")
    assert r.code == 0, r.out + r.err
    r = ws.run("test", "//os:test", "--test_output=all")
    assert "ok   kernel:os/sem@0.1.0#acquire(1) -> results [1]" in r.out + r.err
    assert "43 of 43 cases agree" in r.out + r.err


def test_a_memory_root_is_refused_at_dce(workspace):
    workspace.write("p/BUILD.toml", """\
        [[component]]
        name = "c"
        srcs = ["c.c"]

        [[dce]]
        name = "lean"
        src = ":c"
        roots = ["run", "memory"]
        """)
    workspace.write("p/c.c", '__attribute__((export_name("run"))) int run(int x) { return x; }\n')
    r = workspace.run("build", "//p:lean")
    assert r.code == 1
    # The exports are known once the C is compiled, so the dce action refuses it, named on the ERROR line.
    assert "ERROR: Dce //p:lean failed" in r.err
    assert ("error: root `memory` is a memory export, not a function: `roots` name the functions the firmware "
            "calls (what they use, the memory included, is kept with them); exported functions: run") in r.err


def test_a_growing_rust_function_is_named_demangled(workspace):
    workspace.write("r/BUILD.toml", '[[component]]\nname = "r"\nsrcs = ["lib.rs"]\nmax_memory_pages = 4\n')
    workspace.write("r/lib.rs", """\
        #![no_std]
        #[panic_handler]
        fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
        mod buffer {
            #[inline(never)]
            pub fn make(pages: usize) -> usize { core::arch::wasm32::memory_grow(0, pages) }
        }
        #[no_mangle]
        pub extern "C" fn grow(x: i32) -> i32 { buffer::make(x as usize) as i32 }
        """)
    r = workspace.run("build", "//r:r")
    assert r.code == 1
    assert "component //r:r grows its memory: memory.grow in `lib::buffer::make` (1x)" in r.err
    assert "_ZN" not in r.err


def test_size_of_a_module_that_was_not_fused_names_functions_from_the_name_section(workspace):
    workspace.write("s/BUILD.toml", '[[component]]\nname = "c"\nsrcs = ["c.c"]\n\n'
                    '[[synth]]\nname = "fw"\nsrc = ":c"\n')
    workspace.write("s/c.c", """\
        __attribute__((noinline)) int fib_slow(int x) { return x < 2 ? x : fib_slow(x - 1) + fib_slow(x - 2); }
        __attribute__((export_name("run"))) int run(int x) { return fib_slow(x) + 1; }
        static int __attribute__((noinline)) twice(int x) { return x < 2 ? x : twice(x - 1) + twice(x - 2); }
        __attribute__((export_name("twice"))) int exported_twice(int x) { return twice(x) * 2; }
        """)
    r = workspace.run("size", "//s:fw", "--format=json")
    assert r.code == 0, r.err
    table = json.loads(r.out)
    rows = {row["name"]: row for row in table["rows"] if row["group"] == "functions"}
    assert "fib_slow" in rows and "symbol wasmelt_fn" in rows["fib_slow"]["detail"]
    assert not any(name.startswith("wasmelt_fn") for name in rows)
    # a static function named like an export keeps its symbol in its row's name
    assert "twice" in rows and any(name.startswith("twice (wasmelt_fn") for name in rows)


NEAR_MISS = """\
[[component]]
name = "app"
srcs = ["app.c"]

[[component]]
name = "math"
srcs = ["math.c"]

[[fuse]]
name = "fused"
components = [":app", ":math"]
"""


def test_an_import_one_edit_from_an_export_is_a_did_you_mean_warning_at_fuse(workspace):
    workspace.write("n/BUILD.toml", NEAR_MISS)
    workspace.write("n/app.c", '__attribute__((import_module("math"), import_name("clampp"))) int clampp(int);\n'
                    '__attribute__((export_name("run"))) int run(int x) { return clampp(x); }\n')
    workspace.write("n/math.c", '__attribute__((export_name("clamp"))) int clamp(int x) { return x > 9 ? 9 : x; }\n')
    r = workspace.run("build", "//n:fused")
    assert r.code == 0, r.err
    assert ("WARNING: Fuse //n:fused: host import `math.clampp` is provided by no component, but //n:math exports "
            "`clamp`: did you mean `clamp`?") in r.err
    workspace.write("n/app.c", workspace.read("n/app.c").replace("clampp", "clamp"))
    r = workspace.run("build", "//n:fused")
    assert r.code == 0 and "did you mean" not in r.err


def test_strict_imports_makes_the_near_miss_an_error(workspace):
    workspace.write("n/BUILD.toml", NEAR_MISS + "strict_imports = true\n")
    workspace.write("n/app.c", '__attribute__((import_module("math"), import_name("clampp"))) int clampp(int);\n'
                    '__attribute__((export_name("run"))) int run(int x) { return clampp(x); }\n')
    workspace.write("n/math.c", '__attribute__((export_name("clamp"))) int clamp(int x) { return x > 9 ? 9 : x; }\n')
    r = workspace.run("build", "//n:fused")
    assert r.code == 1 and "ERROR: Fuse //n:fused failed" in r.err
    assert ("error: host import `math.clampp` is provided by no component, but //n:math exports `clamp`: "
            "did you mean `clamp`? (strict_imports = true") in r.err and "Traceback" not in r.err
    workspace.write("n/app.c", workspace.read("n/app.c").replace("clampp", "clamp"))
    assert workspace.run("build", "//n:fused").code == 0


def test_an_import_one_edit_from_the_modules_export_warns_at_synth(workspace):
    workspace.write("n/BUILD.toml", '[[component]]\nname = "c"\nsrcs = ["c.c"]\nhost_imports = ["clampp"]\n\n'
                    '[[synth]]\nname = "fw"\nsrc = ":c"\n')
    workspace.write("n/c.c", 'int clampp(int);\n'
                    '__attribute__((export_name("clamp"))) int clamp(int x) { return x > 9 ? 9 : x; }\n'
                    '__attribute__((export_name("run"))) int run(int x) { return clampp(x); }\n')
    r = workspace.run("build", "//n:fw")
    assert r.code == 0, r.err
    assert ("WARNING: Synth //n:fw: host import `clampp` is one edit from the module's export `clamp`: "
            "did you mean `clamp`?") in r.err


def test_a_stub_one_edit_from_the_import_says_did_you_mean(workspace):
    workspace.write("n/BUILD.toml", '[[component]]\nname = "c"\nsrcs = ["c.c"]\nhost_imports = ["read_timer"]\n\n'
                    '[[synth]]\nname = "fw"\nsrc = ":c"\n\n'
                    '[[firmware_test]]\nname = "t"\nfirmware = ":fw"\nimports = "stubs.toml"\n'
                    'cases = [{ call = "run", args = [1] }]\n')
    workspace.write("n/c.c", 'int read_timer(void);\n'
                    '__attribute__((export_name("run"))) int run(int x) { return read_timer() + x; }\n')
    workspace.write("n/stubs.toml", '[imports."env.read_timr"]\nreturns = [5]\n')
    r = workspace.run("test", "//n:t")
    assert r.code == 1
    assert ("`run` calls host import(s) `env.read_timer` with no stub (`env.read_timer` is one edit from the stub "
            "`env.read_timr`: did you mean `env.read_timr`?)") in r.out + r.err
    workspace.write("n/stubs.toml", '[imports."env.read_timer"]\nreturns = [5]\n')
    r = workspace.run("test", "//n:t")
    assert r.code == 0, r.out + r.err


def test_a_fuse_exports_the_first_components_functions_unless_exports_lists_others(workspace):
    workspace.write("n/BUILD.toml", NEAR_MISS + '\n[[fuse]]\nname = "both"\ncomponents = [":app", ":math"]\n'
                    'exports = ["run", "clamp"]\n')
    workspace.write("n/app.c", '__attribute__((import_module("math"), import_name("clamp"))) int clamp(int);\n'
                    '__attribute__((export_name("run"))) int run(int x) { return clamp(x) + 1; }\n')
    workspace.write("n/math.c", '__attribute__((export_name("clamp"))) int clamp(int x) { return x > 9 ? 9 : x; }\n')
    r = workspace.run("build", "//n:fused", "//n:both")
    assert r.code == 0, r.err
    fused = json.loads(workspace.read("wasmelt-out/n/fused/fused.report.json"))
    both = json.loads(workspace.read("wasmelt-out/n/both/both.report.json"))
    assert [e for e in fused["exports"] if e != "memory"] == ["run"]
    assert [e for e in both["exports"] if e != "memory"] == ["run", "clamp"]


def test_a_prebuilt_module_whose_data_lies_beyond_its_memory_is_refused_not_given_room(workspace):
    # (module (memory 0) (data (i32.const 0) "a")): its instantiation traps. The implicit
    # fuse lays memory out from what parts use, so it must refuse, not make the page.
    workspace.write("p/BUILD.toml", '[[component]]\nname = "m"\nsrcs = ["m.wasm"]\n\n'
                    '[[synth]]\nname = "fw"\nsrc = ":m"\n')
    (workspace.root / "p/m.wasm").write_bytes(b"\0asm\x01\0\0\0" b"\x05\x03\x01\x00\x00"
                                              b"\x0b\x07\x01\x00\x41\x00\x0b\x01a")
    r = workspace.run("build", "//p:fw")
    assert r.code == 1
    assert ("component //p:m: data segment 0 (1 bytes at offset 0) ends beyond its 0 bytes of declared memory: "
            "instantiating it would trap") in r.err
