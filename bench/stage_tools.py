"""What the per-stage benchmarks measure with: the peer tools (binaryen from
Debian or npm, wabt's wasm2c, the ARM compilers), median timings, the facts
of a wasm module, `size` on an object, and the printed tables.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from wasmelt.toolchains import identity

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "stages"
NPM_PREFIX = REPO / "bench" / ".npm"
NPM_BINARYEN = "binaryen@132.0.0"  # the newest on npm when written; ships wasm-merge, which Debian's package lacks


@dataclass(frozen=True)
class Tool:
    name: str
    path: str | None
    version: str
    note: str = ""

    @property
    def available(self) -> bool:
        return self.path is not None


def _version(path: str, flag: str = "--version") -> str:
    try:
        out = subprocess.run([path, flag], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({e.__class__.__name__})"
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def wasm_tools() -> str:
    return identity.wasm_tools().path


def npm_binaryen(install: bool = True) -> Path | None:
    """binaryen's npm build (JS + wasm, run by node) under bench/.npm: the only
    wasm-merge we can get. Installed on first use when npm is there."""
    bin_dir = NPM_PREFIX / "node_modules" / ".bin"
    if (bin_dir / "wasm-merge").exists():
        return bin_dir
    if not install or not shutil.which("npm") or not shutil.which("node"):
        return None
    proc = subprocess.run(["npm", "install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund", "--silent",
                           NPM_BINARYEN], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        print(f"npm install {NPM_BINARYEN} failed: {proc.stderr.strip()[:300]}", file=sys.stderr)
        return None
    return bin_dir if (bin_dir / "wasm-merge").exists() else None


def binaryen_tools(install_npm: bool = True) -> dict[str, Tool]:
    """wasm-opt from the system (Debian: binaryen 108, native) and wasm-merge +
    wasm-opt from npm. Keys: wasm-opt, wasm-merge (system), npm-wasm-opt, npm-wasm-merge."""
    tools = {}
    for name in ("wasm-opt", "wasm-merge"):
        path = shutil.which(name)
        if path:
            tools[name] = Tool(name, path, _version(path), "system package, native")
        else:
            note = ("not in Debian's binaryen package (it ships no wasm-merge)" if name == "wasm-merge"
                    else "not installed (apt-get install binaryen)")
            tools[name] = Tool(name, None, "unavailable", note)
    npm_bin = npm_binaryen(install_npm)
    for name in ("wasm-opt", "wasm-merge"):
        key = f"npm-{name}"
        if npm_bin:
            path = str(npm_bin / name)
            tools[key] = Tool(name, path, _version(path), f"npm {NPM_BINARYEN}, JS/wasm run by node {_version('node')}")
        else:
            why = "npm or node missing, or the install failed" if install_npm else "not installing it (--no-npm)"
            tools[key] = Tool(name, None, "unavailable", f"npm {NPM_BINARYEN} not in bench/.npm: {why}")
    return tools


def arm_size() -> str | None:
    return shutil.which("arm-none-eabi-size") or shutil.which("llvm-size") or shutil.which("size")


def compilers() -> dict[str, Tool]:
    """The cross compilers synth can use for both toolchains."""
    from wasmelt.toolchains.component import zig

    found = {}
    try:
        z = zig()
        found["zig"] = Tool("zig cc", z.path, z.version)
    except Exception as e:  # noqa: BLE001 — reported, not fatal
        found["zig"] = Tool("zig cc", None, "unavailable", str(e))
    gcc = shutil.which("arm-none-eabi-gcc")
    found["gcc"] = (Tool("arm-none-eabi-gcc", gcc, _version(gcc)) if gcc else
                    Tool("arm-none-eabi-gcc", None, "unavailable", "apt-get install gcc-arm-none-eabi"))
    return found


def riscv_gcc() -> Tool:
    """The RISC-V cross compiler synth's cc = "gcc" uses for RV32 cpus."""
    gcc = shutil.which("riscv64-unknown-elf-gcc")
    return (Tool("riscv64-unknown-elf-gcc", gcc, _version(gcc)) if gcc else
            Tool("riscv64-unknown-elf-gcc", None, "unavailable", "apt-get install gcc-riscv64-unknown-elf"))


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "nproc": os.cpu_count(),
            "cpu": cpu, "python": platform.python_version(), "platform": platform.platform()}


# -- timing ---------------------------------------------------------------------------


