"""The `synth` stage driver: one core module to an ARM Cortex-M relocatable
`.o` plus a C header and a size/stack report, with the builtin lowering,
pulseengine `synth`, or wabt's `wasm2c` and the same cross compiler.

argv(src, out, header, report, *, toolchain, cpu, opt, bounds, cc, roots,
     memory_bytes, provenance, budgets, size_table) -> the command line;
identities(toolchain, cc) -> the tools it runs.
After every toolchain the symbol seam is checked: each root export is a
defined Thumb function, and the only undefined symbols are the module's
imports and compiler runtime helpers.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

from .builtin.synth.lower import (PREFIX, LowerError, LowerOptions, import_symbols, lower, symbol_function,
                                  symbol_name_problem)
from .builtin.wasm.decode import decode_module
from .builtin.wasm.model import FUNC
from .component import zig
from .identity import ToolIdentity, builtin_tool, external_tool
from .size_table import build_table
from .stage import StageError, run_stage, run_tool

CPUS = ("cortex-m0", "cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m4f", "cortex-m7", "cortex-m33")
HARD_FLOAT = {"cortex-m4f", "cortex-m7"}
TOOLCHAINS = ("builtin", "synth", "wasm2c")
# Undefined symbols a C compiler may leave for its runtime library.
COMPILER_RT = r"__aeabi_\w+|__gnu_\w+|__(u|)(div|mod|mul)\w+|__\w+[sdt]f[23]|__\w+(di|si|ti)[23]"
LIBC = r"(sqrt|floor|ceil|trunc|fmin|fmax|fabs)f?|mem(cpy|set|move|cmp)"
RUNTIME_HELPER = re.compile(rf"^({COMPILER_RT}|{LIBC})$")
LIBC_NAME = re.compile(rf"^({LIBC})$")
# Symbols no wasm name may take: the lowering's own (PREFIX) and the compiler
# runtime's, which the C compiler may call at any point.
RESERVED = re.compile(rf"^({PREFIX}.*|{COMPILER_RT})$")
BUDGETS = ("max_text_bytes", "max_data_bytes", "max_bss_bytes", "max_stack_bytes")
COMMON_CFLAGS = ["-ffreestanding", "-fno-builtin", "-fno-math-errno", "-ffp-contract=off", "-fno-unwind-tables",
                 "-fno-asynchronous-unwind-tables", "-ffunction-sections", "-fdata-sections", "-g0", "-fno-ident",
                 "-fno-common"]
# The builtin lowering's C compiles without a warning: one means a lowering bug.
LOWERED_CFLAGS = ["-Werror"]


def _compiler(cc: str) -> ToolIdentity:
    if cc == "zig":
        return zig()
    if cc == "gcc":
        return external_tool("arm-none-eabi-gcc", hint="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    return external_tool("clang", hint="install clang, or use cc = \"zig\"")


def identities(toolchain: str = "builtin", cc: str = "zig") -> list[ToolIdentity]:
    tools = [builtin_tool(), _compiler(cc)]
    if toolchain == "synth":
        tools.append(external_tool("synth", hint="synth (pulseengine) is not installed; use toolchain = \"builtin\""))
    elif toolchain == "wasm2c":
        tools.append(external_tool("wasm2c", hint="apt-get install wabt"))
    return tools


def argv(src: str, out: str, header: str, report: str, *, toolchain: str = "builtin", cpu: str = "cortex-m4",
         opt: str = "size", bounds: str = "check", cc: str = "zig", roots: list[str] | None = None,
         memory_bytes: int | None = None, provenance: str | None = None, fuse_report: str | None = None,
         budgets: dict[str, int] | None = None, size_table: str | None = None) -> list[str]:
    args = ["python", "-m", "wasmelt.toolchains.synth", "--toolchain", toolchain, "--cpu", cpu, "--opt", opt,
            "--bounds", bounds, "--cc", cc, "--out", out, "--header", header, "--report", report]
    for root in roots or []:
        args += ["--root", root]
    if memory_bytes:
        args += ["--memory-bytes", str(memory_bytes)]
    if provenance:
        args += ["--provenance", provenance]
    if fuse_report:
        args += ["--fuse-report", fuse_report]
    if size_table:
        args += ["--size-table", size_table]
    for name, value in sorted((budgets or {}).items()):
        if value is not None:
            args += [f"--{name.replace('_', '-')}", str(value)]
    return args + ["--", src]


def cflags(cc: str, cpu: str, opt: str) -> list[str]:
    level = "-Os" if opt == "size" else "-O2"
    if cc == "zig":
        from .thumb_emulator import zig_target

        return [*zig_target(cpu), level, *COMMON_CFLAGS]
    if cc == "gcc":
        mcpu = "cortex-m4" if cpu == "cortex-m4f" else cpu
        fpu = {"cortex-m4f": ["-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"],
               "cortex-m7": ["-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"]}.get(cpu, ["-mfloat-abi=soft"])
        return ["-mthumb", f"-mcpu={mcpu}", *fpu, level, *COMMON_CFLAGS]
    abi = "eabihf" if cpu in HARD_FLOAT else "eabi"
    return [f"--target=thumbv7em-none-{abi}", f"-mcpu={cpu.removesuffix('f')}", level, *COMMON_CFLAGS]


def compile_c(source: Path, obj: Path, cc: str, cpu: str, opt: str, includes: list[str] = (),
              extra: list[str] = ()) -> None:
    """Compile; the compiler's warnings go to stderr (shown by `wasmelt build -v`)."""
    tool = _compiler(cc)
    base = [tool.path, "cc"] if cc == "zig" else [tool.path]
    proc = run_tool([*base, *cflags(cc, cpu, opt), *extra, *[f"-I{i}" for i in includes], "-c", source.name,
                     "-o", str(obj)], f"compiling the lowered module for {cpu}", cwd=source.parent)
    if proc.stderr:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))


