"""`wasmelt query`: evaluates the query language's tree (engine.query_lang) over
the target graph: target patterns, graph functions, filters and set operators."""

from __future__ import annotations

import re
from collections import deque

from .errors import ConfigError, did_you_mean
from .graph import PackageLoader, TargetGraph, resolve_patterns
from .labels import Label
from .loader import Target
from .query_lang import Call, Let, SetOp, Var, Word, fail, parse
from .registry import AttrKind, attr_kinds, rule_kinds

BUILD_FILE_NAME = "BUILD.toml"


class _Evaluator:
    def __init__(self, loader: PackageLoader, expression: str, current_package: str):
        self.loader, self.expression, self.current_package = loader, expression, current_package
        self.files: set[Label] = set()  # labels that name BUILD.toml files, not targets (buildfiles())

    def target(self, label: Label) -> Target | None:
        return None if label in self.files else self.loader.target(label)

    def deps_of(self, label: Label) -> tuple[Label, ...]:
        target = self.target(label)
        if target is None:
            return ()
        for dep in target.deps:
            self.loader.target(dep, target)  # an unknown dependency is named as such
        return target.deps

    def closure(self, roots, depth: int | None = None) -> list[Label]:
        """The roots and what they depend on, `depth` edges deep at most."""
        seen = dict.fromkeys(roots)
        frontier = deque((r, 0) for r in roots)
        while frontier:
            label, d = frontier.popleft()
            if depth is not None and d >= depth:
                continue
            for dep in self.deps_of(label):
                if dep not in seen:
                    seen[dep] = None
                    frontier.append((dep, d + 1))
        return list(seen)

    def eval(self, node, env: dict[str, list[Label]]) -> list[Label]:
        if isinstance(node, Word):
            try:
                return sorted(resolve_patterns(self.loader, [node.text], self.current_package))
            except ConfigError as e:
                raise fail(self.expression, node.pos, str(e)) from None
        if isinstance(node, Var):
            if node.name not in env:
                raise fail(self.expression, node.pos, f"undefined variable `${node.name}`"
                           f"{did_you_mean(node.name, env)}; define it with `let {node.name} = ... in ...`")
            return env[node.name]
        if isinstance(node, Let):
            return self.eval(node.body, {**env, node.name: self.eval(node.value, env)})
        if isinstance(node, SetOp):
            left, right = self.eval(node.left, env), set(self.eval(node.right, env))
            if node.op == "union":
                return sorted(set(left) | right)
            return sorted(x for x in left if (x in right) == (node.op == "intersect"))
        return getattr(self, "fn_" + node.name)(node, env)

    def arg(self, node: Call, i: int, env) -> list[Label]:
        return self.eval(node.args[i], env)

    def depth(self, node: Call, i: int) -> int | None:
        return int(node.args[i].text) if len(node.args) > i else None

    def regex(self, node: Call, i: int) -> re.Pattern:
        word = node.args[i]
        try:
            return re.compile(word.text)
        except re.error as e:
            raise fail(self.expression, word.pos, f"{node.name}(): `{word.text}` is not a regular expression: {e}") from None

    def fn_deps(self, node, env):
        return sorted(self.closure(self.arg(node, 0, env), self.depth(node, 1)))

    def rclosure(self, universe: list[Label], start, depth: int | None = None) -> list[Label]:
        """The start targets within the universe and what depends on them there, `depth` edges up at most."""
        inside = set(universe)
        reverse: dict[Label, list[Label]] = {}
        for label in universe:
            for dep in self.deps_of(label):
                reverse.setdefault(dep, []).append(label)
        seen = dict.fromkeys(x for x in start if x in inside)
        frontier = deque((x, 0) for x in seen)
        while frontier:
            label, d = frontier.popleft()
            if depth is not None and d >= depth:
                continue
            for parent in reverse.get(label, ()):
                if parent not in seen:
                    seen[parent] = None
                    frontier.append((parent, d + 1))
        return list(seen)

    def fn_rdeps(self, node, env):
        universe = self.closure(self.arg(node, 0, env))
        return sorted(self.rclosure(universe, self.arg(node, 1, env), self.depth(node, 2)))

    def fn_allpaths(self, node, env):
        # on a path from a to b: among what a depends on, what depends on b
        return sorted(self.rclosure(self.closure(self.arg(node, 0, env)), self.arg(node, 1, env)))

    def fn_somepath(self, node, env):
        ends = set(self.arg(node, 1, env))
        for start in self.arg(node, 0, env):
            parent: dict[Label, Label | None] = {start: None}
            frontier = deque([start])
            while frontier:
                label = frontier.popleft()
                if label in ends:
                    path = [label]
                    while parent[path[-1]] is not None:
                        path.append(parent[path[-1]])
                    return path[::-1]
                for dep in self.deps_of(label):
                    if dep not in parent:
                        parent[dep] = label
                        frontier.append(dep)
        return []

    def fn_kind(self, node, env):
        pattern = self.regex(node, 0)
        return [x for x in self.arg(node, 1, env) if pattern.search(self.kind_of(x))]

    def fn_filter(self, node, env):
        pattern = self.regex(node, 0)
        return [x for x in self.arg(node, 1, env) if pattern.search(str(x))]

    def fn_attr(self, node, env):
        name = self.attribute(node)
        pattern = self.regex(node, 1)
        found = []
        for label in self.arg(node, 2, env):
            target = self.target(label)
            if target is not None and name in type(target.attrs).model_fields:
                if pattern.search(attr_text(getattr(target.attrs, name))):
                    found.append(label)
        return found

    def fn_labels(self, node, env):
        name = self.attribute(node)
        found = set()
        for label in self.arg(node, 1, env):
            target = self.target(label)
            if target is None or attr_kinds(type(target.attrs)).get(name) not in (AttrKind.LABEL, AttrKind.SOURCE_OR_LABEL):
                continue  # no such attribute on this kind, or one naming files only (files are not targets)
            value = getattr(target.attrs, name)
            words = [value] if isinstance(value, str) else list(value or ())
            deps = set(target.deps)
            found |= {d for d in deps if any(_names(w, d, target) for w in words)}
        return sorted(found)

    def fn_tests(self, node, env):
        kinds = rule_kinds()
        return [x for x in self.arg(node, 0, env) if x not in self.files and kinds[self.kind_of(x)].is_test]

    def fn_buildfiles(self, node, env):
        files = set()
        for label in self.arg(node, 0, env):
            files.add(label if label in self.files else Label(label.package, BUILD_FILE_NAME))
        self.files |= files
        return sorted(files)

    def fn_siblings(self, node, env):
        packages = sorted({x.package for x in self.arg(node, 0, env)})
        return sorted(t.label for p in packages for t in self.loader.package(p).targets.values())

    def attribute(self, node: Call) -> str:
        word = node.args[0]
        known = {n for k in rule_kinds().values() for n in k.schema.model_fields}
        if word.text not in known:
            raise fail(self.expression, word.pos, f"{node.name}(): no rule kind has an attribute `{word.text}`"
                       f"{did_you_mean(word.text, known)}")
        return word.text

    def kind_of(self, label: Label) -> str:
        return "source file" if label in self.files else self.loader.target(label).kind


