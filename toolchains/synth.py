"""The `synth` stage driver: one core module to an Arm Cortex-M or RV32
RISC-V relocatable `.o` plus a C header and a size/stack report, with the
builtin lowering, pulseengine `synth`, or wabt's `wasm2c` and the same cross
compiler (the CPUs are in cpus.py).

argv(src, out, header, report, *, toolchain, cpu, opt, bounds, cc, roots,
     memory_bytes, provenance, budgets, size_table) -> the command line;
identities(toolchain, cc) -> the tools it runs.
After every toolchain the symbol seam is checked: each root export is a
defined function (Thumb on Arm), and the only undefined symbols are the module's
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

from .builtin.synth.lower import (COMPILER_RT, LIBC, PREFIX, LowerError, LowerOptions, import_symbols, lower,
                                  symbol_function, symbol_name_problem)
from .builtin.synth.memory_layout import LayoutHints
from .builtin.wasm.decode import decode_module
from .builtin.wasm.model import FUNC
from .component import zig
from .cpus import ARM, CPUS, RISCV, TABLE, Cpu, cpu as cpu_named, with_float_abi
from .identity import ToolIdentity, builtin_tool, external_tool
from .near_miss import near_misses
from .size_table import build_table
from .stage import StageError, run_stage, run_tool

TOOLCHAINS = ("builtin", "synth", "wasm2c")
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
# Every access in the lowered C uses its wasm address twice, in the bounds
# check and in `WASMELT_MEM + address`; LLVM's loop strength reduction gives
# each use an induction variable of its own, which on Thumb costs registers,
# spills and reloads. Without it, on the size corpus (bench/size_bench.py,
# .text geomean against native): cortex-m0 1.48x -> 1.44x, m3/m4/m4f/m33
# 1.56x -> 1.50x, rv32imc 1.75x -> 1.73x, executed instructions unchanged
# (m0 1.16x -> 1.17x, m4 1.21x -> 1.20x). gcc's -fno-ivopts gains nothing.
# Block placement's tail duplication (copying a short block into each
# predecessor to save a branch) still runs under -Oz: without it m0 1.4004x ->
# 1.3987x, rv32imc 1.723x -> 1.720x, Thumb-2 unchanged, instructions unchanged.
LLVM_LOWERED_SIZE_CFLAGS = ["-mllvm", "-disable-lsr", "-mllvm", "-tail-dup-placement=false"]
# ARMv6-M has eight low registers: a bounds limit or the memory's address
# hoisted into one for a whole loop or function is spilled and reloaded, where
# loading it from the literal pool at its use is one 2-byte instruction; and
# its jump tables (an `add pc` over a byte table) come out larger than the
# compare chains. Without both: m0 1.420x -> 1.405x, instructions unchanged
# (fmt and json run 0.2-0.9% fewer). On Thumb-2 cores constant hoisting pays
# (m4 +0.6% without it), and jump tables (`tbb`) change nothing.
LLVM_LOWERED_SIZE_ARMV6M_CFLAGS = ["-mllvm", "-disable-constant-hoisting", "-fno-jump-tables"]
# On Thumb-2 cores, block placement by the ext-TSP model lays out the checked
# accesses' cold trap branches out of the way: m4 1.4761x -> 1.4715x and 0.3%
# fewer instructions executed (aes -1.4%, json +0.7%); on ARMv6-M and RV32 it
# costs (m0 1.3987x -> 1.4026x, rv32imc 1.720x -> 1.730x, m0 +0.7% instructions).
LLVM_LOWERED_SIZE_THUMB2_CFLAGS = ["-mllvm", "-enable-ext-tsp-block-placement"]


def lowered_cflags(cc: str, cpu: str, opt: str) -> list[str]:
    """The flags the builtin lowering's C compiles with, beyond cflags()."""
    if opt != "size" or cc not in ("zig", "clang"):
        return LOWERED_CFLAGS
    target = cpu_named(cpu)
    per_core = (LLVM_LOWERED_SIZE_ARMV6M_CFLAGS if target.armv6m else
                LLVM_LOWERED_SIZE_THUMB2_CFLAGS if target.family == ARM else [])
    return [*LOWERED_CFLAGS, *LLVM_LOWERED_SIZE_CFLAGS, *per_core]