# -- the object: symbols, sizes, stack ------------------------------------------


def elf_facts(obj: bytes) -> dict:
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(obj))
    sections = {"text": 0, "data": 0, "bss": 0, "rodata": 0}
    per_section = {}
    for sec in elf.iter_sections():
        name = sec.name
        if sec["sh_type"] in ("SHT_PROGBITS", "SHT_NOBITS") and sec["sh_flags"] & 2:  # SHF_ALLOC
            per_section[name] = sec["sh_size"]
            kind = ("text" if name.startswith(".text") else "bss" if name.startswith(".bss") or sec["sh_type"] == "SHT_NOBITS"
                    else "rodata" if name.startswith(".rodata") else "data" if name.startswith(".data") else None)
            if kind:
                sections[kind] += sec["sh_size"]
    defined, undefined, functions, objects = {}, set(), {}, {}
    symtab = elf.get_section_by_name(".symtab")
    for sym in symtab.iter_symbols():
        kind, bind = sym["st_info"]["type"], sym["st_info"]["bind"]
        if sym["st_shndx"] == "SHN_UNDEF":
            if sym.name:
                undefined.add(sym.name)
            continue
        if kind == "STT_FUNC":
            functions[sym.name] = sym["st_size"]
            if bind in ("STB_GLOBAL", "STB_WEAK"):
                defined[sym.name] = {"thumb": bool(sym["st_value"] & 1), "bind": bind}
        elif kind == "STT_OBJECT":
            objects[sym.name] = sym["st_size"]
    referenced = set()
    for sec in elf.iter_sections():
        if sec["sh_type"] in ("SHT_REL", "SHT_RELA"):
            table = elf.get_section(sec["sh_link"])
            referenced.update(table.get_symbol(r["r_info_sym"]).name for r in sec.iter_relocations())
    return {"machine": elf["e_machine"], "class": elf.elfclass, "type": elf["e_type"], "sections": sections,
            "per_section": per_section, "defined": defined, "undefined": sorted(undefined),
            "functions": functions, "objects": objects, "referenced": sorted(referenced - {""})}


def check_seam(facts: dict, roots: list[str], imports: dict[str, str]) -> None:
    missing = [r for r in roots if r not in facts["defined"]]
    not_thumb = [r for r in roots if r in facts["defined"] and not facts["defined"][r]["thumb"]]
    extra = [s for s in facts["undefined"] if s not in imports and not RUNTIME_HELPER.match(s)]
    problems = []
    if missing:
        problems.append(f"exports missing from the object: {', '.join(missing)}")
    if not_thumb:
        problems.append(f"exports that are not Thumb functions: {', '.join(not_thumb)}")
    if extra:
        problems.append(f"undefined symbols that are neither imports nor runtime helpers: {', '.join(extra)}")
    if problems:
        raise StageError("symbol seam broken: " + "; ".join(problems) +
                         f". Declared imports: {', '.join(sorted(imports)) or 'none'}")