def _names(word: str, dep: Label, target: Target) -> bool:
    from .labels import parse_label

    try:
        return parse_label(word, target.label.package) == dep
    except ConfigError:
        return False


def attr_text(value) -> str:
    """An attribute's value as text, as attr() matches it: lists as [a, b]."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(attr_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {attr_text(v)}" for k, v in value.items()) + "}"
    return "" if value is None else str(value)


class QueryResult:
    """The labels an expression denotes (sorted; somepath's in path order), and which of them are files."""

    def __init__(self, labels: list[Label], files: set[Label]):
        self.labels, self.files = labels, files


def query(loader: PackageLoader, expression: str, current_package: str = "") -> QueryResult:
    evaluator = _Evaluator(loader, expression, current_package)
    labels = evaluator.eval(parse(expression), {})
    return QueryResult(labels, evaluator.files & set(labels))


def evaluate(loader: PackageLoader, expression: str, current_package: str = "") -> list[Label]:
    """The labels an expression denotes, in a stable order."""
    return query(loader, expression, current_package).labels


def to_dot(graph: TargetGraph) -> str:
    lines = ["digraph wasmelt {", "  rankdir=LR;", "  node [shape=box, fontname=monospace];"]
    for label in sorted(graph.targets):
        t = graph.targets[label]
        lines.append(f'  "{label}" [label="{label}\\n({t.kind})"];')
        lines.extend(f'  "{label}" -> "{d}";' for d in t.deps if d in graph.targets)
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_mermaid(graph: TargetGraph) -> str:
    ids = {label: f"t{i}" for i, label in enumerate(sorted(graph.targets))}
    lines = ["graph LR"]
    lines += [f'  {ids[l]}["{l}"]' for l in sorted(graph.targets)]
    for label in sorted(graph.targets):
        lines.extend(f"  {ids[label]} --> {ids[d]}" for d in graph.targets[label].deps)
    return "\n".join(lines) + "\n"
