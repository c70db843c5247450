"""The `component` stage: C, Rust (no_std), WAT or prebuilt sources to one
validated wasm (a core module, or a component when a WIT world is given),
linked so the fusers can place it (relocations kept, stack first, capped
memory), checked for memory.grow, and described in a JSON report.

argv(srcs, out, report, *, label, cc, wit, world, no_grow, stack_size,
     max_memory_pages, exports, copts, includes, defines, linkopts,
     host_imports, edition) -> the action's command line;
identities(srcs, cc, wit) -> the tools it runs. Reads the sources at the
given relative paths; writes `out` and `report`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .builtin.discipline import PAGE, code_section_size, grow_sites, module_report
from .builtin.wasm.component import core_modules, is_component
from .builtin.wasm.decode import decode_module
from .builtin.wasm.errors import DecodeError
from .builtin.wasm.model import GLOBAL, Module
from .builtin.wasm.relocs import linking, relocations
from . import component_stack, cstd
from .component_stack import StackFit
from .cstd import CFlags
from .identity import ToolIdentity, ToolNotFound, builtin_tool, external_tool, file_sha256, wasm_tools
from .near_miss import near_misses
from .stage import StageError, run_stage, run_tool

SOURCE_KINDS = {".c": "c", ".rs": "rust", ".wat": "wat", ".wasm": "wasm"}
GROW_ADVICE = ("build it #![no_std] / freestanding with a static or bump allocator that never grows "
               "(no memory.grow), or set no_grow = false for a component that is not fused with address rebasing")


def source_kind(srcs: list[str]) -> str:
    kinds = {SOURCE_KINDS[Path(s).suffix] for s in srcs if Path(s).suffix in SOURCE_KINDS}
    if len(kinds) != 1:
        found = ", ".join(sorted(kinds)) or "none"
        raise StageError(f"a component needs sources of one kind (.c, .rs, .wat or .wasm); found: {found}")
    return kinds.pop()


def zig() -> ToolIdentity:
    try:
        import ziglang  # noqa: F401
    except ImportError:
        raise ToolNotFound("the zig C compiler is missing: `pip install ziglang`") from None
    exe = Path(ziglang.__file__).parent / "zig"
    version = subprocess.run([str(exe), "version"], capture_output=True, text=True).stdout.strip()
    return ToolIdentity("zig", str(exe), f"zig {version}", file_sha256(exe))


def _rust_lld_for(rustc_path: str, sysroot: Path) -> bool:
    host_bins = list((sysroot / "lib/rustlib").glob("*/bin/rust-lld"))
    return bool(host_bins) or shutil.which("rust-lld") is not None or (Path(rustc_path).parent / "rust-lld").exists()


def rustc() -> ToolIdentity:
    """A rustc whose sysroot has the wasm32-unknown-unknown standard library."""
    candidates = [os.environ.get("WASMELT_RUSTC"), shutil.which("rustc"), "/usr/bin/rustc"]
    for candidate in filter(None, candidates):
        if not os.access(candidate, os.X_OK):
            continue
        sysroot = subprocess.run([candidate, "--print", "sysroot"], capture_output=True, text=True).stdout.strip()
        if sysroot and (Path(sysroot) / "lib/rustlib/wasm32-unknown-unknown").is_dir():
            if not _rust_lld_for(candidate, Path(sysroot)):
                raise ToolNotFound(f"{candidate} has the wasm32 target but no `rust-lld` linker: on Debian "
                                   "`apt-get install lld-14`, or `rustup component add llvm-tools`")
            ident = external_tool(candidate, version_flag="--version")
            return ToolIdentity("rustc", ident.path, ident.version, ident.digest)
    raise ToolNotFound("no rustc with the wasm32-unknown-unknown target found: on Debian "
                       "`apt-get install rustc libstd-rust-dev-wasm32`, or `rustup target add "
                       "wasm32-unknown-unknown`, or set WASMELT_RUSTC")


def clang() -> ToolIdentity:
    return external_tool("clang", hint="install clang and lld, or use cc = \"zig\"")


def identities(srcs: list[str], cc: str = "zig", wit: bool = False) -> list[ToolIdentity]:
    kind = source_kind(srcs)
    tools = [builtin_tool()]
    if kind == "c":
        tools.append(zig() if cc == "zig" else clang())
    elif kind == "rust":
        tools.append(rustc())
    if kind in ("wat", "wasm") or wit:
        tools.append(wasm_tools())
    return tools


def argv(srcs: list[str], out: str, report: str, *, label: str, cc: str = "zig", wit: str | list[str] | None = None,
         world: str | None = None, no_grow: bool = True, stack_size: int = 2048, max_memory_pages: int = 1,
         exports: list[str] | None = None, copts: list[str] | None = None, arena_bytes: int = 4096,
         bindings: str | None = None, includes: list[str] | None = None, defines: list[str] | None = None,
         linkopts: list[str] | None = None, host_imports: list[str] | None = None,
         edition: str | None = None, heap_size: int | None = None) -> list[str]:
    args = ["python", "-m", "wasmelt.toolchains.component", "--label", label, "--out", out, "--report", report,
            "--cc", cc, "--stack-size", str(stack_size), "--max-memory-pages", str(max_memory_pages),
            "--arena-bytes", str(arena_bytes)]
    if bindings:
        args += ["--bindings", bindings]
    if no_grow:
        args.append("--no-grow")
    for path in [wit] if isinstance(wit, str) else wit or []:
        args += ["--wit", path]
    if wit:
        args += ["--world", world or ""]
    for name in exports or []:
        args += ["--export", name]
    for opt in copts or []:
        args.append(f"--copt={opt}")
    for flag, values in (("--include", includes), ("--define", defines), ("--linkopt", linkopts),
                         ("--host-import", host_imports)):
        args += [f"{flag}={v}" for v in values or []]
    if edition:
        args += ["--edition", edition]
    if heap_size:
        args += ["--heap-size", str(heap_size)]
    return args + ["--", *srcs]


def _layout_flags(stack_size: int, pages: int, exports: list[str]) -> list[str]:
    """wasm-ld flags that make a component placeable by the fusers."""
    flags = ["--no-entry", "--emit-relocs", "--export=__heap_base", "--export=__data_end", "--stack-first",
             f"-zstack-size={stack_size}", f"--initial-memory={pages * PAGE}", f"--max-memory={pages * PAGE}"]
    if exports:
        flags += [f"--export={name}" for name in exports]
    return flags


def wit_package(files: list[str], into: Path) -> str:
    """One WIT file as is; several as the package directory they came from
    (the files under a `deps/` folder become its dependencies)."""
    if len(files) == 1:
        return files[0]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(f)) for f in files])
    if any(not f.endswith(".wit") for f in files):
        raise StageError("`wit` lists the .wit files of one package directory; found: " + ", ".join(files))
    for f in files:
        target = into / os.path.relpath(os.path.abspath(f), root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(f, target)
    if not any(p.suffix == ".wit" for p in into.iterdir()):
        raise StageError(f"`wit`: the package directory {os.path.relpath(root)} has no .wit file of its own, only "
                         "deps/; list the package's files too")
    return str(into)


def c_bindings(wit: str, world: str, arena_bytes: int, into: Path) -> list[str]:
    """Write `<world>.h` and its glue for a C component; returns the glue source."""
    from .builtin.bindgen_c import BindgenError, generate
    from .builtin.wit import WitError, read_world

    try:
        header, glue = generate(read_world(wasm_tools().path, wit, world), world, arena_bytes)
    except (WitError, BindgenError) as e:
        raise StageError(f"C bindings for world `{world}`: {e}") from None
    into.mkdir(parents=True, exist_ok=True)
    (into / f"{world}.h").write_text(header)
    (into / f"{world}_glue.c").write_text(glue)
    return [str(into / f"{world}_glue.c")]


def compile_commands(stage_argv: list[str], tool: str) -> list[tuple[str, list[str]]]:
    """(source, compiler command) of each C source of a component action's argv, as
    the stage runs them; only the object path differs (the stage compiles into a
    private temporary directory). Used by `wasmelt compdb`."""
    args = stage_parser().parse_args(stage_argv)
    if source_kind(args.srcs) != "c":
        return []
    flags = c_flags(args)
    if args.bindings:  # the generated <world>.h, as the build materialises it
        flags.includes.append(os.path.dirname(args.bindings))
    out_dir = os.path.dirname(args.out)
    return [(src, c_compile_argv(tool, args.cc, src, f"{out_dir}/{i}.o", flags))
            for i, src in enumerate(s for s in args.srcs if s.endswith(".c"))]


# -Os with the two -Oz behaviours that buy flash cheaply. clang's true -Oz
# (`-Xclang -Oz`: zig's driver maps -Oz to -Os) saves bytes in two ways, measured
# on the size corpus (bench/size_bench.py, linked .text / executed instructions
# against native, m4 and m0): it inlines almost nothing, and it never duplicates
# a loop's exit test ahead of the loop (loop rotation), so every iteration takes
# two branches. LLVM ties the second to the minsize attribute -Oz puts on every
# function, and no option restores rotation under it; so -Os and the knobs:
#   -inline-threshold=-2       a helper called from several places stays one
#                              function, as gcc -Os keeps it (clang's -Os makes a
#                              copy per call site): 1.62x -> 1.59x m4 .text at no
#                              instruction cost with 0; -2 also keeps out the
#                              helpers LLVM prices just below 0 (frames' CRC step:
#                              520 -> 476 B on m0), m4 1.50x -> 1.48x, m0 1.44x ->
#                              1.42x, instructions unchanged. -4 and below would
#                              keep out fmt's `put` (m0 1928 -> 1740 B) and json's
#                              `is_space` too, for +3% instructions (json +18%);
#   -rotation-max-header-size=2  rotate only loops whose exit test is a compare
#                              and branch, the ones where the duplicate costs about
#                              nothing and the saved branch is per iteration:
#                              m0 1.65x -> 1.62x, m4 1.59x -> 1.58x, +2% instructions.
# Together: m4 1.62x/1.21x -> 1.58x/1.23x, m0 1.66x/1.24x -> 1.62x/1.26x; all of
# -Oz is m4 1.51x/1.32x, m0 1.61x/1.39x (the rotation it forgoes is the +9%).
INLINE = ("-mllvm", "-inline-threshold=-2")
ROTATION = ("-mllvm", "-rotation-max-header-size=2")


def optimisation(copts: list[str]) -> list[str]:
    """-Os and the knobs above; copts that set an -O level get that level alone
    (the compiler's own inlining and rotation for it), and copts that set one of
    the knobs replace it (later copts win anyway)."""
    if any(o.startswith("-O") for o in copts):
        return ["-Os"]
    knobs = [knob for knob in (INLINE, ROTATION) if not any(knob[1].split("=")[0] in o for o in copts)]
    return ["-Os", *(flag for knob in knobs for flag in knob)]


def c_compile_argv(tool: str, cc: str, src: str, obj: str, flags: CFlags) -> list[str]:
    """The compiler command for one C source (the component stage's and `wasmelt compdb`'s)."""
    compiler = [tool, "cc"] if cc == "zig" else [tool]
    return [*compiler, "--target=wasm32-freestanding", *optimisation(flags.copts), "-nostdlib", "-ffreestanding",
            "-fno-ident",
            "-ffunction-sections", "-fdata-sections", "-Wall", "-UNDEBUG", "-isystem", str(cstd.INCLUDE),
            *(f"-I{d}" for d in flags.includes), *(f"-D{d}" for d in flags.defines), *flags.copts,
            "-c", src, "-o", obj]


def compile_c(srcs: list[str], out: Path, tmp: Path, cc: str, stack_size: int, pages: int,
              exports: list[str], flags: CFlags, label: str, heap_size: int | None = None) -> StackFit:
    """Compile and link the C sources into `out`, the stack sized by component_stack."""
    tool = zig() if cc == "zig" else clang()
    objects, sources = [], {}
    for i, src in enumerate(s for s in srcs if s.endswith(".c")):
        obj = tmp / f"{i}.o"
        proc = _compile(c_compile_argv(tool.path, cc, src, str(obj), flags), src, label)
        report_warnings(proc.stderr.decode("utf-8", "replace"))
        objects.append(str(obj))
        sources[str(obj)] = src
    libc_flags = CFlags(defines=[f"{cstd.HEAP_DEFINE}={heap_size}"] if heap_size else [], copts=["-fno-builtin"])
    for name in cstd.SOURCES:  # weak definitions: a component's own wins; --gc-sections drops the unused
        obj = tmp / f"libc-{name}.o"
        _compile(c_compile_argv(tool.path, cc, str(cstd.SRC / name), str(obj), libc_flags),
                 f"wasmelt's libc ({name})", label)
        objects.append(str(obj))
    linker = [tool.path, "wasm-ld"] if cc == "zig" else [shutil.which("wasm-ld") or "wasm-ld"]
    host = tmp / "host_imports.txt"
    host.write_text("".join(f"{name}\n" for name in flags.host_imports))

    def link(stack: int) -> Module:
        proc = _run([*linker, *_layout_flags(stack, pages, exports), "--gc-sections",
                     f"--allow-undefined-file={host}", *flags.linkopts, *objects, "-o", str(out)], "linking")
        if proc.returncode != 0:
            raise StageError(link_error(proc.stderr.decode("utf-8", "replace"), label, sources, tmp,
                                        flags.host_imports))
        return decode_module(out.read_bytes())

    module = link(stack_size)
    unused = sorted(set(flags.host_imports) - {i.name for i in module.imports})
    for name in unused:
        print(f"warning: `{name}` is listed in host_imports but no source calls it", file=sys.stderr)
    if any("stack" in opt for opt in flags.linkopts):  # the user's layout, which a relink would not change
        return StackFit(stack_size, None, None, "linkopts lay out the stack")
    fitted = component_stack.fit(module, stack_size)
    if fitted.linked != stack_size:
        link(fitted.linked)
    return fitted


def _run(argv_: list[str], what: str) -> subprocess.CompletedProcess:
    """Run a tool, keeping a failure's stderr for a message of our own."""
    try:
        return subprocess.run(argv_, capture_output=True, timeout=600)
    except FileNotFoundError:
        raise StageError(f"{what}: `{argv_[0]}` is not installed") from None
    except subprocess.TimeoutExpired:
        raise StageError(f"{what}: `{argv_[0]}` did not finish in 600s") from None


def _compile(argv_: list[str], src: str, label: str) -> subprocess.CompletedProcess:
    proc = _run(argv_, f"compiling {src}")
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace").strip()
        raise StageError(cstd.missing_header_message(text, label) or
                         f"compiling {src} failed{cstd.missing_function_hint(_undeclared(text))}:\n{text}")
    return proc


def _undeclared(stderr: str) -> set[str]:
    return set(re.findall(r"call to undeclared (?:library )?function '(\w+)'", stderr))


_DIAGNOSTIC = re.compile(r"^(\S.*?:\d+:\d+): warning: (.*)$")
_UNDEFINED = re.compile(r"^(?:\S*wasm-ld\S*: )?error: (\S+?): undefined symbol: (.+)$")


def report_warnings(stderr: str) -> None:
    """The compiler's warnings as `warning:` lines, which a build shows without -v."""
    for line in stderr.splitlines():
        m = _DIAGNOSTIC.match(line)
        if m:
            print(f"warning: {m.group(1)}: {m.group(2)}", file=sys.stderr)


def link_error(stderr: str, label: str, sources: dict[str, str], tmp: Path, host_imports=()) -> str:
    """wasm-ld's error with the temporary objects named by their sources; an
    undefined function says how to define it or leave it to the host."""
    undefined: dict[str, set[str]] = {}
    other = []
    for line in stderr.strip().splitlines():
        m = _UNDEFINED.match(line.strip())
        if m:
            undefined.setdefault(m.group(2), set()).add(sources.get(m.group(1), m.group(1)))
        elif line.strip():
            other.append(line.replace(str(tmp) + "/", ""))
    if not undefined:
        return f"component {label}: linking failed:\n" + "\n".join(other)
    lines = [f"`{name}` (called in {', '.join(sorted(where))})" for name, where in sorted(undefined.items())]
    typos = "".join(f" (`host_imports` lists `{listed}`: did you mean `{name}`?)"
                    for listed, name in near_misses(host_imports, undefined))
    return (f"component {label}: undefined symbol{'s' if len(lines) > 1 else ''} " + "; ".join(lines) +
            ". Define it in a source of the component, or, if the firmware (the host) provides it, list it "
            "in `host_imports`" + typos + cstd.missing_function_hint(undefined))


EDITIONS = {"2015": (1, 0), "2018": (1, 31), "2021": (1, 56), "2024": (1, 85)}  # the rustc that first has it


def check_edition(edition: str, version: str) -> None:
    """Refuse an edition the rustc (`rustc 1.63.0 (...)`) does not know, naming both."""
    m = re.search(r"(\d+)\.(\d+)", version)
    first = EDITIONS[edition]
    if m and (int(m.group(1)), int(m.group(2))) < first:
        raise StageError(f"Rust edition {edition} needs rustc {first[0]}.{first[1]} or newer; {version.strip()} is "
                         f"installed: set `edition` to one it knows "
                         f"({', '.join(e for e, v in EDITIONS.items() if (int(m.group(1)), int(m.group(2))) >= v)}), "
                         "or point WASMELT_RUSTC at a newer rustc")


def compile_rust(srcs: list[str], out: Path, stack_size: int, pages: int, exports: list[str], copts: list[str],
                 edition: str = "2021") -> StackFit:
    root = next(s for s in srcs if s.endswith(".rs"))
    tool = rustc()
    check_edition(edition, tool.version)

    def build(stack: int):
        link_args = [f"-Clink-arg={flag}" for flag in _layout_flags(stack, pages, exports)]
        return run_tool([tool.path, "--edition", edition, "--crate-type=cdylib", "--target",
                         "wasm32-unknown-unknown", "-Cpanic=abort", "-Copt-level=s", "-Cdebuginfo=0",
                         "-Ccodegen-units=1", *link_args, *copts, root, "-o", str(out)], f"compiling {root}")

    report_rust_warnings(build(stack_size).stderr.decode("utf-8", "replace"))
    fitted = component_stack.fit(decode_module(out.read_bytes()), stack_size)
    if fitted.linked != stack_size:  # rustc links as it compiles: the crate once more, with the stack fitted
        build(fitted.linked)
    return fitted


def report_rust_warnings(stderr: str) -> None:
    """rustc's `warning: ...` with the ` --> file:line:col` that follows it, on one line."""
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("warning: ") or re.match(r"warning: .*\d+ warnings? emitted", line):
            continue
        where = next((l.strip()[4:] for l in lines[i + 1:i + 3] if l.strip().startswith("--> ")), None)
        message = line.removeprefix("warning: ")
        print(f"warning: {where}: {message}" if where else line, file=sys.stderr)


def build_component(args) -> None:
    out = Path(args.out)
    kind = source_kind(args.srcs)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        core = tmp / "core.wasm"
        fitted = None  # the stack the component stage links (C and Rust)
        if args.wit:
            args.wit = wit_package(args.wit, tmp / "wit")
        if kind == "c":
            srcs, flags = list(args.srcs), c_flags(args)
            if args.wit:
                srcs += c_bindings(args.wit, args.world, args.arena_bytes, tmp / "bindings")
                flags.includes.append(str(tmp / "bindings"))
                if args.bindings:
                    shutil.copyfile(tmp / "bindings" / f"{args.world}.h", args.bindings)
            fitted = compile_c(srcs, core, tmp, args.cc, args.stack_size, args.max_memory_pages, args.export, flags,
                      args.label, args.heap_size)
        elif kind == "rust":
            fitted = compile_rust(args.srcs, core, args.stack_size, args.max_memory_pages, args.export, args.copt,
                         args.edition)
        elif kind == "wat":
            if len(args.srcs) != 1:
                raise StageError("a WAT component takes exactly one .wat file")
            run_tool([wasm_tools().path, "parse", args.srcs[0], "-o", str(core)], f"assembling {args.srcs[0]}")
        else:
            if len(args.srcs) != 1:
                raise StageError("a prebuilt component takes exactly one .wasm file")
            shutil.copyfile(args.srcs[0], core)
        run_tool([wasm_tools().path, "validate", str(core)], "validating the module")
        data = core.read_bytes()
        modules = core_modules(data)
        if not modules:
            raise StageError("the component contains no core module")
        decoded = []
        for raw in modules:
            try:
                decoded.append(decode_module(raw))
            except DecodeError as e:
                raise StageError(f"cannot read the core module: {e}") from None
        if args.no_grow:
            sites = [s for m in decoded for s in grow_sites(m, reachable=True)]  # dce drops the rest
            if sites:
                where = ", ".join(f"`{s.function}` ({s.count}x)" for s in sites)
                raise StageError(f"component {args.label} grows its memory: memory.grow in {where}. {GROW_ADVICE}")
        final = data
        if args.wit and not is_component(data):
            embedded, component = tmp / "embedded.wasm", tmp / "component.wasm"
            run_tool([wasm_tools().path, "component", "embed", args.wit, str(core), "--world", args.world,
                      "-o", str(embedded)], "embedding the WIT world")
            run_tool([wasm_tools().path, "component", "new", str(embedded), "-o", str(component)],
                     "creating the component")
            final = component.read_bytes()
        out.write_bytes(final)
    report = module_report(decoded[0], len(modules[0]), code_section_size(modules[0]))
    report.update({"label": args.label, "source_kind": kind, "component_model": is_component(final),
                   "core_modules": len(modules), "output_bytes": len(final),
                   "stack": fitted.facts() if fitted else None, "heap_base_taken": heap_base_taken(decoded[0])})
    heap = args.heap_size if kind == "c" else None
    if heap and report.get("heap_base") is not None and report["heap_base"] + heap > args.max_memory_pages * PAGE:
        raise StageError(f"component {args.label}: its heap (heap_size = {heap} bytes from __heap_base at "
                         f"{report['heap_base']}) does not fit its memory of {args.max_memory_pages} page(s) "
                         f"({args.max_memory_pages * PAGE} bytes): raise max_memory_pages or lower heap_size")
    if heap:  # where the libc's arena lies, for the synth's memory
        report["heap_size"] = heap
    Path(args.report).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"{args.label}: {report['code_bytes']} B code, {report['data_bytes']} B data, "
          f"{report['memory_pages'][0]['min'] if report['memory_pages'] else 0} page(s), "
          f"imports {len(report['imports'])}, exports {', '.join(report['exports'])}"
          + (f"; stack {fitted.linked} B of stack_size {fitted.declared} ({fitted.reason})"
             if fitted and fitted.linked not in (None, fitted.declared) else ""))


