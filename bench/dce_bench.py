"""Dead-code elimination against binaryen: the builtin eliminator versus
`wasm-opt --remove-unused-module-elements` on the same fused module and roots;
sizes side by side (with and without the name section) and times, median of N.

    python bench/dce_bench.py            # example app + a generated app, 5 runs
    python bench/dce_bench.py --quick    # example only, 1 run

wasm-opt keeps every export, so it gets the module with its exports narrowed
to the roots first (what the dce driver's wasm-opt adapter does); it drops the
name section unless given -g, so both are compared like with like: the
builtin output without its custom sections against plain wasm-opt, and with
its name section against wasm-opt -g (the builtin's --strip keeps `name` by
design, so it is not the peer of plain wasm-opt). Debian's wasm-opt (108,
native) is always used; binaryen 132 from npm (bench/.npm) when available.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stage_inputs  # noqa: E402
import stage_tools as st  # noqa: E402

FEATURES = ["--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int", "--enable-multivalue",
            "--enable-reference-types", "--enable-mutable-globals"]


def wasm_opt_variants() -> list[tuple[str, list[str]]]:
    return [("", ["--remove-unused-module-elements"]),
            (" -g", ["-g", "--remove-unused-module-elements"]),
            (" -Oz", ["--remove-unused-module-elements", "-Oz"])]


def bench_input(inputs: stage_inputs.InputSet, tools: dict[str, st.Tool], runs: int, work: Path) -> dict:
    from wasmelt.toolchains.builtin.dce import eliminate
    from wasmelt.toolchains.builtin.wasm.decode import decode_module
    from wasmelt.toolchains.dce import _only_roots

    work.mkdir(parents=True, exist_ok=True)
    data = inputs.fused.read_bytes()
    rows = []
    out = work / "builtin.wasm"
    cmd = stage_inputs.dce_command(inputs.fused, out, inputs.roots)
    driver_s = st.time_commands([cmd], runs)
    inproc_s = st.median_seconds(lambda: eliminate(decode_module(data), inputs.roots), runs)
    rows.append({"toolchain": "builtin", "tool": "wasmelt builtin dce", "facts": st.wasm_facts(out),
                 "time_s": driver_s, "time_in_process_s": inproc_s, "names": True, "output": str(out)})
    narrowed = work / "narrowed.wasm"
    narrowed.write_bytes(_only_roots(data, inputs.roots))
    for key, label in (("wasm-opt", "system"), ("npm-wasm-opt", "npm")):
        tool = tools[key]
        if not tool.available:
            continue
        for suffix, flags in wasm_opt_variants():
            out = work / f"{key}{suffix.replace(' ', '')}.wasm"
            cmd = [tool.path, *FEATURES, *flags, str(narrowed), "-o", str(out)]
            try:
                time_s = st.time_commands([cmd], runs)
            except RuntimeError as e:
                rows.append({"toolchain": f"wasm-opt{suffix} ({label})", "tool": tool.version, "error": str(e)})
                continue
            rows.append({"toolchain": f"wasm-opt{suffix} ({label})", "tool": tool.version, "note": tool.note,
                         "facts": st.wasm_facts(out), "time_s": time_s, "names": suffix == " -g",
                         "optimizer": suffix == " -Oz", "command": " ".join([Path(cmd[0]).name, *flags]),
                         "output": str(out)})
    return {"input": stage_inputs.describe(inputs), "input_facts": st.wasm_facts(inputs.fused), "rows": rows}


def verdicts(section: dict) -> list[str]:
    """Like with like: the builtin output without custom sections against
    plain wasm-opt (which writes none), and with its name section against
    wasm-opt -g (which keeps the input's names)."""
    by = {r["toolchain"]: r for r in section["rows"] if "facts" in r}
    ours = by["builtin"]["facts"]
    lines = []
    for label in ("system", "npm"):
        for key, theirs_label, what in (("bytes_no_custom", f"wasm-opt ({label})", "without custom sections"),
                                        ("bytes", f"wasm-opt -g ({label})", "with the name section")):
            if theirs_label not in by:
                continue
            theirs = by[theirs_label]["facts"]
            a, b = ours[key], theirs["bytes"]
            verdict = "no larger" if a <= b else f"LARGER by {a - b} B"
            lines.append(f"  {what}: builtin {a} B vs {theirs_label} {b} B: builtin {verdict} "
                         f"(ratio {st.ratio(a, b)}; code section {ours['code_bytes']} vs {theirs['code_bytes']} B, "
                         f"data section {ours['data_bytes']} vs {theirs['data_bytes']} B)")
    return lines


def render(result: dict) -> str:
    out = []
    for section in result["inputs"]:
        f0 = section["input_facts"]
        out.append(f"\n== dce: {section['input']['name']}, roots {', '.join(section['input']['roots'])}: "
                   f"fused input {f0['bytes']} B ({f0['bytes_no_custom']} B without custom sections, "
                   f"{f0['functions']} functions) ==")
        rows = []
        builtin = section["rows"][0]
        for row in section["rows"]:
            if "error" in row:
                rows.append([row["toolchain"], "error"] + [""] * 8)
                continue
            f = row["facts"]
            rows.append([row["toolchain"], f["bytes"], f["bytes_no_custom"], f["custom_bytes"].get("name", 0),
                         f["code_bytes"], f["data_bytes"], f["functions"], "yes" if f["valid"] is None else "NO",
                         st.ms(row["time_s"]) + (f" ({st.ms(row['time_in_process_s'])} in-process)"
                                                 if "time_in_process_s" in row else ""),
                         st.ratio(builtin["facts"]["bytes_no_custom"], f["bytes_no_custom"])])
        out.append(st.table(["toolchain", "bytes", "no custom", "names", "code", "data", "funcs", "valid",
                             "time ms (median)", "builtin/this (no custom)"], rows))
        out += verdicts(section)
        for row in section["rows"]:
            if "error" in row:
                out.append(f"  {row['toolchain']} failed: {row['error'][:300]}")
        if any(r.get("optimizer") for r in section["rows"]):
            out.append("  (-Oz rows run binaryen's whole size optimizer as well: for scale, not a DCE-only peer)")
    for key, tool in result["tools"].items():
        out.append(f"{tool['name']} ({key}): {tool['version']}" + (f" — {tool['note']}" if tool["note"] else ""))
    out.append("times: builtin = the stage driver as a build runs it (python start-up, decode, eliminate, encode, "
               "wasm-tools validate); in-process = the eliminate() call alone; npm binaryen includes node's start-up")
    return "\n".join(out)


def run(inputs: list[stage_inputs.InputSet], runs: int, work: Path, install_npm: bool = True) -> dict:
    tools = {k: v for k, v in st.binaryen_tools(install_npm).items() if k in ("wasm-opt", "npm-wasm-opt")}
    return {"stage": "dce", "machine": st.machine(), "runs": runs, "tools": {k: vars(t) for k, t in tools.items()},
            "inputs": [bench_input(i, tools, runs, work / "dce" / i.work.name) for i in inputs]}


def main(argv: list[str] | None = None) -> dict:
    return st.stage_main("dce", __doc__.split("\n\n")[0], argv, render=render,
                         run=lambda inputs, runs, work, args: run(inputs, runs, work, install_npm=not args.no_npm))


if __name__ == "__main__":
    main()
