"""Component attributes through the CLI: includes, defines, linkopts and
host_imports for C, package-relative -I in copts, generated headers and
sources from a genrule, and the Rust edition; each bad value is one error."""

from __future__ import annotations

import io
import re

import pytest
import wasmtime
from elftools.elf.elffile import ELFFile

from wasmelt.toolchains.component import StageError, check_edition, rustc


def _instance(ws, path: str, host: dict | None = None):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, (ws.root / path).read_bytes())
    linker = wasmtime.Linker(engine)
    for imp in module.imports:
        if isinstance(imp.type, wasmtime.FuncType):
            linker.define_func(imp.module, imp.name, imp.type, host[imp.name])
    return store, linker.instantiate(store, module), module


def test_includes_defines_and_host_imports(workspace):
    workspace.write("lib/BUILD.toml", """\
        [[component]]
        name = "lib"
        srcs = ["src/lib.c"]
        hdrs = ["include/lib/config.h", "vendor/extra.h"]
        includes = ["include"]
        copts = ["-Ivendor"]
        defines = ["SCALE=3", "FAST"]
        host_imports = ["clamp"]

        [[synth]]
        name = "fw"
        src = ":lib"
        """)
    workspace.write("lib/include/lib/config.h", "#define OFFSET 7\n")
    workspace.write("lib/vendor/extra.h", "#define EXTRA 100\n")
    workspace.write("lib/src/lib.c", """\
        #include <lib/config.h>
        #include <extra.h>
        int clamp(int);
        #ifdef FAST
        __attribute__((export_name("run"))) int run(int x) { return clamp(x) * SCALE + OFFSET + EXTRA; }
        #endif
        """)
    r = workspace.run("build", "//lib:lib")
    assert r.code == 0, r.err
    store, inst, module = _instance(workspace, "wasmelt-out/lib/lib/lib.wasm", {"clamp": lambda x: x + 1})
    assert [(i.module, i.name) for i in module.imports] == [("env", "clamp")]
    assert inst.exports(store)["run"](store, 4) == 5 * 3 + 7 + 100
    r = workspace.run("build", "//lib:fw")  # the host import is an undefined symbol of the object
    assert r.code == 0, r.err
    symbols = ELFFile(io.BytesIO((workspace.root / "wasmelt-out/lib/fw/fw.o").read_bytes())).get_section_by_name(
        ".symtab")
    undefined = {s.name for s in symbols.iter_symbols() if s["st_shndx"] == "SHN_UNDEF" and s.name}
    assert "clamp" in undefined


def test_a_listed_host_import_nothing_calls_is_a_warning(workspace):
    workspace.write("p/BUILD.toml", '[[component]]\nname = "p"\nsrcs = ["p.c"]\nhost_imports = ["clampp"]\n')
    workspace.write("p/p.c", '__attribute__((export_name("f"))) int f(int x) { return x; }\n')
    r = workspace.run("build", "//p:p")
    assert r.code == 0, r.err
    assert "WARNING: Component //p:p: `clampp` is listed in host_imports but no source calls it" in r.err


def test_a_misspelled_host_import_is_an_error_that_says_did_you_mean(workspace):
    workspace.write("p/BUILD.toml", '[[component]]\nname = "p"\nsrcs = ["p.c"]\nhost_imports = ["clampp"]\n')
    workspace.write("p/p.c", 'int clamp(int);\n__attribute__((export_name("f"))) int f(int x) { return clamp(x); }\n')
    r = workspace.run("build", "//p:p")
    assert r.code == 1
    assert ("component //p:p: undefined symbol `clamp` (called in p/p.c). Define it in a source of the component, "
            "or, if the firmware (the host) provides it, list it in `host_imports` (`host_imports` lists `clampp`: "
            "did you mean `clamp`?)") in r.err


def test_linkopts_reach_the_linker(workspace):
    workspace.write("p/BUILD.toml", '[[component]]\nname = "p"\nsrcs = ["p.c"]\nlinkopts = ["--export=helper"]\n')
    workspace.write("p/p.c", "int helper(int x) { return x * 2; }\n")
    r = workspace.run("build", "//p:p")
    assert r.code == 0, r.err
    store, inst, _ = _instance(workspace, "wasmelt-out/p/p/p.wasm")
    assert inst.exports(store)["helper"](store, 21) == 42
    workspace.write("p/BUILD.toml", '[[component]]\nname = "p"\nsrcs = ["p.c"]\nlinkopts = ["--no-such-flag"]\n')
    r = workspace.run("build", "//p:p")
    assert r.code == 1 and "component //p:p: linking failed" in r.err and "--no-such-flag" in r.err


def test_ndebug_in_defines_removes_asserts(workspace):
    workspace.write("p/BUILD.toml", '[[component]]\nname = "p"\nsrcs = ["p.c"]\ndefines = ["NDEBUG"]\n')
    workspace.write("p/p.c", '#include <assert.h>\n__attribute__((export_name("f"))) int f(int x) '
                    '{ assert(x != 13); return x; }\n')
    assert workspace.run("build", "//p:p").code == 0
    store, inst, _ = _instance(workspace, "wasmelt-out/p/p/p.wasm")
    assert inst.exports(store)["f"](store, 13) == 13