def _compiler(cc: str, family: str = ARM) -> ToolIdentity:
    if cc == "zig":
        return zig()
    if cc == "gcc" and family == RISCV:
        return external_tool("riscv64-unknown-elf-gcc", hint="apt-get install gcc-riscv64-unknown-elf")
    if cc == "gcc":
        return external_tool("arm-none-eabi-gcc", hint="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi")
    return external_tool("clang", hint="install clang, or use cc = \"zig\"")


def identities(toolchain: str = "builtin", cc: str = "zig", cpu: str = "cortex-m4") -> list[ToolIdentity]:
    tools = [builtin_tool(), _compiler(cc, cpu_named(cpu).family)]
    if toolchain == "synth":
        tools.append(external_tool("synth", hint="synth (pulseengine) is not installed; use toolchain = \"builtin\""))
    elif toolchain == "wasm2c":
        tools.append(external_tool("wasm2c", hint="apt-get install wabt"))
    return tools


def argv(src: str, out: str, header: str, report: str, *, toolchain: str = "builtin", cpu: str = "cortex-m4",
         opt: str = "size", bounds: str = "check", cc: str = "zig", roots: list[str] | None = None,
         memory_bytes: int | None = None, heap_size: int = 0, provenance: str | None = None,
         fuse_report: str | None = None, natural_alignment: bool = False,
         budgets: dict[str, int] | None = None, size_table: str | None = None) -> list[str]:
    args = ["python", "-m", "wasmelt.toolchains.synth", "--toolchain", toolchain, "--cpu", cpu, "--opt", opt,
            "--bounds", bounds, "--cc", cc, "--out", out, "--header", header, "--report", report]
    for root in roots or []:
        args += ["--root", root]
    if memory_bytes:
        args += ["--memory-bytes", str(memory_bytes)]
    if heap_size:
        args += ["--heap-size", str(heap_size)]
    if provenance:
        args += ["--provenance", provenance]
    if fuse_report:
        args += ["--fuse-report", fuse_report]
    if natural_alignment:
        args.append("--natural-alignment")
    if size_table:
        args += ["--size-table", size_table]
    for name, value in sorted((budgets or {}).items()):
        if value is not None:
            args += [f"--{name.replace('_', '-')}", str(value)]
    return args + ["--", src]


def cflags(cc: str, cpu: str, opt: str) -> list[str]:
    level = ["-Os"] if opt == "size" else ["-O2"]
    if opt == "size" and cc == "zig":
        level += ["-Xclang", "-Oz"]  # zig's driver maps -Oz to -Os; clang's own -Oz inlines less
    elif opt == "size" and cc == "clang":
        level = ["-Oz"]
    target = cpu_named(cpu)
    flags = target.zig_flags() if cc == "zig" else target.gcc_flags() if cc == "gcc" else target.clang_flags()
    return [*flags, *level, *COMMON_CFLAGS]


def compile_c(source: Path, obj: Path, cc: str, cpu: str, opt: str, includes: list[str] = (),
              extra: list[str] = ()) -> None:
    """Compile; the compiler's warnings go to stderr (shown by `wasmelt build -v`)."""
    tool = _compiler(cc, cpu_named(cpu).family)
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
    per_section, kinds = {}, {}
    for index, sec in enumerate(elf.iter_sections()):
        name = sec.name
        if sec["sh_type"] in ("SHT_PROGBITS", "SHT_NOBITS") and sec["sh_flags"] & 2:  # SHF_ALLOC
            per_section[name] = sec["sh_size"]
            base = "." + name[2:] if name.startswith((".sdata", ".sbss", ".srodata")) else name  # RISC-V small data
            kind = ("text" if base.startswith(".text") else "bss" if base.startswith(".bss") or sec["sh_type"] == "SHT_NOBITS"
                    else "rodata" if base.startswith(".rodata") else "data" if base.startswith(".data") else None)
            if kind:
                sections[kind] += sec["sh_size"]
                kinds[index] = kind
    defined, undefined, functions, objects, object_sections = {}, set(), {}, {}, {}
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
                code = bool(elf.get_section(sym["st_shndx"])["sh_flags"] & 4)  # SHF_EXECINSTR
                defined[sym.name] = {"thumb": bool(sym["st_value"] & 1), "code": code, "bind": bind}
        elif kind == "STT_OBJECT":
            objects[sym.name] = sym["st_size"]
            if kinds.get(sym["st_shndx"]):
                object_sections[sym.name] = kinds[sym["st_shndx"]]
    referenced = set()
    for sec in elf.iter_sections():
        if sec["sh_type"] in ("SHT_REL", "SHT_RELA"):
            table = elf.get_section(sec["sh_link"])
            referenced.update(table.get_symbol(r["r_info_sym"]).name for r in sec.iter_relocations())
    return {"machine": elf["e_machine"], "class": elf.elfclass, "type": elf["e_type"], "flags": elf["e_flags"],
            "arch": _riscv_arch(elf), "sections": sections,
            "per_section": per_section, "defined": defined, "undefined": sorted(undefined),
            "functions": functions, "objects": objects, "object_sections": object_sections,
            "referenced": sorted(referenced - {""})}


