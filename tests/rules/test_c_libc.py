"""C components and the freestanding libc, through the CLI: string.h, ctype.h,
stdlib.h and assert.h work unmodified and agree with C semantics in wasmtime;
only what is used is linked; a component's own definition wins; a header or
function the libc does not have is one clear error naming the component."""

from __future__ import annotations

import json
import subprocess

import pytest
import wasmtime

from wasm_harness import WASM_TOOLS

LIBRARY = r"""
#include <assert.h>
#include <ctype.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(name)))

static char buf[64];
static int numbers[9] = {5, -3, 9, 0, 12, 7, -8, 2, 4};

static int by_value(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

EXPORT("strings") int32_t strings(void) {
    strcpy(buf, "hello");
    strcat(buf, ", world");
    int32_t r = (int32_t)strlen(buf);                                /* 12 */
    r = r * 10 + (strcmp("abc", "abd") < 0);                          /* 121 */
    r = r * 10 + (strncmp("abcx", "abcy", 3) == 0);                   /* 1211 */
    r = r * 10 + (int32_t)(strchr(buf, 'w') - buf) % 10;              /* 12117 */
    r = r * 10 + (strrchr(buf, 'o') - buf) % 10;                      /* 121178 */
    r = r * 10 + (strstr(buf, "wor") == buf + 7);                     /* 1211781 */
    r = r * 10 + (int32_t)strspn("aab!", "ab");                       /* 12117813 */
    return r;
}

EXPORT("memory_ops") int32_t memory_ops(void) {
    memset(buf, 'x', sizeof buf);
    memcpy(buf, "0123456789", 10);
    memmove(buf + 2, buf, 6);              /* overlapping, source first: 0101234589 */
    int32_t r = memcmp(buf, "0101234589x", 11) == 0;
    memmove(buf, buf + 4, 4);              /* overlapping, destination first: 2345234589 */
    r |= (memcmp(buf, "2345234589", 10) == 0) << 1;
    r |= (memcmp("ab", "ac", 2) < 0) << 2 | (memcmp("ab", "ab", 2) == 0) << 3;
    r |= (memchr(buf, '9', 10) == buf + 9) << 4 | (memchr(buf, 'q', 10) == NULL) << 5;
    return r;
}

EXPORT("classify") int32_t classify(int32_t c) {
    return isalpha(c) | isdigit(c) << 1 | isspace(c) << 2 | isupper(c) << 3 | ispunct(c) << 4 | isxdigit(c) << 5
           | (toupper(c) & 0xff) << 8;
}

EXPORT("parse") int32_t parse(int32_t which) {
    char *end;
    switch (which) {
    case 0: return (int32_t)strtol("  -0x1fZ", &end, 0) * 100 + (*end == 'Z');
    case 1: return (int32_t)strtol("0777", NULL, 0);
    case 2: return strtol("99999999999999999999", NULL, 10) == LONG_MAX;
    case 3: return atoi("  +42abc");
    case 4: { long v = strtol("zz", &end, 36); return (int32_t)v * 10 + (*end == 0); }
    case 5: return abs(-7) + (int32_t)labs(-8L) + div(17, 5).quot * 100 + div(17, 5).rem * 1000;
    default: return (int32_t)strtoul("-1", NULL, 10) == -1;
    }
}

EXPORT("sorted") int32_t sorted(int32_t key) {
    qsort(numbers, 9, sizeof numbers[0], by_value);
    for (int i = 1; i < 9; i++) if (numbers[i - 1] > numbers[i]) return -1;
    int *found = bsearch(&key, numbers, 9, sizeof numbers[0], by_value);
    return found ? (int32_t)(found - numbers) : -2;
}

EXPORT("checked") int32_t checked(int32_t x) {
    assert(x != 13);
    return x + 1;
}
"""


def _run(ws, path: str, export: str, *args):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    instance = wasmtime.Instance(store, wasmtime.Module(engine, (ws.root / path).read_bytes()), [])
    return instance.exports(store)[export](store, *args)


@pytest.fixture
def lib(workspace):
    workspace.write("lib/BUILD.toml", '[[component]]\nname = "lib"\nsrcs = ["lib.c"]\n')
    workspace.write("lib/lib.c", LIBRARY)
    return workspace