def test_generated_header_and_source_from_a_genrule(workspace):
    workspace.write("g/BUILD.toml", """\
        [[genrule]]
        name = "version_h"
        outs = ["version.h"]
        cmd = "echo '#define VERSION 42' > $(OUT)"

        [[genrule]]
        name = "table_c"
        outs = ["table.c"]
        cmd = "echo 'int table(int i) { return i * 3; }' > $(OUT)"

        [[component]]
        name = "g"
        srcs = ["main.c", ":table_c"]
        hdrs = [":version_h"]
        """)
    workspace.write("g/main.c", '#include "version.h"\nint table(int);\n'
                    '__attribute__((export_name("v"))) int v(int i) { return VERSION + table(i); }\n')
    r = workspace.run("build", "//g:g")
    assert r.code == 0, r.err
    assert r.counts["executed"] == 3
    store, inst, _ = _instance(workspace, "wasmelt-out/g/g/g.wasm")
    assert inst.exports(store)["v"](store, 2) == 48
    workspace.write("g/BUILD.toml", workspace.read("g/BUILD.toml").replace("VERSION 42", "VERSION 50"))
    r = workspace.run("build", "//g:g")
    assert r.code == 0 and r.counts["executed"] == 2  # the header's genrule and the component
    store, inst, _ = _instance(workspace, "wasmelt-out/g/g/g.wasm")
    assert inst.exports(store)["v"](store, 2) == 56


@pytest.mark.parametrize("attrs, message", [
    ('srcs = ["p.c"]\nhost_imports = ["hw.timer"]', "`host_imports` entry `hw.timer` is not a C function name"),
    ('srcs = ["p.c"]\ndefines = ["1BAD=2"]', "`defines` entry `1BAD=2` is not NAME or NAME=VALUE"),
    ('srcs = ["p.c"]\nincludes = ["../../x"]', "`includes` entry `../../x` leaves the workspace"),
    ('srcs = ["p.c"]\nincludes = ["/usr/include"]', "`includes` entry `/usr/include` is absolute"),
    ('srcs = ["p.c"]\ncopts = ["-I"]', "`copts` ends with `-I`, which needs a directory after it"),
    ('srcs = ["p.c"]\nedition = "2024"', "`edition` is for Rust components; this one is built from c sources"),
    ('srcs = ["p.wat"]\ndefines = ["X"]', "`defines` is for C components; this one is built from wat sources"),
    ('srcs = ["p.rs"]\nedition = "2027"', "edition"),
])
def test_bad_attribute_values_are_one_error_naming_the_target(workspace, attrs, message):
    for name in ("p.c", "p.wat", "p.rs"):
        workspace.write(f"p/{name}", "")
    workspace.write("p/BUILD.toml", f'[[component]]\nname = "p"\n{attrs}\n')
    r = workspace.run("build", "//p:p")
    assert r.code != 0 and "ERROR:" in r.err and "p/BUILD.toml" in r.err and message in r.err, r.err
    assert "Traceback" not in r.err


RUST = """\
#![no_std]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! { loop {} }
#[no_mangle]
pub extern "C" fn twice(x: i32) -> i32 { let async = 2; x * async }
"""


def test_rust_edition_reaches_rustc(workspace):
    workspace.write("r/lib.rs", RUST)  # `async` is an identifier in edition 2015 only
    workspace.write("r/BUILD.toml", '[[component]]\nname = "r"\nsrcs = ["lib.rs"]\nedition = "2015"\n')
    r = workspace.run("build", "//r:r")
    assert r.code == 0, r.err
    store, inst, _ = _instance(workspace, "wasmelt-out/r/r/r.wasm")
    assert inst.exports(store)["twice"](store, 21) == 42
    workspace.write("r/BUILD.toml", '[[component]]\nname = "r"\nsrcs = ["lib.rs"]\n')  # default 2021
    r = workspace.run("build", "//r:r")
    assert r.code == 1 and "async" in r.err


def test_rust_edition_2024_builds_or_names_the_rustc_it_needs(workspace):
    workspace.write("r/BUILD.toml", '[[component]]\nname = "r"\nsrcs = ["lib.rs"]\nedition = "2024"\n')
    workspace.write("r/lib.rs", RUST.replace("let async = 2; x * async", "x * 2").replace(
        "#[no_mangle]", "#[unsafe(no_mangle)]"))  # edition 2024 syntax
    r = workspace.run("build", "//r:r")
    version = rustc().version
    if tuple(map(int, re.search(r"(\d+)\.(\d+)", version).groups())) >= (1, 85):
        assert r.code == 0, r.err
    else:
        assert r.code == 1
        assert (f"error: Rust edition 2024 needs rustc 1.85 or newer; {version} is installed: set `edition` to "
                "one it knows (2015, 2018, 2021), or point WASMELT_RUSTC at a newer rustc") in r.err


def test_an_edition_the_rustc_does_not_know_is_refused_naming_both():
    check_edition("2021", "rustc 1.63.0 (4b91a6ea7 2022-08-08)")
    with pytest.raises(StageError) as e:
        check_edition("2024", "rustc 1.63.0 (4b91a6ea7 2022-08-08)")
    assert str(e.value).startswith("Rust edition 2024 needs rustc 1.85 or newer; rustc 1.63.0 (4b91a6ea7 2022-08-08) "
                                   "is installed: set `edition` to one it knows (2015, 2018, 2021)")
