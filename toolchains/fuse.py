"""The `fuse` stage driver: several components to one core module, with the
builtin fuser, `meld fuse`, or binaryen's wasm-merge + multi-memory lowering.

argv(components, out, import_map, provenance, report, *, toolchain, memory,
     address_rebase, pack, share_stack, exports, links, handles) -> the command line,
where components are (name, label, path) in order, root first;
identities(toolchain) -> the tools it runs. Every output is validated.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .builtin.fuse import FuseError, FuseOptions, fuse
from .builtin.wasm.component import core_modules, is_component
from .builtin.wasm.decode import decode_module
from .builtin.wasm.model import FUNC
from .identity import ToolIdentity, builtin_tool, external_tool, wasm_tools
from .near_miss import near_misses
from .stage import StageError, run_stage, run_tool

TOOLCHAINS = ("builtin", "meld", "binaryen")


def identities(toolchain: str = "builtin") -> list[ToolIdentity]:
    tools = [builtin_tool(), wasm_tools()]
    if toolchain == "meld":
        tools.append(external_tool("meld", hint="meld (pulseengine) is not installed; use toolchain = \"builtin\""))
    elif toolchain == "binaryen":
        tools.append(external_tool("wasm-merge", hint="wasm-merge comes with binaryen 114 or newer (Debian's "
                                   "package has none; npm's `binaryen` does); use toolchain = \"builtin\""))
        tools.append(external_tool("wasm-opt", hint="apt-get install binaryen"))
    return tools


def argv(components: list[tuple[str, str, str]], out: str, import_map: str, provenance: str, report: str, *,
         toolchain: str = "builtin", memory: str = "shared", address_rebase: bool = True, pack: bool = False,
         share_stack: bool = False, exports: list[str] | None = None, links: dict[str, str] | None = None,
         handles: int = 16, strict_imports: bool = False) -> list[str]:
    args = ["python", "-m", "wasmelt.toolchains.fuse", "--toolchain", toolchain, "--out", out,
            "--import-map", import_map, "--provenance", provenance, "--report", report, "--memory", memory]
    args += ["--address-rebase"] if address_rebase else []
    args += ["--pack"] if pack else []
    args += ["--share-stack"] if share_stack else []
    args += ["--strict-imports"] if strict_imports else []
    args += ["--handles", str(handles)] if handles != 16 else []
    for name in exports or []:
        args += ["--export", name]
    for src, dst in sorted((links or {}).items()):
        args += ["--link", f"{src}={dst}"]
    return args + ["--"] + [f"{name}={label}={path}" for name, label, path in components]


def _validate(path: Path, what: str) -> None:
    run_tool([wasm_tools().path, "validate", str(path)], f"validating the {what}")


def run_meld(args, inputs, tmp: Path) -> tuple[bytes, dict]:
    meld = external_tool("meld")
    paths = []
    for name, label, path in inputs:
        data = Path(path).read_bytes()
        if not is_component(data):  # meld takes components only
            wrapped = tmp / f"{name}.component.wasm"
            run_tool([wasm_tools().path, "component", "new", path, "-o", str(wrapped)], f"wrapping {label} as a component")
            path = str(wrapped)
        paths.append(path)
    import_map = tmp / "import-map.json"
    cmd = [meld.path, "fuse", *paths, "-o", args.out, "--memory", args.memory, "--reproducible",
           "--emit-import-map", str(import_map)]
    cmd += ["--address-rebase"] if args.address_rebase else []
    cmd += ["--pack-rebase"] if args.pack else []
    cmd += ["--share-stack"] if args.share_stack else []
    env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "0")}
    run_tool(cmd, f"meld fuse ({meld.version})", env=env)
    try:
        _validate(Path(args.out), f"output of meld ({meld.version})")
    except StageError as e:
        raise StageError(f"meld ({meld.version}) exited 0 but wrote an invalid module: {e}") from None
    imports = json.loads(import_map.read_text()) if import_map.exists() else {}
    return Path(args.out).read_bytes(), {"tool": meld.version, "import_map": imports}


def run_binaryen(args, inputs, tmp: Path) -> bytes:
    merge, opt = external_tool("wasm-merge"), external_tool("wasm-opt")
    merged = tmp / "merged.wasm"
    # Only the root keeps its `memory` export: the lowering may export the first memory only.
    cmd = [merge.path, "--enable-multimemory", "--enable-bulk-memory", "--skip-export-conflicts"]
    for name, _, path in inputs:
        cmd += [path, name]
    run_tool(cmd + ["-o", str(merged)], "wasm-merge")
    run_tool([opt.path, "--enable-multimemory", "--enable-bulk-memory", "--multi-memory-lowering", str(merged),
              "-o", args.out], "wasm-opt --multi-memory-lowering")
    _validate(Path(args.out), "output of binaryen")
    return Path(args.out).read_bytes()


def build(args) -> None:
    inputs = []
    for spec in args.components:
        name, label, path = spec.split("=", 2)
        inputs.append((name, label, path))
    links = dict(item.split("=", 1) for item in args.link)
    if args.toolchain == "builtin":
        options = FuseOptions(args.memory, args.address_rebase, args.pack, args.share_stack,
                              tuple(args.export) if args.export else None, links, args.handles)
        try:
            result = fuse([(n, l, Path(p).read_bytes()) for n, l, p in inputs], options)
        except FuseError as e:
            raise StageError(str(e)) from None
        Path(args.out).write_bytes(result.wasm)
        _validate(Path(args.out), "fused module")
        Path(args.import_map).write_text(json.dumps(result.import_map, indent=2, sort_keys=True) + "\n")
        Path(args.provenance).write_text(json.dumps(result.provenance, indent=2, sort_keys=True) + "\n")
        report = result.report
    else:
        with tempfile.TemporaryDirectory() as tmpdir:
            if args.toolchain == "meld":
                wasm, extra = run_meld(args, inputs, Path(tmpdir))
                Path(args.import_map).write_text(json.dumps(extra["import_map"], indent=2, sort_keys=True) + "\n")
            else:
                wasm = run_binaryen(args, inputs, Path(tmpdir))
                Path(args.import_map).write_text("{}\n")
        Path(args.provenance).write_text("{}\n")
        report = {"toolchain": args.toolchain, "bytes": len(wasm), "components": [n for n, _, _ in inputs]}
    report["toolchain"] = args.toolchain
    warn_near_misses(Path(args.out).read_bytes(), inputs, args.strict_imports)
    Path(args.report).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    layout = ", ".join(f"{l['component']}@{l['base']}+{l['size']}" for l in report.get("layout", []))
    print(f"fused {len(inputs)} components: {report['bytes']} B" + (f"; memory layout {layout}" if layout else "")
          + f"; adapter code {report.get('adapter_bytes', 0)} B")


def warn_near_misses(fused: bytes, inputs: list[tuple[str, str, str]], strict: bool = False) -> None:
    """A host import (one no component provides) spelled one edit from a
    component's export is most likely a typo: say which, without -v (with
    `strict`, fail the fuse instead)."""
    exports: dict[str, str] = {}
    for name, label, path in inputs:
        for raw in core_modules(Path(path).read_bytes()):
            for e in decode_module(raw).exports:
                if e.kind == FUNC:
                    exports.setdefault(e.name, label)
    imports = {i.name: f"{i.module}.{i.name}" for i in decode_module(fused).imported(FUNC)}
    misses = [f"host import `{imports[name]}` is provided by no component, but {exports[close]} exports "
              f"`{close}`: did you mean `{close}`?" for name, close in near_misses(imports, exports)]
    if misses and strict:
        raise StageError("; ".join(misses) + " (strict_imports = true makes this an error: fix the name, or set "
                         "strict_imports = false if the firmware really provides it)")
    for miss in misses:
        print(f"warning: {miss}", file=sys.stderr)


def main(argv_: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wasmelt.toolchains.fuse")
    parser.add_argument("--toolchain", choices=TOOLCHAINS, default="builtin")
    for flag in ("--out", "--import-map", "--provenance", "--report"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--memory", choices=["shared", "multi"], default="shared")
    parser.add_argument("--address-rebase", action="store_true")
    parser.add_argument("--pack", action="store_true")
    parser.add_argument("--strict-imports", action="store_true")
    parser.add_argument("--share-stack", action="store_true")
    parser.add_argument("--export", action="append", default=[])
    parser.add_argument("--link", action="append", default=[])
    parser.add_argument("--handles", type=int, default=16, help="slots in each resource type's handle table")
    parser.add_argument("components", nargs="+", help="name=label=path, root first")
    return run_stage(lambda: build(parser.parse_args(argv_)))


if __name__ == "__main__":
    sys.exit(main())