def test_a_library_using_the_libc_builds_unmodified_and_agrees_with_c(lib):
    r = lib.run("build", "//lib:lib")
    assert r.code == 0, r.err
    wasm = "wasmelt-out/lib/lib/lib.wasm"
    assert _run(lib, wasm, "strings") == 12117813
    assert _run(lib, wasm, "memory_ops") == 0b111111
    assert _run(lib, wasm, "classify", ord("a")) == 1 | 32 | ord("A") << 8
    assert _run(lib, wasm, "classify", ord("7")) == 2 | 32 | ord("7") << 8
    assert _run(lib, wasm, "classify", ord("\t")) == 4 | ord("\t") << 8
    assert _run(lib, wasm, "classify", ord("Q")) == 1 | 8 | ord("Q") << 8
    assert _run(lib, wasm, "classify", ord("!")) == 16 | ord("!") << 8
    assert [_run(lib, wasm, "parse", i) for i in range(7)] == [-3099, 511, 1, 42, 12951, 2315, 1]
    assert [_run(lib, wasm, "sorted", k) for k in (-8, 12, 3)] == [0, 8, -2]
    assert _run(lib, wasm, "checked", 4) == 5
    with pytest.raises(wasmtime.Trap):
        _run(lib, wasm, "checked", 13)  # assert traps (zig's -Os would define NDEBUG; the stage undoes it)


def _functions(ws, path: str) -> set[str]:
    text = subprocess.run([WASM_TOOLS, "print", str(ws.root / path)], capture_output=True, text=True).stdout
    return {line.split()[1].lstrip("$") for line in text.splitlines() if line.strip().startswith("(func $")}


def test_only_the_functions_used_are_linked_and_a_components_own_definition_wins(workspace):
    workspace.write("one/BUILD.toml", '[[component]]\nname = "one"\nsrcs = ["one.c", "mine.c"]\n')
    workspace.write("one/one.c", '#include <string.h>\n#include <stdlib.h>\n'
                    '__attribute__((export_name("n"))) int n(const char *s) { return (int)strlen(s) + abs(-1); }\n')
    workspace.write("one/mine.c", "int abs(int x) { return 1000; }\n")
    r = workspace.run("build", "//one:one")
    assert r.code == 0, r.err
    names = _functions(workspace, "wasmelt-out/one/one/one.wasm")
    assert "strlen" in names and "abs" in names
    assert not names & {"memcpy", "qsort", "strtol", "isalpha", "memmove"}
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, workspace.root.joinpath("wasmelt-out/one/one/one.wasm")
                                                    .read_bytes()), [])
    memory = inst.exports(store)["memory"]
    memory.write(store, b"abc\0", 3000)
    assert inst.exports(store)["n"](store, 3000) == 1003  # the component's abs, not the libc's


def test_a_hosted_header_is_one_error_naming_the_component_and_what_is_available(workspace):
    workspace.write("io/BUILD.toml", '[[component]]\nname = "io"\nsrcs = ["io.c"]\n')
    workspace.write("io/io.c", "#include <stdint.h>\n#include <stdio.h>\nint f(void) { return 1; }\n")
    r = workspace.run("build", "//io:io")
    assert r.code == 1
    assert ("component //io:io: io/io.c:2 includes <stdio.h>, which wasmelt's freestanding libc does not provide"
            in r.err)
    assert "Available: assert.h, ctype.h," in r.err and "string.h" in r.err
    assert "Traceback" not in r.err


def test_a_missing_local_header_says_to_list_it_in_hdrs(workspace):
    workspace.write("p/BUILD.toml", '[[component]]\nname = "p"\nsrcs = ["p.c"]\n')
    workspace.write("p/p.c", '#include "config.h"\nint f(void) { return 1; }\n')
    r = workspace.run("build", "//p:p")
    assert r.code == 1
    assert "component //p:p: p/p.c:1 includes \"config.h\", which is not among the component's inputs" in r.err
    assert "list it in `hdrs`" in r.err


def test_malloc_is_refused_saying_the_target_has_no_heap(workspace):
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\n')
    workspace.write("h/h.c", '#include <stdlib.h>\nint f(void) { char *p = malloc(4); return p[0]; }\n')
    r = workspace.run("build", "//h:h")
    assert r.code == 1
    assert "compiling h/h.c failed (wasmelt's libc is freestanding; `malloc`: a component has no heap" in r.err
    assert "`heap_size = <bytes>` on the component" in r.err


