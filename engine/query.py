"""`wasmelt query`: target patterns and the graph functions deps(x),
rdeps(universe, x) and somepath(a, b), evaluated over the target graph."""

from __future__ import annotations

import re

from .errors import ConfigError
from .graph import PackageLoader, TargetGraph, load_graph, resolve_patterns
from .labels import Label

_CALL = re.compile(r"^\s*(deps|rdeps|somepath|allpaths)\s*\((.*)\)\s*$", re.S)


def _split_args(text: str) -> list[str]:
    args, depth, current = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            args.append(current.strip())
            current = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        current += ch
    args.append(current.strip())
    return [a for a in args if a]


def _digraph(graph: TargetGraph):
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(graph.targets)
    for label, target in graph.targets.items():
        g.add_edges_from((label, d) for d in target.deps)
    return g


def evaluate(loader: PackageLoader, expression: str, current_package: str = "") -> list[Label]:
    """The labels an expression denotes, in a stable order."""
    match = _CALL.match(expression)
    if not match:
        return sorted(resolve_patterns(loader, expression.split(), current_package))
    fn, args = match.group(1), _split_args(match.group(2))
    sets = [evaluate(loader, a, current_package) for a in args]
    if fn == "deps":
        if len(sets) != 1:
            raise ConfigError("deps() takes one argument: deps(//pkg:target)")
        return sorted(load_graph(loader, sets[0]).targets)
    if len(sets) != 2:
        raise ConfigError(f"{fn}() takes two arguments")
    graph = load_graph(loader, sets[0] + sets[1])
    g = _digraph(graph)
    import networkx as nx

    if fn == "rdeps":
        universe = set(load_graph(loader, sets[0]).targets)
        found = set()
        for x in sets[1]:
            found |= ({x} | nx.ancestors(g, x)) & universe
        return sorted(found)
    # somepath / allpaths: from a to b along dependency edges
    for a in sets[0]:
        for b in sets[1]:
            if nx.has_path(g, a, b):
                if fn == "somepath":
                    return nx.shortest_path(g, a, b)
                return sorted({n for p in nx.all_simple_paths(g, a, b) for n in p} | {a})
    return []


def to_dot(graph: TargetGraph) -> str:
    lines = ["digraph wasmelt {", "  rankdir=LR;", "  node [shape=box, fontname=monospace];"]
    for label in sorted(graph.targets):
        t = graph.targets[label]
        lines.append(f'  "{label}" [label="{label}\\n({t.kind})"];')
        lines.extend(f'  "{label}" -> "{d}";' for d in t.deps)
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: TargetGraph) -> str:
    ids = {label: f"t{i}" for i, label in enumerate(sorted(graph.targets))}
    lines = ["graph LR"]
    lines += [f'  {ids[l]}["{l}"]' for l in sorted(graph.targets)]
    for label in sorted(graph.targets):
        lines.extend(f"  {ids[label]} --> {ids[d]}" for d in graph.targets[label].deps)
    return "\n".join(lines) + "\n"
