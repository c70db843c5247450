"""`wasmelt query EXPR`: the targets a query expression denotes (engine.query), printed
as labels, labels with kinds, a dot graph, JSON or the BUILD.toml tables declaring them."""

from __future__ import annotations

import argparse
import json
import sys

EXAMPLES = """examples:
  wasmelt query //...                                  every target (but those tagged "manual")
  wasmelt query 'deps(//examples/app:firmware, 1)'     a target and its direct dependencies
  wasmelt query 'rdeps(//..., //examples/app:kernel)'  what depends on the kernel
  wasmelt query 'kind(synth, //...) - //examples/grow/...'
  wasmelt query 'attr(cpu, "cortex-m4", //...)'        targets whose cpu attribute matches
  wasmelt query 'let k = //examples/app:kernel in tests(rdeps(//..., $k)) + buildfiles($k)'
  wasmelt query 'somepath(//examples/app:firmware, //examples/app:kernel)' --output=graph | dot -Tpng > p.png

functions: deps(x[, depth]) rdeps(universe, x[, depth]) allpaths(a, b) somepath(a, b) kind(regex, x)
  attr(name, regex, x) filter(regex, x) labels(attr, x) tests(x) buildfiles(x) siblings(x)
operators: x + y (union), x - y (except), x ^ y (intersect): left to right, same precedence;
  let v = x in ...$v...; quote words holding other characters: 'kind("gen.*", //...)'"""


def add_parser(sub) -> None:
    q = sub.add_parser("query", help="the targets a query expression denotes (Bazel's query language)",
                       epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("expression", nargs="+", help="a query expression; several words are joined with spaces")
    q.add_argument("--output", choices=["label", "label_kind", "graph", "json", "build"], default="label")


def run(args) -> int:
    from wasmelt.engine.graph import PackageLoader, TargetGraph
    from wasmelt.engine.query import query

    loader = PackageLoader(args.ws)
    result = query(loader, " ".join(args.expression), args.package)
    targets = {label: loader.target(label) for label in result.labels if label not in result.files}
    if args.output == "graph":
        from wasmelt.engine.query import to_dot

        sys.stdout.write(to_dot(TargetGraph(targets, list(targets))))
    elif args.output == "json":
        rows = [_json_row(label, targets.get(label)) for label in result.labels]
        print(json.dumps(rows, indent=2))
    elif args.output == "build":
        from wasmelt.engine.build_toml import target_table

        sys.stdout.write("\n".join(target_table(t) for t in targets.values()))
    else:
        for label in result.labels:
            kind = (targets[label].kind if label in targets else "source file") + " "
            print(f"{kind if args.output == 'label_kind' else ''}{label}")
    return 0


def _json_row(label, target) -> dict:
    if target is None:
        return {"label": str(label), "kind": "source file"}
    return {"label": str(label), "kind": target.kind, "build_file": target.build_file,
            "deps": [str(d) for d in target.deps], "attrs": target.attrs.model_dump(mode="json", exclude_unset=True)}