def test_an_undefined_function_names_the_source_not_a_temporary_object(workspace):
    workspace.write("u/BUILD.toml", '[[component]]\nname = "u"\nsrcs = ["u.c"]\n')
    workspace.write("u/u.c", 'int _putchar(int);\n__attribute__((export_name("f"))) int f(int c) '
                    '{ return _putchar(c); }\n')
    r = workspace.run("build", "//u:u")
    assert r.code == 1
    assert ("component //u:u: undefined symbol `_putchar` (called in u/u.c). Define it in a source of the "
            "component, or, if the firmware (the host) provides it, list it in `host_imports`") in r.err
    message = "\n".join(l for l in r.err.splitlines() if "command: cd " not in l)  # that line names the workspace
    assert "/tmp" not in message and ".o:" not in message


HEAP = r"""
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

__attribute__((export_name("alloc"))) int32_t alloc(int32_t n) { return (int32_t)(uintptr_t)malloc((size_t)n); }
__attribute__((export_name("release"))) void release(int32_t p) { free((void *)(uintptr_t)p); }
__attribute__((export_name("zeroed"))) int32_t zeroed(void) {
    char *p = calloc(4, 4);
    int32_t sum = 0;
    for (int i = 0; i < 16; i++) sum += p[i];
    return sum;
}
__attribute__((export_name("grown"))) int32_t grown(void) {
    char *p = malloc(4);
    memcpy(p, "abc", 4);
    char *q = malloc(1);
    char *r = realloc(p, 64);   /* not the last block: moved, contents kept */
    return r != p && q != NULL && strcmp(r, "abc") == 0;
}
__attribute__((export_name("heap_base"))) int32_t heap_base(void) {
    extern unsigned char __heap_base;
    return (int32_t)(uintptr_t)&__heap_base;
}
"""


def test_malloc_exists_when_the_component_declares_a_heap_and_never_grows_it(workspace):
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\nheap_size = 256\n')
    workspace.write("h/h.c", HEAP)
    r = workspace.run("build", "//h:h")
    assert r.code == 0, r.err
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    inst = wasmtime.Instance(store, wasmtime.Module(engine, (workspace.root / "wasmelt-out/h/h/h.wasm").read_bytes()),
                             [])
    f = inst.exports(store)
    base = f["heap_base"](store)
    a = f["alloc"](store, 100)
    assert base < a < base + 256 and a % 8 == 0
    assert f["alloc"](store, 200) == 0  # past the arena: NULL, not memory.grow
    f["release"](store, a)  # the most recent block comes back
    assert f["alloc"](store, 100) == a
    f["release"](store, a)
    assert f["zeroed"](store) == 0 and f["grown"](store) == 1
    report = json.loads((workspace.root / "wasmelt-out/h/h/h.report.json").read_text())
    assert (report["heap_base"], report["heap_size"]) == (base, 256)  # where the heap lies, for the synth
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\nheap_size = 70000\n')
    r = workspace.run("build", "//h:h")
    assert r.code == 1
    assert "component //h:h: its heap (heap_size = 70000 bytes from __heap_base at" in r.err
    assert "does not fit its memory of 1 page(s) (65536 bytes): raise max_memory_pages or lower heap_size" in r.err


HEAP_TESTS = r"""
__attribute__((export_name("cycle"))) int32_t cycle(void) {   /* in the arena, and given back */
    extern unsigned char __heap_base;
    uintptr_t base = (uintptr_t)&__heap_base;
    char *p = malloc(100);
    int32_t ok = p && (uintptr_t)p > base && (uintptr_t)p + 100 <= base + 256;
    if (p) memset(p, 7, 100);
    free(p);
    return ok;
}
"""


