"""Analysis: each target's rule turns its attributes and its dependencies'
results into actions and a TargetInfo (what it provides to dependents)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Iterable, TypeVar

from .action_graph import ActionGraph
from .actions import Action, Artifact, ToolRef
from .errors import ConfigError
from .graph import TargetGraph
from .labels import Label, parse_label
from .loader import Target, check_source_path
from .registry import rule_kinds
from .sandbox import check_command
from .store import normalise_output, output_collision
from .tools import ToolTable
from .workspace import OUTPUT_DIR, Workspace

P = TypeVar("P")


@dataclass(frozen=True)
class TargetInfo:
    """What a target provides: its default output files and typed providers
    (frozen dataclasses) for the rules and commands that depend on it, looked
    up by type: `WasmInfo in info`, `info[WasmInfo]`, `info.get(TestInfo)`."""

    files: tuple[Artifact, ...]
    providers: tuple[Any, ...] = ()

    def get(self, kind: type[P]) -> P | None:
        for provider in self.providers:
            if type(provider) is kind:
                return provider
        return None

    def __contains__(self, kind: type) -> bool:
        return self.get(kind) is not None

    def __getitem__(self, kind: type[P]) -> P:
        found = self.get(kind)
        if found is None:
            raise KeyError(kind.__name__)
        return found


@dataclass(frozen=True)
class TestInfo:
    """A test target: the action that runs it (`wasmelt build` builds its inputs, `wasmelt test` runs it)."""

    action: Action


@dataclass(frozen=True)
class SizeTableInfo:
    """A JSON size table (engine.sizes' generic shape) that `wasmelt size` renders."""

    table: Artifact


class AnalysisContext:
    def __init__(self, ws: Workspace, target: Target, infos: dict[Label, TargetInfo], kinds: dict[Label, str]):
        self.ws = ws
        self.target = target
        self.label = target.label
        self.attrs = target.attrs
        self.settings = ws.settings
        self._infos = infos
        self._kinds = kinds
        self.actions: list[Action] = []
        # The tools its rule kind asked for (RuleKind.tools), resolved before
        # analysis by engine.tools: `analyze` runs no program to learn them.
        self.tools: tuple[ToolRef, ...] = ()

    @property
    def where(self) -> str:
        return f"{self.target.build_file}: target `{self.label.name}`"

    def fail(self, message: str) -> ConfigError:
        return ConfigError(f"{self.where}: {message}")

    def source(self, path: str) -> Artifact:
        rel = f"{self.label.package}/{path}" if self.label.package else path
        if rel in self.target.sources:  # already checked by the loader
            return Artifact(rel, True)
        return Artifact(check_source_path(self.ws, self.label.package, path, self.where), True)

    def dep(self, text: str) -> TargetInfo:
        return self._infos[parse_label(text, self.label.package)]

    def dep_label(self, text: str) -> Label:
        return parse_label(text, self.label.package)

    def dep_kind(self, text: str) -> str:
        return self._kinds[parse_label(text, self.label.package)]

    def declare(self, name: str) -> Artifact:
        try:
            name = normalise_output(name)
        except ValueError as e:
            raise self.fail(str(e)) from None
        parts = [OUTPUT_DIR, self.label.package, self.label.name, name]
        return Artifact("/".join(p for p in parts if p), False)

    def action(self, *, mnemonic: str, argv: Iterable[str], inputs: Iterable[Artifact],
               outputs: Iterable[Artifact], tools: Iterable[ToolRef] = (), env: dict[str, str] | None = None,
               timeout: float | None = None, optional_outputs: Iterable[Artifact] = (),
               network: bool = False) -> Action:
        argv = tuple(argv)
        try:
            check_command(argv, env or {})
        except ValueError as e:
            raise self.fail(str(e)) from None
        action = Action(owner=self.label, mnemonic=mnemonic, argv=argv,
                        inputs=tuple(dict.fromkeys(inputs)), outputs=tuple(outputs), tools=tuple(tools),
                        env=tuple(sorted((env or {}).items())), timeout=timeout,
                        optional_outputs=frozenset(a.path for a in optional_outputs), network=network)
        self.actions.append(action)
        return action


@dataclass
class AnalysisResult:
    infos: dict[Label, TargetInfo]
    graph: ActionGraph

    @property
    def actions(self) -> dict[str, Action]:
        """Output path -> the action producing it."""
        return self.graph.producer

    @property
    def all_actions(self) -> list[Action]:
        return self.graph.actions


class AnalysisMemo:
    """Analysis results kept across commands by a long-lived process (the
    server). A target's result is reused while its Target object (kept by the
    package memo while its BUILD.toml is unchanged), the infos of its
    dependencies (the very objects it was analysed with) and its resolved
    tools are the same; everything is dropped when the settings or PATH change."""

    def __init__(self):
        self.entries: dict[Label, tuple[Target, tuple, tuple, TargetInfo, list[Action]]] = {}
        self.context: tuple | None = None
        self.tools = ToolTable()  # kept with the analyses: resolved once per server
        self.reused = 0

    def begin(self, ws: Workspace) -> None:
        context = (str(ws.root), repr(sorted(ws.settings.items())), os.environ.get("PATH", ""))
        if context != self.context:
            self.entries.clear()
        self.context = context
        self.tools.begin()

    def get(self, target: Target, infos: dict[Label, TargetInfo], tools: tuple):
        entry = self.entries.get(target.label)
        if entry is None or entry[0] is not target or entry[2] != tools:
            return None
        deps = entry[1]
        if len(deps) != len(target.deps) or any(infos.get(d) is not i for d, i in zip(target.deps, deps)):
            return None
        self.reused += 1
        return entry[3], entry[4]

    def put(self, target: Target, infos: dict[Label, TargetInfo], tools: tuple, info: TargetInfo,
            actions: list[Action]) -> None:
        self.entries[target.label] = (target, tuple(infos.get(d) for d in target.deps), tools, info, actions)


def analyze(ws: Workspace, graph: TargetGraph, memo: AnalysisMemo | None = None) -> AnalysisResult:
    """Every target's TargetInfo and actions, dependencies first. The tools the
    rule kinds ask for are resolved first, once per request (engine.tools);
    then each `analyze` is a function of attributes, settings, its
    dependencies' infos and those tools."""
    kinds_registry = rule_kinds()
    infos: dict[Label, TargetInfo] = {}
    kinds = {label: t.kind for label, t in graph.targets.items()}
    action_graph = ActionGraph()
    producers = action_graph.producer
    if memo is not None:
        memo.begin(ws)
    table = memo.tools if memo is not None else ToolTable()
    contexts = []
    for label in graph.order:
        target = graph.targets[label]
        ctx = AnalysisContext(ws, target, infos, kinds)
        declare = kinds_registry[target.kind].tools
        if declare is not None:
            ctx.tools = table.for_target(declare(ctx), ctx.where)
        contexts.append(ctx)
    for ctx in contexts:
        target, label = ctx.target, ctx.label
        hit = memo.get(target, infos, ctx.tools) if memo is not None else None
        if hit is not None:
            info, ctx.actions = hit
        else:
            info = kinds_registry[target.kind].analyze(ctx)
            if memo is not None:
                memo.put(target, infos, ctx.tools, info, ctx.actions)
        for action in ctx.actions:
            for out in action.outputs:
                if out.path in producers:
                    raise ConfigError(f"{ctx.where}: output `{out.path}` is also produced by {producers[out.path].owner}")
            action_graph.add(action)
        infos[label] = info
    clash = output_collision(action_graph.producer)
    if clash:
        raise ConfigError(clash)
    return AnalysisResult(infos, action_graph)
