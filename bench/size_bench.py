"""Flash against native (issue 23): each library of bench/corpus built four
ways per CPU and linked --gc-sections from its API roots, .text and RAM compared.

  native   arm-none-eabi-gcc -Os -ffunction-sections -fdata-sections, the C as is
  zig      wasmelt component -> dce (API roots) -> builtin synth, cc = "zig"
  gcc      the same with cc = "gcc"
  wasm2c   the same DCE'd module through wabt's wasm2c + arm-none-eabi-gcc -Os

The wasmelt objects come from one `wasmelt build` of a generated workspace
(wasmelt-out/size-bench: a folder the repository's own workspace skips, kept
so a rerun is cached). Ratios are linked .text
over native's; the geomean is over the libraries. RAM is .data + .bss of the
link (wasmelt's includes its whole linear memory). Unless --no-cycles, every
firmware_test case of the corpus also runs in the Thumb emulator on the
native and the zig object (results checked against `expect`), and the
instructions executed are compared.

    python bench/size_bench.py                          # all libraries, m0 m3 m4 m4f, cycles on m0 and m4
    python bench/size_bench.py --libs aes --cpus cortex-m4 --no-cycles
    python bench/size_bench.py --variants zig --bounds mask --work /tmp/w      # another bounds mode
    python bench/size_bench.py --component-copts "-Xclang -Oz" --work /tmp/w2  # components at clang's -Oz
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_size  # noqa: E402

from wasmelt.toolchains.synth import elf_facts  # noqa: E402

BENCH = Path(__file__).resolve().parent
CORPUS = BENCH / "corpus"
WORK = BENCH.parent / "wasmelt-out" / "size-bench"  # not under bench/: the repository's //... would find it
CPUS = ("cortex-m0", "cortex-m3", "cortex-m4", "cortex-m4f")
CYCLE_CPUS = ("cortex-m0", "cortex-m4")
VARIANTS = {"zig": ("builtin", "zig"), "gcc": ("builtin", "gcc"), "wasm2c": ("wasm2c", "gcc")}


@dataclass(frozen=True)
class Library:
    name: str
    folder: Path
    component: dict  # the [[component]] table as written
    api: list[str]  # dce roots that are the library's API (not its *_kat self-tests)
    roots: list[str]  # every dce root, self-tests included
    cases: list[dict]  # the firmware_test's known-answer cases


def corpus(names: list[str] | None = None) -> list[Library]:
    """The corpus's packages, read from their BUILD.toml (one component, a
    `lean` dce whose roots are the API plus *_kat self-tests, a `kat` test)."""
    found = []
    for build in sorted(CORPUS.glob("*/BUILD.toml")):
        name = build.parent.name
        if names and name not in names:
            continue
        data = tomllib.loads(build.read_text())
        roots = next(d["roots"] for d in data["dce"] if d["name"] == "lean")
        cases = next(t["cases"] for t in data["firmware_test"] if t["name"] == "kat")
        found.append(Library(name, build.parent, data["component"][0], [r for r in roots if not r.endswith("_kat")],
                             roots, cases))
    unknown = set(names or ()) - {lib.name for lib in found}
    if unknown:
        raise SystemExit(f"no corpus library {', '.join(sorted(unknown))}; have: "
                         + ", ".join(b.parent.name for b in sorted(CORPUS.glob('*/BUILD.toml'))))
    return found


def _toml_list(items: list[str]) -> str:
    return "[" + ", ".join(json.dumps(i) for i in items) + "]"


def write_workspace(work: Path, libs: list[Library], cpus: list[str], cycle_cpus: list[str],
                    variants: list[str], copts: list[str] = (), bounds: str | None = None) -> None:
    """One package per library: its component, an `api` dce, one synth per
    variant and CPU, and for the emulated runs an `all` dce (API + self-tests)."""
    work.mkdir(parents=True, exist_ok=True)
    root = work / "BUILD.toml"
    if not root.exists():
        root.write_text('[workspace]\nname = "sizebench"\n')
    for lib in libs:
        pkg = work / lib.name
        pkg.mkdir(exist_ok=True)
        for src in lib.component["srcs"]:
            if not (pkg / src).exists() or (pkg / src).read_bytes() != (lib.folder / src).read_bytes():
                shutil.copyfile(lib.folder / src, pkg / src)
        lines = ["[[component]]", f'name = "{lib.component["name"]}"', f"srcs = {_toml_list(lib.component['srcs'])}",
                 *([f"copts = {_toml_list(list(copts))}"] if copts else []),
                 "", "[[dce]]", 'name = "api"', f'src = ":{lib.component["name"]}"', f"roots = {_toml_list(lib.api)}",
                 "", "[[dce]]", 'name = "all"', f'src = ":{lib.component["name"]}"', f"roots = {_toml_list(lib.roots)}"]
        for cpu in cpus:
            for variant in variants:
                toolchain, cc = VARIANTS[variant]
                lines += ["", "[[synth]]", f'name = "{variant}_{cpu}"', 'src = ":api"', f'cpu = "{cpu}"',
                          f'toolchain = "{toolchain}"', f'cc = "{cc}"', *([f'bounds = "{bounds}"'] if bounds else [])]
        for cpu in cycle_cpus:
            lines += ["", "[[synth]]", f'name = "kat_{cpu}"', 'src = ":all"', f'cpu = "{cpu}"',
                      *([f'bounds = "{bounds}"'] if bounds else [])]
        text = "\n".join(lines) + "\n"
        if not (pkg / "BUILD.toml").exists() or (pkg / "BUILD.toml").read_text() != text:
            (pkg / "BUILD.toml").write_text(text)


def build_workspace(work: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "wasmelt", "build", "-q", "-j", "2", "//..."], cwd=work,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"wasmelt build of {work} failed:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")


def _ram(sections: dict) -> int:
    return sections["data"] + sections["bss"]


def _defined_functions(obj: Path) -> list[str]:
    facts = elf_facts(obj.read_bytes())
    return sorted(name for name, d in facts["defined"].items() if d["code"] and d["bind"] == "STB_GLOBAL")


def measure(work: Path, lib: Library, cpu: str, variants: list[str], native_cc: str = "gcc",
            native_copts: list[str] = ()) -> dict:
    """Linked sizes of native and every variant for one library on one CPU."""
    folder = work / lib.name / f"native-{cpu}"
    sources = [lib.folder / s for s in lib.component["srcs"]]
    native_objects = native_size.compile_native(sources, cpu, native_cc, folder, native_copts)
    native = native_size.linked_sections(native_objects, lib.api, cpu, folder / "native.elf")
    row = {"lib": lib.name, "cpu": cpu, "native": {"text": native["text"], "rodata": native["rodata"],
                                                   "ram": _ram(native)}}
    for variant in variants:
        obj = work / "wasmelt-out" / lib.name / f"{variant}_{cpu}" / f"{variant}_{cpu}.o"
        # wasm2c names exports its own way: its global functions but the one that
        # frees an instance are the roots; its runtime (wasm-rt) stays outside.
        roots = [f for f in _defined_functions(obj) if not f.endswith("_free")] if variant == "wasm2c" else lib.api
        try:
            linked = native_size.linked_sections([obj], roots, cpu, folder / f"{variant}.elf", variant == "wasm2c")
        except RuntimeError as e:  # e.g. a call to a C library function the link does not have
            row[variant] = {"error": " ".join(sorted(set(re.findall(r"undefined reference to `(\w+)'", str(e)))))
                            or str(e)[-200:]}
            continue
        row[variant] = {"text": linked["text"], "rodata": linked["rodata"], "ram": _ram(linked),
                        "ratio": linked["text"] / native["text"]}
    return row


# -- executed instructions ------------------------------------------------------


class Counter:
    """Instructions a unicorn run executes, counted per translated block
    (each block's instructions decoded once with capstone)."""

    def __init__(self, machine):
        from capstone import CS_ARCH_ARM, CS_MODE_MCLASS, CS_MODE_THUMB, Cs
        import unicorn

        self.md = Cs(CS_ARCH_ARM, CS_MODE_THUMB | CS_MODE_MCLASS)
        self.blocks: dict[tuple[int, int], int] = {}
        self.count = 0
        machine.uc.hook_add(unicorn.UC_HOOK_BLOCK, self._on_block)

    def _on_block(self, uc, address, size, _user) -> None:
        key = (address, size)
        n = self.blocks.get(key)
        if n is None:
            n = self.blocks[key] = sum(1 for _ in self.md.disasm_lite(bytes(uc.mem_read(address, size)), address))
        self.count += n


def _machine(obj: bytes, cpu: str):
    from wasmelt.toolchains.emulator import link_for_emulation, machine_for
    from wasmelt.toolchains.reference import HostStubs

    image = link_for_emulation(obj, [], cpu, libgcc=True)
    return machine_for(cpu, image, HostStubs(), {}, {})


def cycles(work: Path, lib: Library, cpu: str) -> dict:
    """Every known-answer case on native and on the zig object: results must
    agree (and meet `expect`); instructions executed summed over the cases.
    wasmelt's one-time instantiation (wasmelt_init) runs first, uncounted."""
    from wasmelt.toolchains.builtin.wasm.decode import decode_module

    folder = work / lib.name / f"native-{cpu}"
    sources = [lib.folder / s for s in lib.component["srcs"]]
    native_objects = native_size.compile_native(sources, cpu, "gcc", folder / "kat")
    if len(native_objects) != 1:
        raise SystemExit(f"{lib.name}: instruction counts need a one-source library")
    module = decode_module((work / "wasmelt-out" / lib.name / "all" / "all.wasm").read_bytes())
    exports = {e.name: e.index for e in module.exports}
    ours = (work / "wasmelt-out" / lib.name / f"kat_{cpu}" / f"kat_{cpu}.o").read_bytes()
    totals = {}
    for side, obj in (("native", native_objects[0].read_bytes()), ("zig", ours)):
        machine = _machine(obj, cpu)
        if side == "zig":
            machine.call("wasmelt_init", [], [], [])
        counter = Counter(machine)
        for case in lib.cases:
            t = module.func_type(exports[case["call"]])
            outcome = machine.call(case["call"], list(t.params), list(t.results), case.get("args", []))
            if outcome.trap or list(outcome.results or []) != case["expect"]:
                raise SystemExit(f"{lib.name} on {cpu}, {side}: {case['call']}{tuple(case.get('args', []))} gave "
                                 f"{outcome.results} (trap {outcome.trap}), expected {case['expect']}")
        totals[side] = counter.count
    return {"lib": lib.name, "cpu": cpu, "native": totals["native"], "zig": totals["zig"],
            "ratio": totals["zig"] / totals["native"]}


# -- the report -------------------------------------------------------------------


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else float("nan")


def table(rows: list[dict], cycle_rows: list[dict]) -> str:
    out = ["| library | cpu | native .text | zig | gcc | wasm2c | native RAM | zig RAM | instructions zig / native |",
           "|---|---|---|---|---|---|---|---|---|"]
    counted = {(c["lib"], c["cpu"]): c for c in cycle_rows}
    for r in rows:
        c = counted.get((r["lib"], r["cpu"]))
        cells = ["-" if v not in r else f"{r[v]['text']} B ({r[v]['ratio']:.2f}x)" if "error" not in r[v]
                 else f"needs {r[v]['error']}" for v in VARIANTS]
        out.append(f"| {r['lib']} | {r['cpu']} | {r['native']['text']} B | " + " | ".join(cells)
                   + f" | {r['native']['ram']} B | {r.get('zig', {}).get('ram', '-')} B | "
                   + (f"{c['zig']}/{c['native']} ({c['ratio']:.2f}x)" if c else "") + " |")
    out += ["", "| cpu | zig geomean | gcc geomean | wasm2c geomean | instructions geomean (zig) |", "|---|---|---|---|---|"]
    for cpu in dict.fromkeys(r["cpu"] for r in rows):
        mine = [r for r in rows if r["cpu"] == cpu]
        ratios = [[r[v]["ratio"] for r in mine if "ratio" in r.get(v, {})] for v in VARIANTS]
        counts = [c["ratio"] for c in cycle_rows if c["cpu"] == cpu]
        cells = [f"{geomean(x):.2f}x" if x else "-" for x in [*ratios, counts]]
        out.append(f"| {cpu} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--libs", help="comma-separated corpus libraries (default: all)")
    ap.add_argument("--cpus", default=",".join(CPUS))
    ap.add_argument("--cycle-cpus", default=",".join(CYCLE_CPUS), help="where to count executed instructions")
    ap.add_argument("--no-cycles", action="store_true")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"of {', '.join(VARIANTS)}")
    ap.add_argument("--component-copts", default="", help='extra C flags for the components, e.g. "-Xclang -Oz"')
    ap.add_argument("--bounds", choices=["check", "mask", "none"], help="the synth targets' bounds (default: synth's)")
    ap.add_argument("--native-cc", choices=["gcc", "zig"], default="gcc",
                    help="the compiler of the native side (zig: clang, the compiler of wasmelt's own objects)")
    ap.add_argument("--native-copts", default="", help='extra C flags for the native side, e.g. "-Xclang -Oz"')
    ap.add_argument("--work", type=Path, default=WORK)
    ap.add_argument("--json", type=Path, default=BENCH / "results" / "size" / "latest.json")
    args = ap.parse_args(argv)
    args.work = args.work.resolve()  # the compilers run in folders under it
    libs = corpus(args.libs.split(",") if args.libs else None)
    cpus = args.cpus.split(",")
    cycle_cpus = [] if args.no_cycles else [c for c in args.cycle_cpus.split(",") if c]
    if native_size.gcc_for(cpus[0]) is None:
        raise SystemExit("arm-none-eabi-gcc is needed for the native builds: apt-get install gcc-arm-none-eabi")
    start = time.perf_counter()
    variants = args.variants.split(",")
    if set(variants) - set(VARIANTS):
        raise SystemExit(f"unknown variant(s) {', '.join(sorted(set(variants) - set(VARIANTS)))}; "
                         f"have: {', '.join(VARIANTS)}")
    write_workspace(args.work, libs, cpus, cycle_cpus, variants, args.component_copts.split(), args.bounds)
    build_workspace(args.work)
    rows = [measure(args.work, lib, cpu, variants, args.native_cc, args.native_copts.split()) for cpu in cpus for lib in libs]
    cycle_rows = [cycles(args.work, lib, cpu) for cpu in cycle_cpus for lib in libs]
    result = {"rows": rows, "cycles": cycle_rows, "seconds": round(time.perf_counter() - start, 1)}
    print(table(rows, cycle_rows))
    print(f"({result['seconds']} s)")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    return result


if __name__ == "__main__":
    main()
