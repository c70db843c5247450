"""`wasmelt aquery EXPR`: the actions of the targets a query expression denotes:
mnemonic, argv, env, inputs, outputs and action key (engine.aquery)."""

from __future__ import annotations

import argparse
import json
import sys


def add_parser(sub) -> None:
    a = sub.add_parser("aquery", help="the actions of the targets a query expression denotes",
                       epilog="examples:\n  wasmelt aquery //examples/app:firmware\n"
                              "  wasmelt aquery 'kind(synth, deps(//examples/app:firmware))' --output=json\n"
                              "the expression is a `wasmelt query` expression (see wasmelt query --help); an action's "
                              "key is\nthe one a build would give it now, known once the inputs it reads were built",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("expression", nargs="+", help="a query expression; several words are joined with spaces")
    a.add_argument("--output", choices=["text", "json"], default="text")


def run(args) -> int:
    from wasmelt.engine.aquery import action_views, to_json, to_text
    from wasmelt.engine.graph import PackageLoader
    from wasmelt.engine.query import query

    loader = PackageLoader(args.ws)
    result = query(loader, " ".join(args.expression), args.package)
    views = action_views(args.ws, loader, [x for x in result.labels if x not in result.files])
    if args.output == "json":
        print(json.dumps([to_json(v) for v in views], indent=2))
    else:
        sys.stdout.write("\n".join(to_text(v) for v in views))
    return 0