def _riscv_arch(elf) -> str | None:
    """The ISA string a RISC-V object records (Tag_RISCV_arch), e.g.
    rv32i2p1_m2p0_c2p0; None for other machines or when absent."""
    sec = elf.get_section_by_name(".riscv.attributes")
    if sec is None:
        return None
    found = re.search(rb"rv32[a-z0-9_]+", sec.data())
    return found.group().decode() if found else None


def arch_extensions(arch: str) -> set[str]:
    """Single-letter extensions of an ISA string: rv32i2p1_m2p0_zicsr2p0 -> {i, m}."""
    parts = arch.removeprefix("rv32").split("_")
    return {p[0] for p in parts if p and not p.startswith(("z", "x", "s"))}


def check_machine(facts: dict, target: Cpu, toolchain: str) -> None:
    """The object is an ELF32 relocatable for the CPU's family, ISA and ABI."""
    if facts["machine"] != target.elf_machine or facts["class"] != 32 or facts["type"] != "ET_REL":
        family = "ARM" if target.family == ARM else "RISC-V"
        raise StageError(f"the {toolchain} toolchain did not produce an ELF32 {family} relocatable object "
                         f"(got {facts['machine']}, class {facts['class']}, {facts['type']})")
    problem = target.elf_flag_problem(facts["flags"])
    if problem is None and target.family == RISCV and facts["arch"]:
        extra = arch_extensions(facts["arch"]) - {"i", "g", *target.extensions}
        if extra:
            problem = f"it needs the {', '.join(sorted(extra))} extension(s) ({facts['arch']})"
    if problem:
        raise StageError(f"the {toolchain} toolchain's object does not fit {target.name} ({target.describe}): {problem}")


def check_seam(facts: dict, roots: list[str], imports: dict[str, str], family: str = ARM) -> None:
    missing = [r for r in roots if r not in facts["defined"]]
    not_code = [r for r in roots if r in facts["defined"]
                and not (facts["defined"][r]["thumb"] if family == ARM else facts["defined"][r]["code"])]
    extra = [s for s in facts["undefined"] if s not in imports and not RUNTIME_HELPER.match(s)]
    problems = []
    if missing:
        problems.append(f"exports missing from the object: {', '.join(missing)}")
    if not_code:
        kind = "Thumb functions" if family == ARM else "functions in a code section"
        problems.append(f"exports that are not {kind}: {', '.join(not_code)}")
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


def _arm_frame(instructions, start: int) -> int:
    frame = 0
    for ins in instructions:
        if ins.mnemonic in ("push", "push.w", "stmdb"):
            frame += 4 * ins.op_str.count("r") + 4 * ins.op_str.count("lr")
        elif ins.mnemonic == "vpush":
            frame += 4 * len(ins.op_str.split(",")) * (2 if "d" in ins.op_str else 1)
        elif ins.mnemonic.startswith("sub") and ins.op_str.startswith("sp, ") and "#" in ins.op_str:
            frame += int(ins.op_str.rsplit("#", 1)[1], 0)
        elif ins.address - start > 24:
            break
    return frame


def _sext32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _riscv_frame(instructions, start: int) -> int | None:
    """The deepest sp adjustment before the first jump, call or branch:
    `addi sp, sp, -n` (c.addi, c.addi16sp), or `add sp, sp, r` with r built
    by lui/li/addi (frames over 2 KiB); None when r cannot be followed."""
    regs: dict[str, int] = {}
    offset = deepest = 0
    for ins in instructions:
        op = ins.mnemonic.removeprefix("c.")
        args = [a.strip() for a in ins.op_str.split(",")]
        if op in ("j", "jal", "jr", "jalr", "ret", "auipc", "ebreak", "unimp") or op.startswith("b"):
            break
        if args[0] == "sp" and op in ("addi", "addi16sp", "add", "sub"):
            other = [a for a in args[1:] if a != "sp"]
            if op in ("addi", "addi16sp"):
                step = int(args[-1], 0)
            elif other and other[0] in regs:
                step = regs[other[0]] * (-1 if op == "sub" else 1)
            else:
                return None
            offset = min(0, offset + step)  # an epilogue gives the frame back
            deepest = max(deepest, -offset)
        elif op == "lui":
            regs[args[0]] = _sext32(int(args[1], 0) << 12)
        elif op == "li":
            regs[args[0]] = _sext32(int(args[1], 0))
        elif op == "addi" and (args[-2] == "zero" or args[-2] in regs):  # c.addi rd, imm: args[-2] is rd
            regs[args[0]] = _sext32(regs.get(args[-2], 0) + int(args[-1], 0))
        elif op == "mv" and args[1] in regs:
            regs[args[0]] = regs[args[1]]
        else:
            regs.pop(args[0], None)  # overwritten by something not followed
    return deepest