def heap_base_taken(module: Module) -> bool | None:
    """Whether code or data takes the address of `__heap_base` or `__heap_end` (an
    allocator above the data), from the linker's relocations; None without them."""
    link = linking(module)
    if link is None:
        return None
    symbols = link.symbols
    names = ("__heap_base", "__heap_end")
    exported = {e.index for e in module.exports if e.kind == GLOBAL and e.name in names}
    return any(r.is_memory_address and r.index < len(symbols) and symbols[r.index].name in names
               for section in relocations(module).values() for r in section) or \
        any(i.op == "global.get" and i.imm[0] in exported for f in module.functions for i in f.body)


def stage_parser() -> argparse.ArgumentParser:
    """The stage's command line (also read back by `wasmelt compdb` from an action's argv)."""
    parser = argparse.ArgumentParser(prog="wasmelt.toolchains.component")
    parser.add_argument("--label", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--cc", choices=["zig", "clang"], default="zig")
    parser.add_argument("--wit", action="append", help="a WIT file, or (repeated) the files of a package directory")
    parser.add_argument("--world")
    parser.add_argument("--no-grow", action="store_true")
    parser.add_argument("--stack-size", type=int, default=2048)
    parser.add_argument("--max-memory-pages", type=int, default=1)
    parser.add_argument("--export", action="append", default=[])
    parser.add_argument("--copt", action="append", default=[])
    parser.add_argument("--arena-bytes", type=int, default=4096)
    parser.add_argument("--bindings", help="where to write the generated C header (C components with a WIT world)")
    parser.add_argument("--include", action="append", default=[], help="an include directory (C)")
    parser.add_argument("--define", action="append", default=[], help="NAME or NAME=VALUE (C)")
    parser.add_argument("--linkopt", action="append", default=[], help="a wasm-ld option (C)")
    parser.add_argument("--host-import", action="append", default=[], help="a function left to the host (C)")
    parser.add_argument("--edition", choices=sorted(EDITIONS), default="2021", help="the Rust edition")
    parser.add_argument("--heap-size", type=int, help="the libc's malloc arena from __heap_base, in bytes (C)")
    parser.add_argument("srcs", nargs="+")
    return parser


def c_flags(args) -> CFlags:
    """The component's flags; its heap_size reaches <stdlib.h> (which then declares malloc) as a define."""
    heap = [f"{cstd.HEAP_DEFINE}={args.heap_size}"] if args.heap_size else []
    return CFlags(includes=list(args.include), defines=list(args.define) + heap, copts=list(args.copt),
                  linkopts=list(args.linkopt), host_imports=list(args.host_import))


def main(argv_: list[str] | None = None) -> int:
    parser = stage_parser()
    return run_stage(lambda: build_component(parser.parse_args(argv_)))


if __name__ == "__main__":
    sys.exit(main())