def test_a_c_heap_reaches_the_objects_memory_through_dce_and_synth(workspace):
    workspace.write("h/BUILD.toml", """\
        [[component]]
        name = "h"
        srcs = ["h.c"]
        heap_size = 256

        [[dce]]
        name = "slim"
        src = ":h"

        [[synth]]
        name = "fw"
        src = ":slim"
        cpu = "cortex-m0"

        [[firmware_test]]
        name = "test"
        firmware = ":fw"
        cases = [
          { call = "cycle", expect = [1] },
          { call = "alloc", args = [300], expect = [0] },
          { call = "alloc", args = [250], expect = [0] },
          { call = "zeroed", expect = [0] },
          { call = "grown", expect = [1] },
        ]
        """)
    workspace.write("h/h.c", HEAP + HEAP_TESTS)
    r = workspace.run("test", "//h:test")
    assert r.code == 0, r.out + r.err
    component = json.loads((workspace.root / "wasmelt-out/h/h/h.report.json").read_text())
    memory = json.loads((workspace.root / "wasmelt-out/h/fw/fw.size.json").read_text())["memory"]
    # the synth was told nothing: the component's heap_size sizes the object's memory
    assert (memory["heap_base"], memory["heap_size"]) == (component["heap_base"], 256)
    assert memory["low"] <= component["heap_base"] and memory["end"] >= component["heap_base"] + 256
    assert memory["end"] < 65536  # sized by use, not the declared page
    header = (workspace.root / "wasmelt-out/h/fw/fw.h").read_text()
    assert f"#define WASMELT_HEAP_BASE {component['heap_base']}u" in header
    assert "#define WASMELT_HEAP_SIZE 256u" in header
    size = workspace.run("size", "//h:fw")
    assert size.code == 0, size.err
    assert f"heap_size 256 at {component['heap_base']}" in size.out


def test_the_heap_declared_on_both_the_component_and_the_synth_is_refused(workspace):
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\nheap_size = 256\n\n'
                    '[[synth]]\nname = "fw"\nsrc = ":h"\nheap_size = 512\n')
    workspace.write("h/h.c", HEAP)
    r = workspace.run("build", "//h:fw")
    assert r.code == 1 and "Traceback" not in r.err
    assert ("heap_size is declared twice: component //h:h has heap_size = 256 (its malloc arena, which the memory "
            "already includes) and the synth has heap_size = 512; drop the synth's heap_size") in r.err
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\nheap_size = 256\n\n'
                    '[[synth]]\nname = "fw"\nsrc = ":h"\nmemory_bytes = 4096\n')
    r = workspace.run("build", "//h:fw")
    assert r.code == 1
    assert ("memory_bytes and heap_size both size the memory: component //h:h has heap_size = 256; drop "
            "memory_bytes") in r.err


def test_the_heap_is_the_heap_size_attribute_not_a_define(workspace):
    workspace.write("h/h.c", "int f(void) { return 1; }\n")
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\ndefines = ["WASMELT_HEAP_SIZE=256"]\n')
    r = workspace.run("build", "//h:h")
    assert r.code == 2 and "Traceback" not in r.err
    assert ("`defines` entry `WASMELT_HEAP_SIZE=256`: the heap is the `heap_size` attribute (bytes), which also "
            "sizes the synth's memory; write `heap_size = <bytes>` instead") in r.err
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.c"]\nheap_size = 0\n')
    r = workspace.run("build", "//h:h")
    assert r.code == 2 and "heap_size" in r.err and "Traceback" not in r.err
    workspace.write("h/BUILD.toml", '[[component]]\nname = "h"\nsrcs = ["h.wat"]\nheap_size = 64\n')
    workspace.write("h/h.wat", "(module)\n")
    r = workspace.run("build", "//h:h")
    assert r.code == 2 and "`heap_size` is for C components; this one is built from wat sources" in r.err


def test_the_libc_lowered_to_thumb_agrees_with_wasmtime(lib):
    lib.write("lib/BUILD.toml", """\
        [[component]]
        name = "lib"
        srcs = ["lib.c"]

        [[synth]]
        name = "fw"
        src = ":lib"
        cpu = "cortex-m0"

        [[firmware_test]]
        name = "test"
        firmware = ":fw"
        cases = [
          { call = "strings", expect = [12117813] },
          { call = "memory_ops", expect = [63] },
          { call = "classify", args = [97] },
          { call = "parse", args = [0], expect = [-3099] },
          { call = "parse", args = [4], expect = [12951] },
          { call = "sorted", args = [12], expect = [8] },
          { call = "checked", args = [13], trap = "unreachable" },
        ]
        random_cases = 60
        """)
    r = lib.run("test", "//lib:test")
    assert r.code == 0, r.out + r.err
