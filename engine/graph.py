"""The target graph: the requested targets and everything they depend on,
loaded package by package, checked for unknown labels and cycles."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from .errors import ConfigError, CycleError, did_you_mean
from .labels import Label, Pattern, parse_pattern
from .loader import Package, Target, find_packages, load_package
from .registry import MANUAL
from .trace import RACY_WINDOW_NS
from .workspace import Workspace


@dataclass
class TargetGraph:
    targets: dict[Label, Target]
    order: list[Label]  # dependencies before dependents

    def deps(self, label: Label) -> tuple[Label, ...]:
        return self.targets[label].deps


def _lstat(path: str) -> tuple[int, int, int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ino)


class PackageMemo:
    """Loaded packages kept across commands by a long-lived process (the
    server): one is reused while its BUILD.toml and every source file it
    checked keep their stat, so only edited packages are read and validated."""

    def __init__(self):
        self.entries: dict[tuple[str, str], tuple[Package, list[tuple[str, tuple | None]]]] = {}
        self.reused = 0

    def get(self, ws: Workspace, name: str) -> Package | None:
        entry = self.entries.get((str(ws.root), name))
        if entry is None:
            return None
        package, stats = entry
        if all(_lstat(path) == st for path, st in stats):
            self.reused += 1
            return package
        return None

    def put(self, ws: Workspace, package: Package) -> None:
        root = str(ws.root)
        stats = [(os.path.join(root, package.build_file), None)]
        stats += [(os.path.join(root, s), None) for t in package.targets.values() for s in t.sources]
        stats = [(path, _lstat(path)) for path, _ in stats]
        limit = time.time_ns() - RACY_WINDOW_NS
        if package.stat is None or package.stat[1] >= limit or any(s is None or s[2] >= limit for _, s in stats):
            return  # racily clean: an edit within the timestamp granularity could go unseen
        build_stat = stats[0][1]
        if (build_stat[1], build_stat[2], build_stat[3]) != package.stat:
            return  # changed since it was read
        self.entries[(root, package.name)] = (package, stats)


class PackageLoader:
    """Loads each package once per command (and, given a memo, reuses the
    unchanged packages of earlier commands)."""

    def __init__(self, ws: Workspace, parsed=None, memo: PackageMemo | None = None):
        self.ws = ws
        self.memo = memo  # a long-lived process's packages (engine.memo)
        self.parsed = parsed  # parsed BUILD.toml files kept by stat (engine.trace)
        self.packages: dict[str, Package] = {}
        self.walked: dict[str, tuple | None] = {}  # directories pattern expansion searched: their stat

    def package(self, name: str) -> Package:
        if name not in self.packages:
            memo = self.memo
            package = memo.get(self.ws, name) if memo is not None else None
            if package is None:
                package = load_package(self.ws, name, self.parsed)
                if memo is not None:
                    memo.put(self.ws, package)
            self.packages[name] = package
        return self.packages[name]

    def target(self, label: Label, referenced_from: Target | None = None) -> Target:
        where = f"{referenced_from.build_file}: target `{referenced_from.label.name}` depends on " if referenced_from else ""
        try:
            package = self.package(label.package)
        except ConfigError as e:
            if where and not (self.ws.root / label.package / "BUILD.toml").exists():
                raise ConfigError(f"{where}`{label}`, but there is no package `//{label.package}` (no BUILD.toml in {label.package or 'the root'})") from None
            raise e
        if label.name not in package.targets:
            hint = did_you_mean(label.name, package.targets)
            raise ConfigError(f"{where or ''}unknown target `{label}`{hint}; {package.build_file} declares: "
                              f"{', '.join(sorted(package.targets)) or 'nothing'}")
        return package.targets[label.name]

    def expand(self, patterns: list[Pattern], excluded: list[Pattern] = ()) -> list[Label]:
        """The targets `patterns` name; packages a whole-package `excluded` pattern covers are not loaded."""
        labels: list[Label] = []
        for pattern in patterns:
            if pattern.name is not None:
                labels.append(self.target(Label(pattern.package, pattern.name)).label)
                continue
            packages = find_packages(self.ws, pattern.package, self.walked) if pattern.recursive else [pattern.package]
            if pattern.recursive and not packages:
                raise ConfigError(f"pattern `{pattern}` matches no package")
            packages = [n for n in packages if not any(e.name is None and e.matches_package(n) for e in excluded)]
            for name in packages:
                labels.extend(t.label for t in self.package(name).targets.values() if MANUAL not in t.attrs.tags)
        return list(dict.fromkeys(labels))


def _cycle_message(targets: dict[Label, Target], start: Label) -> str:
    import networkx as nx

    g = nx.DiGraph()
    for t in targets.values():
        g.add_edges_from((t.label, d) for d in t.deps if d in targets)
    cycle = nx.find_cycle(g, source=start)
    path = [str(a) for a, _ in cycle] + [str(cycle[0][0])]
    first = targets[cycle[0][0]]
    return f"{first.build_file}: dependency cycle: " + " -> ".join(path) + "; remove one of these dependencies"


def load_graph(loader: PackageLoader, roots: list[Label]) -> TargetGraph:
    targets: dict[Label, Target] = {}
    order: list[Label] = []
    state: dict[Label, int] = {}  # 1 = visiting, 2 = done
    for root in roots:
        if state.get(root) == 2:
            continue
        # Iterative DFS: deep chains must not hit Python's recursion limit.
        stack: list[tuple[Label, int]] = [(root, 0)]
        if root not in targets:
            targets[root] = loader.target(root)
        state[root] = 1
        while stack:
            label, i = stack.pop()
            deps = targets[label].deps
            if i < len(deps):
                stack.append((label, i + 1))
                dep = deps[i]
                if state.get(dep) == 2:
                    continue
                if state.get(dep) == 1:
                    raise CycleError(_cycle_message(targets, dep))
                targets[dep] = loader.target(dep, targets[label])
                state[dep] = 1
                stack.append((dep, 0))
            else:
                state[label] = 2
                order.append(label)
    return TargetGraph(targets, order)


def resolve_patterns(loader: PackageLoader, texts: list[str], current_package: str) -> list[Label]:
    """The targets `texts` name, in order; `-PATTERN` removes what PATTERN names from those before it."""
    if not texts:
        raise ConfigError("no targets given: name a label or a pattern such as //...")
    if texts[0].startswith("-"):
        raise ConfigError(f"`{texts[0]}` removes targets from the patterns before it, and none comes first: "
                          f"start with the targets to build, e.g. `//... {texts[0]}`")
    labels: list[Label] = []
    for i, text in enumerate(texts):
        if text.startswith("-"):
            pattern = parse_pattern(text[1:], current_package)
            labels = [l for l in labels if not (pattern.matches_package(l.package)
                                                and pattern.name in (None, l.name))]
            continue
        later = [parse_pattern(t[1:], current_package) for t in texts[i + 1:] if t.startswith("-")]
        labels += loader.expand([parse_pattern(text, current_package)], excluded=later)
    return list(dict.fromkeys(labels))