def check_runtime_names(facts: dict, exports) -> None:
    """Nothing in the object calls an export by its symbol, so a reference to
    one is the compiler calling its runtime (memcpy, ...) under that name."""
    called = [e for e in exports if e in facts["referenced"]]
    if called:
        raise StageError(f"the compiled code calls the C runtime's {', '.join(f'`{c}`' for c in called)}, which the "
                         "export of the same name would replace; rename the export in the component")


def stack_usage(obj: bytes, facts: dict) -> dict[str, int]:
    """Frame size of each function, read from its prologue (push, vpush and
    sub sp), and the worst case through the calls it makes to functions of
    the same object (None when recursive)."""
    from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(obj))
    md = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
    frames, calls = {}, {}
    symtab = elf.get_section_by_name(".symtab")
    relocs_by_section = {}
    for sec in elf.iter_sections():
        if sec["sh_type"] == "SHT_REL" and sec.name.startswith(".rel.text"):
            relocs_by_section[sec["sh_info"]] = [(r["r_offset"], symtab.get_symbol(r["r_info_sym"]).name)
                                                 for r in sec.iter_relocations()]
    for sym in symtab.iter_symbols():
        if sym["st_info"]["type"] != "STT_FUNC" or sym["st_shndx"] == "SHN_UNDEF" or not sym["st_size"]:
            continue
        sec = elf.get_section(sym["st_shndx"])
        start = sym["st_value"] & ~1
        code = sec.data()[start:start + sym["st_size"]]
        frame = 0
        for ins in md.disasm(code, start):
            if ins.mnemonic in ("push", "push.w", "stmdb"):
                frame += 4 * ins.op_str.count("r") + 4 * ins.op_str.count("lr")
            elif ins.mnemonic == "vpush":
                frame += 4 * len(ins.op_str.split(",")) * (2 if "d" in ins.op_str else 1)
            elif ins.mnemonic.startswith("sub") and ins.op_str.startswith("sp, ") and "#" in ins.op_str:
                frame += int(ins.op_str.rsplit("#", 1)[1], 0)
            elif ins.address - start > 24:
                break
        frames[sym.name] = frame
        targets = {name for off, name in relocs_by_section.get(sym["st_shndx"], [])
                   if start <= off < start + sym["st_size"]}
        calls[sym.name] = targets

    def worst(name: str, seen: frozenset) -> int | None:
        if name in seen:
            return None
        below = 0
        for callee in calls.get(name, ()):
            if callee in frames and callee != name:
                depth = worst(callee, seen | {name})
                if depth is None:
                    return None
                below = max(below, depth)
            elif callee == name:
                return None
        return frames.get(name, 0) + below

    return {name: worst(name, frozenset()) for name in frames}


def size_report(facts: dict, stack: dict, lowered_exports: dict[str, int], provenance: dict | None) -> dict:
    per_component: dict[str, int] = {}
    prov = (provenance or {}).get("functions", {})
    for name, size in facts["functions"].items():
        index = lowered_exports[name] if name in lowered_exports else symbol_function(name)
        component = prov.get(str(index), {}).get("component") if index is not None else None
        per_component[component or "(runtime)"] = per_component.get(component or "(runtime)", 0) + size
    exports_stack = {e: stack.get(e) for e in lowered_exports}
    return {
        "sections": facts["sections"],
        "per_section": facts["per_section"],
        "functions": dict(sorted(facts["functions"].items(), key=lambda kv: -kv[1])),
        "objects": dict(sorted(facts["objects"].items(), key=lambda kv: -kv[1])),
        "per_component": dict(sorted(per_component.items(), key=lambda kv: -kv[1])),
        "stack": {"frames": stack, "exports": exports_stack,
                  "max": None if any(v is None for v in exports_stack.values()) else max(exports_stack.values(), default=0)},
        "undefined": facts["undefined"],
        "exports": sorted(lowered_exports),
    }


def check_budgets(report: dict, budgets: dict[str, int | None]) -> None:
    measured = {"max_text_bytes": report["sections"]["text"], "max_data_bytes": report["sections"]["data"]
                + report["sections"]["rodata"], "max_bss_bytes": report["sections"]["bss"],
                "max_stack_bytes": report["stack"]["max"]}
    over = []
    for name, limit in budgets.items():
        value = measured[name]
        if limit is not None and (value is None or value > limit):
            what = name.removeprefix("max_").removesuffix("_bytes")
            shown = "unbounded (recursion)" if value is None else f"{value} B"
            over.append(f"{what} is {shown}, over the budget of {limit} B")
    if over:
        table = report["objects"] if any("data" in o or "bss" in o for o in over) and not any("text" in o for o in over) \
            else report["functions"]
        biggest = ", ".join(f"{n} {s} B" for n, s in list(table.items())[:5])
        comps = ", ".join(f"{c} {s} B" for c, s in report["per_component"].items())
        raise StageError("size budget exceeded: " + "; ".join(over) + f". Biggest: {biggest}"
                         + (f". By component: {comps}" if comps else "")
                         + ". Shrink the code (dce roots, opt = \"size\") or raise the budget")


