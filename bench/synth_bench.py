"""Synthesis against wasm2c: the builtin lowering versus wabt's `wasm2c`, both
compiled by the same cross compiler with the same flags (zig cc and gcc,
-Os) for Cortex-M0, M4 and RV32IMAC, on the same DCE'd module;
.text/.rodata/.data/.bss measured with `size`, and times, median of N runs.
Where an input is all C, its sources compiled natively are shown too.

    python bench/synth_bench.py            # example app + a generated app, 5 runs
    python bench/synth_bench.py --quick    # example only, M4 with zig, 1 run

wasm2c's object is its module alone: its runtime (wasm-rt-impl.c) needs
mmap and stdio and is not built for bare metal, and it allocates the linear
memory at run time, so its .bss holds no memory while the builtin's .bss holds
the whole (packed) linear memory. wasm2c checks every memory access against
the memory's size; the builtin does so with bounds = "check", shown too.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_size  # noqa: E402
import stage_inputs  # noqa: E402
import stage_tools as st  # noqa: E402

from wasmelt.toolchains.cpus import RISCV, cpu as cpu_named  # noqa: E402

CPUS = ("cortex-m0", "cortex-m4", "rv32imac")
VARIANTS = [("builtin", "builtin", "none"), ("builtin bounds=check", "builtin", "check"), ("wasm2c", "wasm2c", "none")]


def bench_input(inputs: stage_inputs.InputSet, compilers: dict[str, st.Tool], cpus: tuple[str, ...], runs: int,
                work: Path) -> dict:
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for cc, arm_tool in compilers.items():
        for cpu in cpus:
            tool = st.riscv_gcc() if cc == "gcc" and cpu_named(cpu).family == RISCV else arm_tool
            if not tool.available:
                continue
            for label, toolchain, bounds in VARIANTS:
                out = work / f"{cc}-{cpu}-{label.replace(' ', '_').replace('=', '-')}.o"
                cmd = stage_inputs.synth_command(inputs.lean, out, inputs.roots, toolchain=toolchain, cpu=cpu, cc=cc,
                                                 bounds=bounds, fuse_report=inputs.fuse_report)
                try:
                    time_s = st.time_commands([cmd], runs)
                except RuntimeError as e:
                    rows.append({"cc": cc, "cpu": cpu, "toolchain": label, "error": str(e)})
                    continue
                rows.append({"cc": cc, "compiler": tool.version, "cpu": cpu, "toolchain": label, "bounds": bounds,
                             "size": st.elf_sizes(out), "object_file_bytes": out.stat().st_size, "time_s": time_s,
                             "output": str(out)})
    native = []
    if inputs.c_sources:
        for cpu in cpus:
            objects = {r["cc"]: Path(r["output"]) for r in rows
                       if r["cpu"] == cpu and r.get("toolchain") == "builtin" and "output" in r}
            native += native_size.compare(inputs.c_sources, inputs.roots, cpu, objects, work)
    return {"input": stage_inputs.describe(inputs), "input_facts": st.wasm_facts(inputs.lean), "rows": rows,
            "native": native}


def render(result: dict) -> str:
    out = []
    for section in result["inputs"]:
        f0 = section["input_facts"]
        out.append(f"\n== synth: {section['input']['name']}: DCE'd module {f0['bytes']} B, code section "
                   f"{f0['code_bytes']} B, {f0['functions']} functions ==")
        rows, by = [], {}
        for row in section["rows"]:
            if "error" in row:
                rows.append([row["cc"], row["cpu"], row["toolchain"], "error"] + [""] * 6)
                continue
            s = row["size"]
            by[(row["cc"], row["cpu"], row["toolchain"])] = row
            rows.append([row["cc"], row["cpu"], row["toolchain"], s["text"], s["rodata"], s["data"], s["bss"],
                         f"{s['berkeley']['text']}/{s['berkeley']['data']}/{s['berkeley']['bss']}", st.ms(row["time_s"])])
        out.append(st.table(["cc", "cpu", "toolchain", ".text", ".rodata", ".data", ".bss",
                             "size -B text/data/bss", "time ms (median)"], rows))
        for (cc, cpu, label), row in by.items():
            peer = by.get((cc, cpu, "wasm2c"))
            if label == "wasm2c" or peer is None:
                continue
            a, b = row["size"]["text"], peer["size"]["text"]
            verdict = "smaller" if a < b else "NOT smaller"
            out.append(f"  {cc} {cpu}: {label} .text {a} B vs wasm2c {b} B: {verdict} (ratio {st.ratio(a, b)})")
        for row in section["rows"]:
            if "error" in row:
                out.append(f"  {row['cc']} {row['cpu']} {row['toolchain']} failed: {row['error'][:300]}")
        out += render_native(section)
    for key, tool in result["compilers"].items():
        out.append(f"{key}: {tool['version']}" + (f" — {tool['note']}" if tool["note"] else ""))
    out.append(f"wasm2c: {result['wasm2c']}; sizes by {result['size_tool']}")
    out.append("(wasm2c: module object only, no wasm-rt-impl runtime; its linear memory is allocated at run time, "
               "so its .bss does not hold it, while the builtin's .bss does)")
    out.append("(builtin bounds=check: the memory size is a compile-time constant, so the compiler drops the checks "
               "it can prove, e.g. on masked table indexes; wasm2c compares against the run-time memory size)")
    out.append("(for scale, published pulseengine figures, not measured here: ~24 KB .text for a default-built "
               "growing wasip2 two-component app, under 1 KB grow-free, 540 B for a small kernel primitive)")
    out.append("times: the synth driver for either toolchain (python start-up, lowering or wasm2c, the compiler, "
               "the object checks)")
    return "\n".join(out)


def render_native(section: dict) -> list[str]:
    if not section.get("native"):
        return [f"  native: none for {section['input']['name']} (not every component is C)"]
    rows = []
    for row in section["native"]:
        if "error" in row:
            rows.append([row.get("cc", ""), row["cpu"], "error: " + row["error"][:120], "", "", ""])
            continue
        native, ours = row["native"]["text"], row["wasmelt_linked"]["text"]
        flash = [sum(r[k] for k in ("text", "rodata", "data")) for r in (row["native"], row["wasmelt_linked"])]
        rows.append([row["cc"], row["cpu"], native, row["wasmelt_object_text"], ours, st.ratio(ours, native),
                     flash[0], flash[1], st.ratio(flash[1], flash[0])])
    return ["  native: the C sources compiled directly (-Os, function/data sections), and wasmelt's builtin object, "
            "each linked by GNU ld with --gc-sections from the roots; flash = .text + .rodata + .data",
            st.table(["cc", "cpu", "native .text", "wasmelt .o .text", "wasmelt linked .text", "wasmelt/native",
                      "native flash", "wasmelt flash", "wasmelt/native"], rows)]


def run(inputs: list[stage_inputs.InputSet], runs: int, work: Path, cpus: tuple[str, ...] = CPUS,
        compilers: list[str] | None = None) -> dict:
    found = st.compilers()
    chosen = {k: v for k, v in found.items() if compilers is None or k in compilers}
    path = shutil.which("wasm2c")
    wasm2c_version = st._version(path) if path else "unavailable: apt-get install wabt"
    size_tool = st.arm_size()
    return {"stage": "synth", "machine": st.machine(), "runs": runs,
            "compilers": {k: vars(v) for k, v in {**found, "gcc (RV32)": st.riscv_gcc()}.items()}, "wasm2c": f"wabt wasm2c {wasm2c_version}",
            "size_tool": f"{size_tool} ({st._version(size_tool)})" if size_tool else None, "cpus": list(cpus),
            "inputs": [bench_input(i, chosen, cpus, runs, work / "synth" / i.work.name) for i in inputs]}


def main(argv: list[str] | None = None) -> dict:
    def bench(inputs, runs, work, args):
        return run(inputs, runs, work, cpus=("cortex-m4",) if args.quick else CPUS,
                   compilers=["zig"] if args.quick else None)

    return st.stage_main("synth", __doc__.split("\n\n")[0], argv, bench, render,
                         quick_help="the example only, Cortex-M4 with zig, one run", npm=False)


if __name__ == "__main__":
    main()
