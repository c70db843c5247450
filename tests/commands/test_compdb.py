"""`wasmelt compdb` and compiler warnings: compile_commands.json holds the exact
compile of each C source (running it compiles), with includes and defines;
a successful compile's warnings are shown once, not on a cached rebuild."""

from __future__ import annotations

import json
import subprocess

BUILD = """\
[[component]]
name = "lib"
srcs = ["src/a.c", "src/b.c"]
hdrs = ["inc/cfg.h"]
includes = ["inc"]
defines = ["SCALE=3"]
copts = ["-Wextra"]

[[component]]
name = "wat"
srcs = ["k.wat"]
"""


def _workspace(workspace):
    workspace.write("lib/BUILD.toml", BUILD)
    workspace.write("lib/inc/cfg.h", "#define OFFSET 7\n")
    workspace.write("lib/src/a.c", '#include <string.h>\n#include "cfg.h"\n'
                    '__attribute__((export_name("a"))) int a(const char *s) { return strlen(s) * SCALE + OFFSET; }\n')
    workspace.write("lib/src/b.c", '__attribute__((export_name("b"))) int b(int x) { int unused; return x; }\n')
    workspace.write("lib/k.wat", "(module)\n")
    return workspace


def test_compdb_lists_each_c_source_with_the_command_the_stage_runs(workspace, tmp_path):
    ws = _workspace(workspace)
    r = ws.run("compdb")
    assert r.code == 0, r.err
    assert "wrote" in r.err and "(2 sources)" in r.err
    entries = json.loads(ws.read("compile_commands.json"))
    assert [e["file"] for e in entries] == ["lib/src/a.c", "lib/src/b.c"]
    first = entries[0]
    assert first["directory"] == str(ws.root)
    args = first["arguments"]
    assert args[0].endswith("zig") and args[1] == "cc" and "--target=wasm32-freestanding" in args
    assert "-Ilib/inc" in args and "-DSCALE=3" in args and "-Wextra" in args
    assert args[args.index("-isystem") + 1].endswith("libc/include")
    # the entry is a real compile: run from the directory, it makes the object
    obj = tmp_path / "a.o"
    args[args.index("-o") + 1] = str(obj)
    proc = subprocess.run(args, cwd=first["directory"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert obj.read_bytes()[:4] == b"\0asm"


def test_compdb_output_flag_patterns_and_no_c_component(workspace):
    ws = _workspace(workspace)
    r = ws.run("compdb", "//lib:lib", "-o", "out/cc.json")
    assert r.code == 0, r.err
    assert len(json.loads(ws.read("out/cc.json"))) == 2
    r = ws.run("compdb", "//lib:wat")
    assert r.code == 2 and "ERROR: no C component matches //lib:wat" in r.err
    r = ws.run("compdb", "--help")
    assert r.code == 0 and "example" in r.out


def test_compiler_warnings_are_shown_once_not_on_a_cached_rebuild(workspace):
    ws = _workspace(workspace)
    r = ws.run("build", "//lib:lib")
    assert r.code == 0, r.err
    line = "WARNING: Component //lib:lib: lib/src/b.c:1:54: unused variable 'unused' [-Wunused-variable]"
    assert r.err.count(line) == 1, r.err
    r = ws.run("build", "//lib:lib")
    assert r.code == 0 and r.counts["cached"] == 1
    assert "WARNING" not in r.err


def test_rust_warnings_carry_their_location(workspace):
    workspace.write("r/BUILD.toml", '[[component]]\nname = "r"\nsrcs = ["lib.rs"]\n')
    workspace.write("r/lib.rs", "#![no_std]\n#[panic_handler]\nfn panic(_: &core::panic::PanicInfo) -> ! { loop {} }\n"
                    "#[no_mangle]\npub extern \"C\" fn f(x: i32) -> i32 { let y = 1; x }\n")
    r = workspace.run("build", "//r:r")
    assert r.code == 0, r.err
    assert "WARNING: Component //r:r: r/lib.rs:5:42: unused variable: `y`" in r.err
