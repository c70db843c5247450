"""`wasmelt compdb`: write compile_commands.json for the C components a pattern
names, with the compiler command each compile runs (includes, defines, flags)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EPILOG = """examples:
  wasmelt compdb                      every C component of the workspace -> ./compile_commands.json at its root
  wasmelt compdb //examples/... -o build/compile_commands.json

Each entry is the command the component stage runs for one source: the same
compiler (zig cc or clang), include directories (the libc's, `includes`, a
generated header's), defines and copts; only the object path differs (the
stage compiles into a private temporary directory). Paths are relative to the
workspace root, the entries' "directory". A generated source or header exists
once a build has made it.
"""


def add_parser(sub) -> None:
    c = sub.add_parser("compdb", help="write compile_commands.json for the C components (for clangd and editors)",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("patterns", nargs="*", default=["//..."], help="labels or patterns (default: //...)")
    c.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: compile_commands.json at the "
                   "workspace root)")


def entries(plan) -> list[dict]:
    """One compile_commands.json entry per C source of the plan's component actions."""
    from wasmelt.toolchains.component import compile_commands

    root = str(plan.ws.root)
    found = []
    for action in plan.analysis.all_actions:
        compiler = next((t for t in action.tools if t.name in ("zig", "clang")), None)
        if action.mnemonic != "Component" or compiler is None:
            continue
        stage_argv = list(action.argv[action.argv.index("wasmelt.toolchains.component") + 1:])
        for src, argv in compile_commands(stage_argv, compiler.path):
            found.append({"directory": root, "file": src, "arguments": argv, "output": argv[argv.index("-o") + 1]})
    return found


def run(args) -> int:
    from wasmelt import report
    from wasmelt.engine.errors import ConfigError

    found = entries(args.plan)
    if not found:
        raise ConfigError(f"no C component matches {' '.join(args.patterns)}: compile_commands.json lists the "
                          "sources of `component` targets with .c srcs")
    out = Path(args.output) if args.output else args.ws.root / "compile_commands.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(found, indent=2) + "\n")
    report.note(f"wrote {out} ({len(found)} source{'s' if len(found) != 1 else ''})")
    return 0