# -- toolchains -----------------------------------------------------------------------


def run_builtin(args, module, tmp: Path) -> tuple[bytes, dict[str, int], dict[str, str], str]:
    try:
        lowered = lower(module, LowerOptions(args.bounds, args.memory_bytes))
    except LowerError as e:
        raise StageError(str(e)) from None
    for warning in lowered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    source = tmp / "module.c"
    source.write_text(lowered.c_source)
    compile_c(source, tmp / "module.o", args.cc, args.cpu, args.opt, extra=LOWERED_CFLAGS)
    return (tmp / "module.o").read_bytes(), lowered.exports, lowered.imports, lowered.header


def run_wasm2c(args, module, tmp: Path) -> bytes:
    tool = external_tool("wasm2c")
    shutil.copyfile(args.src, tmp / "in.wasm")
    run_tool([tool.path, "in.wasm", "-o", "module.c", "-n", "module"], f"wasm2c ({tool.version})", cwd=tmp)
    # Only wabt's runtime headers, never the host's /usr/include.
    for header in ("wasm-rt.h", "wasm-rt-exceptions.h"):
        for folder in (Path("/usr/include"), Path(tool.path).parent.parent / "include", Path("/usr/share/wabt/wasm2c")):
            if (folder / header).exists():
                shutil.copyfile(folder / header, tmp / header)
                break
    compile_c(tmp / "module.c", tmp / "module.o", args.cc, args.cpu, args.opt, includes=[".", *_libc_headers(args.cc)])
    return (tmp / "module.o").read_bytes()


NEWLIB_INCLUDES = (Path("/usr/lib/arm-none-eabi/include"), Path("/usr/arm-none-eabi/include"))


def _libc_headers(cc: str) -> list[str]:
    """wasm2c's C includes <assert.h>, <math.h> and <string.h>: gcc brings
    newlib's; zig and clang target freestanding Thumb without any, so they get
    the same newlib headers (headers only, nothing is linked)."""
    if cc == "gcc":
        return []
    for folder in NEWLIB_INCLUDES:
        if (folder / "assert.h").exists():
            return [str(folder)]
    raise StageError(f"wasm2c's output needs C library headers, which {cc} has none of for bare-metal Thumb: "
                     "apt-get install libnewlib-arm-none-eabi, or use cc = \"gcc\"")


def run_synth(args, tmp: Path) -> bytes:
    tool = external_tool("synth")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTH_")}  # they change the code
    out = tmp / "module.o"
    cmd = [tool.path, "compile", args.src, "--target", args.cpu, "--relocatable", "--all-exports",
           "--emit-stack-depth", "-o", str(out)]
    try:
        run_tool(cmd, f"synth ({tool.version})", env=env)
    except StageError as e:
        skipped = re.findall(r"skip\w*[^\n]*?`?([\w:/@#.-]+)`?", str(e))
        raise StageError(f"{e}" + (f"\nexports synth skipped: {', '.join(skipped)}" if skipped else "")) from None
    sidecar = tmp / "module.stack.json"
    if sidecar.exists():
        shutil.copyfile(sidecar, Path(args.out).with_suffix(".stack.json"))
    return out.read_bytes()


