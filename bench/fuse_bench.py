"""Fusion against binaryen: the builtin fuser (shared memory, address rebase,
pack, shared stack) versus `wasm-merge` + `wasm-opt --multi-memory-lowering`
on the same components; fused size, memory, and time, median of N runs.

    python bench/fuse_bench.py            # example app + a generated 5-component app, 5 runs
    python bench/fuse_bench.py --quick    # example only, 1 run

Debian's binaryen has no wasm-merge (and its 108 lacks the lowering pass),
so binaryen's npm build is installed into bench/.npm (gitignored) on first
use; it runs under node, whose start-up is part of its time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import stage_inputs  # noqa: E402
import stage_tools as st  # noqa: E402

FEATURES = ["--enable-multimemory", "--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int"]


def binaryen_commands(merge: str, opt: str, components: list[tuple[str, Path]], merged: Path,
                      out: Path) -> list[list[str]]:
    """wasm-merge names each module by its component name, so the imports
    between components resolve; only the root keeps its `memory` export
    (multi-memory lowering may export the first memory only)."""
    cmd = [merge, *FEATURES, "--skip-export-conflicts"]
    for name, path in components:
        cmd += [str(path), name]
    return [cmd + ["-o", str(merged)], [opt, *FEATURES, "--multi-memory-lowering", str(merged), "-o", str(out)]]


def _peers(tools: dict[str, st.Tool]) -> list[tuple[str, st.Tool, st.Tool]]:
    pairs = []
    for merge_key, opt_key, label in (("wasm-merge", "wasm-opt", "system"), ("npm-wasm-merge", "npm-wasm-opt", "npm")):
        merge, opt = tools[merge_key], tools[opt_key]
        if merge.available and opt.available:
            pairs.append((f"binaryen ({label})", merge, opt))
    return pairs


def bench_input(inputs: stage_inputs.InputSet, tools: dict[str, st.Tool], runs: int, work: Path) -> dict:
    from wasmelt.toolchains.builtin.fuse import FuseOptions, fuse

    work.mkdir(parents=True, exist_ok=True)
    rows = []
    out = work / "builtin.wasm"
    cmd = stage_inputs.fuse_command(inputs.components, out)
    driver_s = st.time_commands([cmd], runs)
    parts = [(n, f"//bench:{n}", p.read_bytes()) for n, p in inputs.components]
    options = FuseOptions("shared", True, True, True, None, {})
    inproc_s = st.median_seconds(lambda: fuse(parts, options), runs)
    report = json.loads(out.with_suffix(".report.json").read_text())
    rows.append({"toolchain": "builtin", "tool": "wasmelt builtin fuse", "facts": st.wasm_facts(out),
                 "memory_used_bytes": report["memory"]["used_bytes"], "time_s": driver_s,
                 "time_in_process_s": inproc_s, "time_what": "driver command (python start-up + validate)",
                 "output": str(out)})
    for label, merge, opt in _peers(tools):
        tag = label.split("(")[1].rstrip(")")
        merged, lowered = work / f"{tag}-merged.wasm", work / f"{tag}-lowered.wasm"
        cmds = binaryen_commands(merge.path, opt.path, inputs.components, merged, lowered)
        try:
            total_s = st.time_commands(cmds, runs)
            merge_s = st.time_commands(cmds[:1], runs)
        except RuntimeError as e:
            rows.append({"toolchain": label, "tool": f"{merge.version} + {opt.version}", "error": str(e)})
            continue
        facts = st.wasm_facts(lowered)
        pages = [st.wasm_facts(p)["memories"] for _, p in inputs.components]
        facts["input_memories"] = [m for mems in pages for m in mems]
        rows.append({"toolchain": label, "tool": f"{merge.version} + {opt.version}", "note": merge.note,
                     "facts": facts, "memory_used_bytes": None, "time_s": total_s, "time_merge_s": merge_s,
                     "time_what": "wasm-merge + wasm-opt --multi-memory-lowering commands", "output": str(lowered),
                     "commands": [" ".join(Path(c[0]).name if i == 0 else c for i, c in enumerate(cmd)) for cmd in cmds]})
    return {"input": stage_inputs.describe(inputs), "rows": rows}


def _memory(row: dict) -> str:
    mems = row["facts"]["memories"]
    pages = "+".join(f"{m['min_pages']}p" for m in mems) or "none"
    used = row.get("memory_used_bytes")
    return pages + (f" ({used} B used)" if used else "")


def render(result: dict) -> str:
    out = []
    for section in result["inputs"]:
        name = section["input"]["name"]
        comps = ", ".join(f"{n} {b} B" for n, b in section["input"]["components"].items())
        out.append(f"\n== fuse: {name} ({comps}) ==")
        rows, builtin = [], section["rows"][0]
        for row in section["rows"]:
            if "error" in row:
                rows.append([row["toolchain"], "error", "", "", "", "", "", "", "", ""])
                continue
            f = row["facts"]
            inst = "yes" if f["instantiate_error"] is None else "NO"
            rows.append([row["toolchain"], f["bytes"], f["bytes_no_custom"], f["code_bytes"], _memory(row),
                         f["functions"], f["exports"], "yes" if f["valid"] is None else "NO", inst,
                         st.ms(row["time_s"]) + (f" ({st.ms(row['time_in_process_s'])} in-process)"
                                                 if "time_in_process_s" in row else "")])
        out.append(st.table(["toolchain", "bytes", "no custom", "code", "memory", "funcs", "exports", "valid",
                             "instantiates", "time ms (median)"], rows))
        for row in section["rows"][1:]:
            if "error" in row:
                out.append(f"  {row['toolchain']} failed: {row['error'][:300]}")
                continue
            f, b = row["facts"], builtin["facts"]
            out.append(f"  builtin / {row['toolchain']}: size {st.ratio(b['bytes'], f['bytes'])}, "
                       f"without custom sections {st.ratio(b['bytes_no_custom'], f['bytes_no_custom'])}, "
                       f"code {st.ratio(b['code_bytes'], f['code_bytes'])}, time {st.ratio(builtin['time_s'], row['time_s'])}")
            out.append(f"  {row['toolchain']}: {row['tool']} — {row['note']}; wasm-merge alone {st.ms(row['time_merge_s'])} ms")
            if f["custom_bytes"]:
                out.append(f"    its custom sections (carried over from the inputs): {f['custom_bytes']}")
            if f["instantiate_error"]:
                mems = f.get("input_memories", [])
                shape = ", ".join(f"{m['min_pages']}..{m['max_pages'] or 'unbounded'}" for m in mems)
                out.append(f"    does not instantiate in wasmtime: {f['instantiate_error']} — the inputs' memories "
                           f"are {shape} pages, {sum(m['min_pages'] for m in mems)} at least, and the lowered "
                           f"memory has {_memory(row)}: a data segment lands past its end")
    for note in result["unavailable"]:
        out.append(f"unavailable: {note}")
    out.append("times: builtin = the stage driver as a build runs it (python start-up, decode, fuse, encode, "
               "wasm-tools validate); in-process = the fuse() call alone; npm binaryen includes node's start-up")
    return "\n".join(out)


def run(inputs: list[stage_inputs.InputSet], runs: int, work: Path, install_npm: bool = True) -> dict:
    tools = st.binaryen_tools(install_npm)
    unavailable = [f"{t.name} ({key}): {t.note}" for key, t in tools.items() if not t.available]
    if not _peers(tools):
        lowering = tools["wasm-opt"].available and "--multi-memory-lowering" in st.run(
            [tools["wasm-opt"].path, "--help"]).stdout
        unavailable.append("no wasm-merge anywhere (Debian's binaryen has none; npm's was not installed): binaryen's "
                           "fusion could not be measured, only the builtin fuser is shown; the system wasm-opt "
                           + ("could lower multi-memory modules, but there is nothing to merge them"
                              if lowering else "has no --multi-memory-lowering either"))
    return {"stage": "fuse", "machine": st.machine(), "runs": runs, "unavailable": unavailable,
            "tools": {k: vars(t) for k, t in tools.items()},
            "inputs": [bench_input(i, tools, runs, work / "fuse" / i.work.name) for i in inputs]}


def main(argv: list[str] | None = None) -> dict:
    return st.stage_main("fuse", __doc__.split("\n\n")[0], argv, render=render,
                         run=lambda inputs, runs, work, args: run(inputs, runs, work, install_npm=not args.no_npm))


if __name__ == "__main__":
    main()
