"""The `dce` stage driver: remove what the firmware's roots cannot reach,
with the builtin eliminator, loom, or binaryen's wasm-opt.

argv(src, out, report, *, toolchain, roots, optimize, strip) -> the command
line; identities(toolchain) -> the tools it runs. The output is validated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .builtin.dce import DceError, eliminate
from .builtin.wasm.decode import decode_module
from .builtin.wasm.encode import encode_module
from .builtin.wasm.model import FUNC, GLOBAL, MEMORY, TABLE
from .identity import ToolIdentity, builtin_tool, external_tool, wasm_tools
from .stage import StageError, run_stage, run_tool

TOOLCHAINS = ("builtin", "loom", "wasm-opt")


def identities(toolchain: str = "builtin") -> list[ToolIdentity]:
    tools = [builtin_tool(), wasm_tools()]
    if toolchain == "loom":
        tools.append(external_tool("loom", hint="loom (pulseengine) is not installed; use toolchain = \"builtin\""))
    elif toolchain == "wasm-opt":
        tools.append(external_tool("wasm-opt", hint="apt-get install binaryen"))
    return tools


def argv(src: str, out: str, report: str, *, toolchain: str = "builtin", roots: list[str] | None = None,
         optimize: bool = False, strip: bool = False) -> list[str]:
    args = ["python", "-m", "wasmelt.toolchains.dce", "--toolchain", toolchain, "--out", out, "--report", report]
    for root in roots or []:
        args += ["--root", root]
    args += ["--optimize"] if optimize else []
    args += ["--strip"] if strip else []
    return args + ["--", src]


def _only_roots(data: bytes, roots: list[str] | None) -> bytes:
    """External optimizers keep every export: narrow the exports to the roots
    first, so all toolchains answer the same question."""
    if roots is None:
        return data
    module = decode_module(data)
    names = {e.name for e in module.exports}
    missing = [r for r in roots if r not in names]
    if missing:
        raise StageError(f"roots {', '.join(missing)} not exported; the module exports: {', '.join(sorted(names))}")
    module.exports = [e for e in module.exports if e.name in roots]
    return encode_module(module)


KIND_NAMES = {FUNC: "function", TABLE: "table", MEMORY: "memory", GLOBAL: "global"}


def check_roots(module, roots: list[str] | None) -> None:
    """Roots are exported functions: the firmware calls them. A memory, table or
    global export is refused here, before synth would fail on it."""
    kinds = {e.name: e.kind for e in module.exports}
    for root in roots or []:
        kind = kinds.get(root)
        if kind is not None and kind != FUNC:
            functions = ", ".join(sorted(n for n, k in kinds.items() if k == FUNC)) or "none"
            raise StageError(f"root `{root}` is a {KIND_NAMES.get(kind, 'non-function')} export, not a function: "
                             "`roots` name the functions the firmware calls (what they use, the memory included, "
                             f"is kept with them); exported functions: {functions}")


def build(args) -> None:
    data = Path(args.src).read_bytes()
    roots = args.root or None
    check_roots(decode_module(data), roots)
    if args.toolchain == "builtin":
        try:
            result = eliminate(decode_module(data), roots, strip_custom=args.strip)
        except DceError as e:
            raise StageError(str(e)) from None
        Path(args.out).write_bytes(result.wasm)
        report = result.report
    else:
        with tempfile.TemporaryDirectory() as tmpdir:
            narrowed = Path(tmpdir) / "in.wasm"
            narrowed.write_bytes(_only_roots(data, roots))
            if args.toolchain == "wasm-opt":
                tool = external_tool("wasm-opt")
                flags = ["--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
                         "--enable-multivalue", "--enable-reference-types", "--enable-mutable-globals",
                         "--remove-unused-module-elements"] + (["-Oz"] if args.optimize else [])
                run_tool([tool.path, *flags, str(narrowed), "-o", args.out], f"wasm-opt ({tool.version})")
            else:
                tool = external_tool("loom")
                env = {k: v for k, v in os.environ.items() if not k.startswith("LOOM_")}
                run_tool([tool.path, "optimize", str(narrowed), "-o", args.out] + (["-Oz"] if args.optimize else []),
                         f"loom ({tool.version})", env=env)
        after = Path(args.out).read_bytes()
        report = {"bytes_before": len(data), "bytes_after": len(after), "tool": tool.version}
    run_tool([wasm_tools().path, "validate", args.out], "validating the DCE output")
    report["toolchain"] = args.toolchain
    Path(args.report).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    removed = report.get("functions_removed")
    print(f"dce: {report['bytes_before']} B -> {report['bytes_after']} B"
          + (f", {len(removed)} functions removed" if removed is not None else ""))


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmelt.toolchains.dce")
    parser.add_argument("--toolchain", choices=TOOLCHAINS, default="builtin")
    parser.add_argument("--out", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--root", action="append", default=[])
    parser.add_argument("--optimize", action="store_true")
    parser.add_argument("--strip", action="store_true")
    parser.add_argument("src")
    return run_stage(lambda: build(parser.parse_args(argv_)))


if __name__ == "__main__":
    sys.exit(main())