def median_seconds(fn, runs: int) -> float:
    samples = []
    for _ in range(max(1, runs)):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def run(cmd: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{(proc.stderr or proc.stdout).strip()[:2000]} (exit {proc.returncode} from "
                           f"`{' '.join(map(str, cmd))}`)")
    return proc


def time_commands(cmds: list[list[str]], runs: int, cwd: Path | None = None) -> float:
    """Median wall time of running the commands one after the other."""
    return median_seconds(lambda: [run(c, cwd) for c in cmds], runs)


# -- wasm facts ---------------------------------------------------------------------


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, pos


SECTION_NAMES = {0: "custom", 1: "type", 2: "import", 3: "function", 4: "table", 5: "memory", 6: "global",
                 7: "export", 8: "start", 9: "element", 10: "code", 11: "data", 12: "datacount", 13: "tag"}


def sections(data: bytes) -> list[tuple[str, int]]:
    """(name, payload bytes) of each section; custom sections as custom:<name>."""
    pos, out = 8, []
    while pos < len(data):
        sid = data[pos]
        size, body = _leb(data, pos + 1)
        name = SECTION_NAMES.get(sid, str(sid))
        if sid == 0:
            n, p = _leb(data, body)
            name = "custom:" + data[p:p + n].decode("utf-8", "replace")
        out.append((name, size))
        pos = body + size
    return out


def strip_custom(data: bytes) -> bytes:
    """The module without custom sections (names, relocations, features)."""
    pos, out = 8, bytearray(data[:8])
    while pos < len(data):
        size, body = _leb(data, pos + 1)
        if data[pos] != 0:
            out += data[pos:body + size]
        pos = body + size
    return bytes(out)


def validate(path: Path) -> str | None:
    """None when the module validates, else wasm-tools' message."""
    proc = subprocess.run([wasm_tools(), "validate", str(path)], capture_output=True, text=True)
    return None if proc.returncode == 0 else proc.stderr.strip()


def instantiate(path: Path) -> str | None:
    """None when wasmtime instantiates the module with stub imports (data
    segments in bounds, start function runs), else the error."""
    try:
        import wasmtime
    except ImportError:
        return "wasmtime not installed"
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    try:
        module = wasmtime.Module.from_file(engine, str(path))
        stubs = []
        for imp in module.imports:
            ftype = imp.type
            results = len(ftype.results) if isinstance(ftype, wasmtime.FuncType) else 0
            stubs.append(wasmtime.Func(store, ftype, lambda *a, _n=results: 0 if _n == 1 else None))
        wasmtime.Instance(store, module, stubs)
    except Exception as e:  # noqa: BLE001 — the message is the result
        return str(e).splitlines()[0][:200]
    return None


def wasm_facts(path: Path) -> dict:
    data = path.read_bytes()
    secs = sections(data)
    text = subprocess.run([wasm_tools(), "print", str(path)], capture_output=True, text=True).stdout
    memories = [(int(m.group(1)), m.group(2)) for m in
                re.finditer(r"^\s*\(memory \(;\d+;\) (\d+)(?: (\d+))?", text, re.M)]
    return {
        "bytes": len(data),
        "bytes_no_custom": len(strip_custom(data)),
        "code_bytes": sum(size for name, size in secs if name == "code"),
        "data_bytes": sum(size for name, size in secs if name == "data"),
        "custom_bytes": {name[7:]: size for name, size in secs if name.startswith("custom:")},
        "functions": len(re.findall(r"^\s*\(func ", text, re.M)),
        "exports": len(re.findall(r"^\s*\(export ", text, re.M)),
        "memories": [{"min_pages": lo, "max_pages": int(hi) if hi else None} for lo, hi in memories],
        "valid": validate(path),
        "instantiate_error": instantiate(path),
    }


# -- ELF sizes with `size` ----------------------------------------------------------


def elf_sizes(obj: Path) -> dict:
    """.text/.rodata/.data/.bss of a relocatable object from `size -A` (per
    section, summed by prefix), and the Berkeley `size` line for reference."""
    tool = arm_size()
    if tool is None:
        raise RuntimeError("no `size` found: apt-get install binutils-arm-none-eabi")
    sysv = run([tool, "-A", str(obj)]).stdout
    totals = {"text": 0, "rodata": 0, "data": 0, "bss": 0}
    for line in sysv.splitlines():
        parts = line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        name, size = parts[0], int(parts[1])
        for kind in totals:
            if name == f".{kind}" or name.startswith(f".{kind}."):
                totals[kind] += size
    berkeley = run([tool, "-B", str(obj)]).stdout.splitlines()[-1].split()
    totals["berkeley"] = {"text": int(berkeley[0]), "data": int(berkeley[1]), "bss": int(berkeley[2])}
    totals["size_tool"] = f"{Path(tool).name}: {_version(tool)}"
    return totals


# -- output ---------------------------------------------------------------------------


def table(headers: list[str], rows: list[list]) -> str:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    def fmt(r):
        return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([fmt(cells[0]), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells[1:]])


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f}"


def ratio(a: float | None, b: float | None) -> str:
    return "n/a" if not a or not b else f"{a / b:.2f}"


def write_json(name: str, result: dict, path: Path | None = None) -> Path:
    path = path or RESULTS / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
    return path


def stage_main(stage: str, description: str, argv: list[str] | None, run, render, *,
               quick_help: str = "the example only, one run", npm: bool = True) -> dict:
    """The command line every stage bench shares: parse it, build the inputs in
    a scratch directory, `run(inputs, runs, work, args)`, print and save."""
    import argparse
    import tempfile

    import stage_inputs

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help=quick_help)
    if npm:
        ap.add_argument("--no-npm", action="store_true", help="do not install binaryen from npm")
    ap.add_argument("--json", type=Path, default=RESULTS / f"{stage}.json")
    args = ap.parse_args(argv)
    runs = 1 if args.quick else args.runs
    with tempfile.TemporaryDirectory(prefix=f"wasmelt-{stage}-bench-") as tmp:
        inputs = stage_inputs.all_inputs(Path(tmp), quick=args.quick)
        result = run(inputs, runs, Path(tmp), args)
    print(render(result))
    print(f"\nwrote {write_json(stage, result, args.json)}")
    return result
