"""Analysis: each target's rule turns its attributes and its dependencies'
results into actions and a TargetInfo (what it provides to dependents)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from .actions import Action, Artifact, ToolRef
from .errors import ConfigError
from .graph import TargetGraph
from .labels import Label, parse_label
from .loader import Target, check_source_path
from .registry import rule_kinds
from .workspace import OUTPUT_DIR, Workspace


@dataclass(frozen=True)
class TargetInfo:
    """What a target provides: its default output files and named fields
    for the rules that depend on it (e.g. `wasm`, `report`)."""

    files: tuple[Artifact, ...]
    fields: dict[str, Any] = field(default_factory=dict)
    test_action: Action | None = None  # set by test rules

    def __getitem__(self, name: str) -> Any:
        return self.fields[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self.fields.get(name, default)


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

    def dep_kind(self, text: str) -> str:
        return self._kinds[parse_label(text, self.label.package)]

    def declare(self, name: str) -> Artifact:
        if name.startswith("/") or ".." in name.split("/"):
            raise self.fail(f"output `{name}` must stay inside the target's output directory")
        parts = [OUTPUT_DIR, self.label.package, self.label.name, name]
        return Artifact("/".join(p for p in parts if p), False)

    def action(self, *, mnemonic: str, argv: Iterable[str], inputs: Iterable[Artifact],
               outputs: Iterable[Artifact], tools: Iterable[ToolRef] = (), env: dict[str, str] | None = None,
               timeout: float | None = None, optional_outputs: Iterable[Artifact] = ()) -> Action:
        action = Action(owner=self.label, mnemonic=mnemonic, argv=tuple(argv),
                        inputs=tuple(dict.fromkeys(inputs)), outputs=tuple(outputs), tools=tuple(tools),
                        env=tuple(sorted((env or {}).items())), timeout=timeout,
                        optional_outputs=frozenset(a.path for a in optional_outputs))
        self.actions.append(action)
        return action


@dataclass
class AnalysisResult:
    infos: dict[Label, TargetInfo]
    actions: dict[str, Action]  # by output path -> the action producing it
    all_actions: list[Action]


def analyze(ws: Workspace, graph: TargetGraph) -> AnalysisResult:
    kinds_registry = rule_kinds()
    infos: dict[Label, TargetInfo] = {}
    kinds = {label: t.kind for label, t in graph.targets.items()}
    producers: dict[str, Action] = {}
    all_actions: list[Action] = []
    for label in graph.order:
        target = graph.targets[label]
        ctx = AnalysisContext(ws, target, infos, kinds)
        info = kinds_registry[target.kind].analyze(ctx)
        for action in ctx.actions:
            for out in action.outputs:
                if out.path in producers:
                    raise ConfigError(f"{ctx.where}: output `{out.path}` is also produced by {producers[out.path].owner}")
                producers[out.path] = action
            all_actions.append(action)
        infos[label] = info
    return AnalysisResult(infos, producers, all_actions)
