"""`wasmelt query`: list targets: patterns, deps(x), rdeps(universe, x), somepath(a, b)."""

from __future__ import annotations


def add_parser(sub) -> None:
    q = sub.add_parser("query", help="list targets: patterns, deps(x), rdeps(universe, x), somepath(a, b)",
                       epilog="example: wasmelt query 'rdeps(//..., //examples/app:kernel)'")
    q.add_argument("expression")
    q.add_argument("--output", choices=["label", "label_kind"], default="label")


def run(args) -> int:
    from wasmelt.engine.graph import PackageLoader
    from wasmelt.engine.query import evaluate

    loader = PackageLoader(args.ws)
    for label in evaluate(loader, args.expression, args.package):
        kind = loader.target(label).kind + " " if args.output == "label_kind" else ""
        print(f"{kind}{label}")
    return 0