def stack_usage(obj: bytes, facts: dict) -> dict[str, int | None]:
    """Frame size of each function, read from its prologue (Thumb: push,
    vpush and sub sp; RISC-V: the sp adjustments), and the worst case through
    the calls it makes to functions of the same object (None when recursive
    or a frame cannot be read)."""
    from capstone import CS_ARCH_ARM, CS_ARCH_RISCV, CS_MODE_MCLASS, CS_MODE_RISCV32, CS_MODE_RISCVC, CS_MODE_THUMB, Cs
    from elftools.elf.elffile import ELFFile

    elf = ELFFile(io.BytesIO(obj))
    if elf["e_machine"] == "EM_RISCV":
        md, read_frame = Cs(CS_ARCH_RISCV, CS_MODE_RISCV32 | CS_MODE_RISCVC), _riscv_frame
    else:
        md, read_frame = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS), _arm_frame
    frames, calls = {}, {}
    symtab = elf.get_section_by_name(".symtab")
    relocs_by_section = {}
    for sec in elf.iter_sections():
        if sec["sh_type"] in ("SHT_REL", "SHT_RELA") and sec.name.startswith((".rel.text", ".rela.text")):
            relocs_by_section[sec["sh_info"]] = [(r["r_offset"], symtab.get_symbol(r["r_info_sym"]).name)
                                                 for r in sec.iter_relocations()]
    for sym in symtab.iter_symbols():
        if sym["st_info"]["type"] != "STT_FUNC" or sym["st_shndx"] == "SHN_UNDEF" or not sym["st_size"]:
            continue
        sec = elf.get_section(sym["st_shndx"])
        start = sym["st_value"] & ~1
        code = sec.data()[start:start + sym["st_size"]]
        frames[sym.name] = read_frame(md.disasm(code, start), start)
        targets = {name for off, name in relocs_by_section.get(sym["st_shndx"], [])
                   if start <= off < start + sym["st_size"]}
        calls[sym.name] = targets

    def worst(name: str, seen: frozenset) -> int | None:
        if name in seen or name in frames and frames[name] is None:
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
        "object_sections": facts["object_sections"],
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


def run_builtin(args, module, tmp: Path) -> tuple[bytes, dict[str, int], dict[str, str], str, dict]:
    try:
        lowered = lower(module, LowerOptions(args.bounds, args.memory_bytes, args.heap_size, args.hints,
                                             natural_alignment=args.natural_alignment))
    except LowerError as e:
        raise StageError(str(e)) from None
    for warning in lowered.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    source = tmp / "module.c"
    source.write_text(lowered.c_source)
    compile_c(source, tmp / "module.o", args.cc, args.cpu, args.opt, extra=lowered_cflags(args.cc, args.cpu, args.opt))
    return (tmp / "module.o").read_bytes(), lowered.exports, lowered.imports, lowered.header, lowered.memory, \
        lowered.entries


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
    compile_c(tmp / "module.c", tmp / "module.o", args.cc, args.cpu, args.opt, includes=[".", *_libc_headers(args.cc, args.cpu)])
    return (tmp / "module.o").read_bytes()


NEWLIB_INCLUDES = (Path("/usr/lib/arm-none-eabi/include"), Path("/usr/arm-none-eabi/include"))


