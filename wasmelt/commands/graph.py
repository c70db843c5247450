"""`wasmelt graph`: the target graph as Graphviz dot, Mermaid or SVG."""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    g = sub.add_parser("graph", help="print the target graph (Graphviz dot, Mermaid or SVG)",
                       epilog="examples:\n  wasmelt graph //examples/app:firmware | dot -Tpng > graph.png\n"
                              "  wasmelt graph //examples/... --format=svg > graph.svg   (no Graphviz needed)\n"
                              "  wasmelt graph //examples/app:firmware --format=mermaid",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("patterns", nargs="+")
    g.add_argument("--format", choices=["dot", "mermaid", "svg"], default="dot")


def run(args) -> int:
    from wasmelt.engine.graph import PackageLoader, load_graph, resolve_patterns
    from wasmelt.engine.graph_svg import to_svg
    from wasmelt.engine.query import to_dot, to_mermaid

    loader = PackageLoader(args.ws)
    graph = load_graph(loader, resolve_patterns(loader, args.patterns, args.package))
    sys.stdout.write({"dot": to_dot, "mermaid": to_mermaid, "svg": to_svg}[args.format](graph))
    return 0
