"""`wasmelt info [KEY...]`: where this workspace keeps things and which tools a
build would run, one `key: value` per line (like `bazel info`)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

from wasmelt.engine.errors import ConfigError, did_you_mean

# Tools the stages can drive besides the default ones: (name, what for).
PEERS = (
    ("arm-none-eabi-gcc", "synth cc = \"gcc\""),
    ("clang", "cc = \"clang\""),
    ("wasm-opt", "dce toolchain = \"wasm-opt\""),
    ("wasm-merge", "fuse toolchain = \"binaryen\""),
    ("wasm2c", "synth toolchain = \"wasm2c\""),
    ("meld", "fuse toolchain = \"meld\""),
    ("loom", "dce toolchain = \"loom\""),
    ("synth", "synth toolchain = \"synth\""),
)


def add_parser(sub) -> None:
    p = sub.add_parser("info", help="print the workspace root, cache and output directories, the server's state "
                                    "and each tool's identity",
                       epilog="examples:\n  wasmelt info\n  wasmelt info cache_dir   just the value",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("keys", nargs="*", metavar="KEY", help="print only these values")


def _size(directory: Path) -> tuple[int, int]:
    total = files = 0
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                files += 1
            except OSError:
                pass
    return total, files


def _human(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return ""


def _tool(find, missing: str | None = None) -> str:
    from wasmelt.toolchains.identity import ToolNotFound

    try:
        tool = find()
    except ToolNotFound as e:
        return missing or f"not found: {e}"
    return f"{tool.version} ({tool.path}, sha256 {tool.digest[:12]})"


def _workspace_lines() -> dict[str, Callable[[], str]]:
    from wasmelt.engine.serverctl import status
    from wasmelt.engine.workspace import find_workspace

    ws = find_workspace(Path.cwd())

    def cache_size() -> str:
        from wasmelt.engine.settings import DEFAULT_CACHE_MAX_SIZE

        total, files = _size(ws.cache_dir)
        limit = ws.settings.get("cache_max_size", DEFAULT_CACHE_MAX_SIZE)
        return (f"{_human(total)} in {files} files" if files else "empty") + f" (cache_max_size {limit})"

    def server() -> str:
        info = status(ws)
        if info is None:
            return "not running (`wasmelt server start`, or `server = true` in [workspace])"
        return f"running (pid {info['pid']}, up {info['uptime_s']:.0f}s, {info['commands']} commands)"

    return {"workspace": lambda: str(ws.root), "output_path": lambda: str(ws.output_dir),
            "cache_dir": lambda: str(ws.cache_dir), "cache_size": cache_size, "server": server}


WORKSPACE_KEYS = ("output_path", "cache_dir", "cache_size", "server")


def _no_workspace(error: ConfigError) -> str:
    raise error


def _lines() -> dict[str, Callable[[], str]]:
    from wasmelt.commands.version import wasmelt_version
    from wasmelt.toolchains import component
    from wasmelt.toolchains.identity import builtin_tool, external_tool, wasm_tools

    from wasmelt.rc import RC_NAME, rc_files

    lines = {"release": lambda: f"wasmelt {wasmelt_version()}",
             "python": lambda: f"{sys.version.split()[0]} ({sys.executable})",
             "rc_files": lambda: ", ".join(rc_files(os.getcwd())) or f"none (no {RC_NAME} at the workspace root or in $HOME)"}
    try:
        lines.update(_workspace_lines())
    except ConfigError as e:
        lines["workspace"] = lambda e=e: f"none ({e})"
        lines.update({key: lambda e=e: _no_workspace(e) for key in WORKSPACE_KEYS})
    lines.update({
        "builtin": lambda: f"wasmelt's own stages on {builtin_tool().version}, sha256 {builtin_tool().digest[:12]}",
        "zig": lambda: _tool(component.zig),
        "wasm-tools": lambda: _tool(wasm_tools),
        "rustc": lambda: _tool(component.rustc),
    })
    for name, used_for in PEERS:
        lines[name] = lambda name=name, used_for=used_for: _tool(lambda: external_tool(name),
                                                                 f"not installed (needed for {used_for})")
    return lines


def run(args) -> int:
    lines = _lines()
    for key in args.keys:
        if key not in lines:
            raise ConfigError(f"wasmelt info: unknown key `{key}`{did_you_mean(key, lines)}; keys: {', '.join(lines)}")
    if args.keys:
        for key in args.keys:
            print(lines[key]())
        return 0
    for key, value in lines.items():
        try:
            print(f"{key}: {value()}")
        except ConfigError:  # outside a workspace: the `workspace` line says why
            pass
    return 0