def build(args) -> None:
    data = Path(args.src).read_bytes()
    module = decode_module(data)
    if args.fuse_report and not args.memory_bytes:
        used = json.loads(Path(args.fuse_report).read_text()).get("memory", {}).get("used_bytes")
        args.memory_bytes = used or None
    exports = {e.name: e.index for e in module.exports if e.kind == FUNC}
    unnamed = {name: symbol_name_problem(name) for name in exports if symbol_name_problem(name)}
    for name in [r for r in args.root if r in unnamed]:
        raise StageError(f"root export {name!r} cannot be an ELF symbol: its name {unnamed[name]}")
    for name, problem in unnamed.items():
        print(f"warning: export {name!r} is left out of the object: no symbol can name it (its name {problem})",
              file=sys.stderr)
        del exports[name]
    roots = args.root or sorted(exports)
    unknown = [r for r in roots if r not in exports]
    if unknown:
        raise StageError(f"roots {', '.join(unknown)} are not exported functions; exports: {', '.join(sorted(exports))}")
    try:
        imports = {symbol: f"{i.module}.{i.name}" for symbol, i in zip(import_symbols(module), module.imported(FUNC))}
    except LowerError as e:
        raise StageError(str(e)) from None
    for name in [*exports, *imports]:
        if RESERVED.match(name):
            what = f"export `{name}`" if name in exports else f"import `{imports[name]}`"
            raise StageError(f"{what} is in a namespace the object reserves ({PREFIX}*, or the compiler runtime's "
                             "__aeabi_*/__*sf3 helpers); rename it in the component (the object names symbols by the "
                             "wasm names verbatim)")
    for name in exports:
        if LIBC_NAME.match(name):
            print(f"warning: export `{name}` is also a C library function: linked into firmware, it replaces "
                  f"the library's `{name}` for all of the firmware's code", file=sys.stderr)
    header = None
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.toolchain == "builtin":
            obj, exports, imports, header = run_builtin(args, module, tmp)
        elif args.toolchain == "wasm2c":
            obj = run_wasm2c(args, module, tmp)
        else:
            obj = run_synth(args, tmp)
    facts = elf_facts(obj)
    if facts["machine"] != "EM_ARM" or facts["class"] != 32 or facts["type"] != "ET_REL":
        raise StageError(f"the {args.toolchain} toolchain did not produce an ELF32 ARM relocatable object")
    if args.toolchain != "wasm2c":  # wasm2c names exports by its own convention
        check_seam(facts, roots, imports)
    if args.toolchain != "wasm2c":
        check_runtime_names(facts, exports)
    provenance = json.loads(Path(args.provenance).read_text()) if args.provenance else _provenance_from_names(module)
    report = size_report(facts, stack_usage(obj, facts), {r: exports[r] for r in roots if r in exports}, provenance)
    report.update({"cpu": args.cpu, "toolchain": args.toolchain, "cc": args.cc, "bounds": args.bounds,
                   "imports": imports})
    budgets = {name: getattr(args, name) for name in BUDGETS}
    report["budgets"] = budgets
    Path(args.out).write_bytes(obj)
    Path(args.header).write_text(header or _plain_header(module, roots))
    Path(args.report).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if args.size_table:
        table = build_table(report, module, {r: exports[r] for r in roots if r in exports}, provenance, budgets,
                            title=f"{args.cpu}, {args.toolchain} toolchain, {args.cc}")
        Path(args.size_table).write_text(json.dumps(table, indent=1) + "\n")
    check_budgets(report, budgets)
    s = report["sections"]
    print(f"synth {args.cpu}: .text {s['text']} B, .data {s['data']} B, .rodata {s['rodata']} B, .bss {s['bss']} B, "
          f"stack {report['stack']['max']} B")


def _provenance_from_names(module) -> dict:
    """Fused modules name functions `component:function`; DCE keeps the names."""
    from .builtin.wasm.names import function_names

    found = {}
    for index, name in function_names(module).items():
        component, sep, function = name.partition(":")
        if sep:
            found[str(index)] = {"component": component, "name": function}
    return {"functions": found}


def _plain_header(module, roots: list[str]) -> str:
    lines = ["/* Exports of the synthesized object. */", "#pragma once", ""]
    lines += [f"/* export: {r} */" for r in roots]
    return "\n".join(lines) + "\n"


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmelt.toolchains.synth")
    parser.add_argument("--toolchain", choices=TOOLCHAINS, default="builtin")
    parser.add_argument("--cpu", choices=CPUS, default="cortex-m4")
    parser.add_argument("--opt", choices=["size", "speed"], default="size")
    parser.add_argument("--bounds", choices=["none", "check", "mask"], default="check")
    parser.add_argument("--cc", choices=["zig", "gcc", "clang"], default="zig")
    for flag in ("--out", "--header", "--report"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--root", action="append", default=[])
    parser.add_argument("--memory-bytes", type=int)
    parser.add_argument("--fuse-report", help="the fuse stage's report: the memory is as large as its used bytes")
    parser.add_argument("--provenance")
    parser.add_argument("--size-table", help="also write the generic size table `wasmelt size` shows")
    for name in BUDGETS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int)
    parser.add_argument("src")
    return run_stage(lambda: build(parser.parse_args(argv_)))


if __name__ == "__main__":
    sys.exit(main())
