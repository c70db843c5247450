"""The target graph: the requested targets and everything they depend on,
loaded package by package, checked for unknown labels and cycles."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, CycleError, did_you_mean
from .labels import Label, Pattern, parse_pattern
from .loader import Package, Target, find_packages, load_package
from .workspace import Workspace


@dataclass
class TargetGraph:
    targets: dict[Label, Target]
    order: list[Label]  # dependencies before dependents

    def deps(self, label: Label) -> tuple[Label, ...]:
        return self.targets[label].deps


class PackageLoader:
    """Loads each package once per command."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.packages: dict[str, Package] = {}
        self.walked: dict[str, tuple | None] = {}  # directories pattern expansion searched: their stat

    def package(self, name: str) -> Package:
        if name not in self.packages:
            self.packages[name] = load_package(self.ws, name)
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

    def expand(self, patterns: list[Pattern]) -> list[Label]:
        labels: list[Label] = []
        for pattern in patterns:
            if pattern.name is not None:
                labels.append(self.target(Label(pattern.package, pattern.name)).label)
                continue
            packages = find_packages(self.ws, pattern.package, self.walked) if pattern.recursive else [pattern.package]
            if pattern.recursive and not packages:
                raise ConfigError(f"pattern `{pattern}` matches no package")
            for name in packages:
                labels.extend(t.label for t in self.package(name).targets.values())
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
    if not texts:
        raise ConfigError("no targets given: name a label or a pattern such as //...")
    return loader.expand([parse_pattern(t, current_package) for t in texts])
