"""`wasmelt size`: build targets that provide a size table and show it: bytes per
section, function and component, budgets, and the delta to the previous build."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .build import run_build
from .flags import build_flags

EPILOG = """examples:
  wasmelt size //examples/app:firmware               table: sections, functions, components, stack
  wasmelt size //examples/app:firmware --format=json  the same rows as JSON (csv: one row per line)
  wasmelt size //examples/...                        every target that reports sizes
  wasmelt size //examples/app:firmware //examples/app:firmware_m0 --format=html -o size.html
                                                     flash treemap, RAM bar, budgets, side by side (svg: the same)

Each row shows bytes, the declared budget, how much of it is used and the
delta to the previous build whose sizes differed (kept in the cache's records).
"""


def add_parser(sub) -> None:
    s = sub.add_parser("size", help="build targets and show their size table: bytes per section, function and "
                       "component, budgets and the delta to the previous build",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    build_flags(s)
    s.add_argument("--format", choices=["table", "json", "csv", "svg", "html"], default="table",
                   help="output format (default: table; svg and html draw flash, RAM and budgets)")
    s.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def run(args) -> int:
    from wasmelt import report
    from wasmelt.engine import sizes
    from wasmelt.engine.analysis import SizeTableInfo
    from wasmelt.engine.errors import BuildFailed, ConfigError
    from wasmelt.engine.registry import rule_kinds

    p, ws = args.plan, args.ws
    kinds = sorted(k.name for k in rule_kinds().values() if SizeTableInfo in k.provides)
    accepted = f"`wasmelt size` takes targets of kind {', '.join(kinds) or '(none registered)'}"
    chosen = [l for l in p.labels if SizeTableInfo in p.analysis.infos[l]]
    explicit = not any(t.endswith(("...", ":all", ":*")) for t in args.patterns)
    others = [l for l in p.labels if l not in chosen]
    if explicit and others:
        raise ConfigError(f"`{others[0]}` is a {p.graph.targets[others[0]].kind} target; {accepted}")
    if not chosen:
        raise ConfigError(f"no target matching {' '.join(args.patterns)} reports sizes; {accepted}")
    result = run_build(args, p, [p.analysis.infos[l][SizeTableInfo].table for l in chosen], quiet=True)
    if not result.ok:
        report.summary(result, args.started)
        return 1
    results = []
    for label in chosen:
        history = sizes.load_history(ws, label)
        artifact = p.analysis.infos[label][SizeTableInfo].table
        try:
            data = (ws.root / artifact.path).read_bytes()
        except OSError as e:
            raise BuildFailed(f"{label}: the size table {artifact.path} was not written: {e.strerror}") from None
        table = sizes.parse_table(data, artifact.path)
        previous = history.get("previous") if history.get("current") == table else history.get("current")
        results.append((str(label), table, sizes.rows(table, previous), previous is not None))
    if args.format in ("svg", "html"):
        from wasmelt import size_map

        text = (size_map.render_svg if args.format == "svg" else size_map.render_html)(results)
    elif args.format == "json":
        text = sizes.render_json(results)
    elif args.format == "csv":
        text = sizes.render_csv(results)
    else:
        text = "\n".join([*(sizes.render_text(*r) for r in results), sizes.render_side_by_side(results)])
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"-o {args.output}: cannot write it ({e.strerror}); name a file in an existing, "
                          "writable directory") from None
    report.note(f"wrote {args.output}")
    return 0