def _libc_headers(cc: str, cpu: str) -> list[str]:
    """wasm2c's C includes <assert.h>, <math.h> and <string.h>: arm-none-eabi-gcc
    brings newlib's; zig, clang and riscv64-unknown-elf-gcc target bare metal
    without any, so they get the same newlib headers (headers only, nothing is
    linked)."""
    if cc == "gcc" and cpu_named(cpu).family == ARM:
        return []
    for folder in NEWLIB_INCLUDES:
        if (folder / "assert.h").exists():
            return [str(folder)]
    raise StageError(f"wasm2c's output needs C library headers, which {cc} has none of for bare metal: "
                     "apt-get install libnewlib-arm-none-eabi (its headers serve every cpu)"
                     + (", or use cc = \"gcc\"" if cpu_named(cpu).family == ARM else ""))


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
    args.hints = LayoutHints()
    if args.fuse_report:  # the fuse's report, or the component's: where the memory's data lies
        args.hints = LayoutHints.from_report(json.loads(Path(args.fuse_report).read_text()))
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
    for name, close in near_misses({i.name for i in module.imported(FUNC)}, exports):
        print(f"warning: host import `{name}` is one edit from the module's export `{close}`: did you mean "
              f"`{close}`?", file=sys.stderr)
    for name in exports:
        if LIBC_NAME.match(name):
            print(f"warning: export `{name}` is also a C library function: linked into firmware, it replaces "
                  f"the library's `{name}` for all of the firmware's code", file=sys.stderr)
    header, memory, entries = None, None, []
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        if args.toolchain == "builtin":
            obj, exports, imports, header, memory, entries = run_builtin(args, module, tmp)
        elif args.toolchain == "wasm2c":
            obj = run_wasm2c(args, module, tmp)
        else:
            obj = run_synth(args, tmp)
    facts = elf_facts(obj)
    target = cpu_named(args.cpu)
    check_machine(facts, target, args.toolchain)
    if args.toolchain != "wasm2c":  # wasm2c names exports by its own convention
        check_seam(facts, roots, imports, target.family)
        check_runtime_names(facts, [e for e in exports if e not in entries])  # the lowering's own calls
    provenance = json.loads(Path(args.provenance).read_text()) if args.provenance else _provenance_from_names(module)
    report = size_report(facts, stack_usage(obj, facts), {r: exports[r] for r in roots if r in exports}, provenance)
    report.update({"cpu": args.cpu, "toolchain": args.toolchain, "cc": args.cc, "bounds": args.bounds,
                   "imports": imports, "memory": memory})
    budgets = {name: getattr(args, name) for name in BUDGETS}
    report["budgets"] = budgets
    Path(args.out).write_bytes(obj)
    Path(args.header).write_text(header or _plain_header(module, roots))
    Path(args.report).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if args.size_table:
        alias = f" ({target.isa})" if target.family == RISCV and target.isa != args.cpu else ""
        fused = json.loads(Path(args.fuse_report).read_text()) if args.fuse_report else None
        table = build_table(report, module, {r: exports[r] for r in roots if r in exports}, provenance, budgets,
                            title=f"{args.cpu}{alias}, {args.toolchain} toolchain, {args.cc}", fuse_report=fused)
        Path(args.size_table).write_text(json.dumps(table, indent=1) + "\n")
    check_budgets(report, budgets)
    s = report["sections"]
    print(f"synth {args.cpu}: .text {s['text']} B, .data {s['data']} B, .rodata {s['rodata']} B, .bss {s['bss']} B, "
          f"stack {report['stack']['max']} B"
          + (f"; linear memory {memory['bytes']} of {memory['declared']} B ({memory['reason']})" if memory else ""))


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
    parser.add_argument("--cpu", choices=tuple(TABLE), default="cortex-m4")
    parser.add_argument("--opt", choices=["size", "speed"], default="size")
    parser.add_argument("--bounds", choices=["none", "check", "mask"], default="check")
    parser.add_argument("--cc", choices=["zig", "gcc", "clang"], default="zig")
    for flag in ("--out", "--header", "--report"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--root", action="append", default=[])
    parser.add_argument("--memory-bytes", type=int)
    parser.add_argument("--heap-size", type=int, default=0)
    parser.add_argument("--fuse-report", help="the fuse (or component) stage's report: where the memory's data lies")
    parser.add_argument("--provenance")
    parser.add_argument("--natural-alignment", action="store_true",
                        help="the module was compiled from C or Rust: trust each access's alignment hint "
                             "(on ARMv6-M one instruction, which faults if the program misaligns it)")
    parser.add_argument("--size-table", help="also write the generic size table `wasmelt size` shows")
    for name in BUDGETS:
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=int)
    parser.add_argument("src")
    return run_stage(lambda: build(parser.parse_args(argv_)))


if __name__ == "__main__":
    sys.exit(main())
