"""`wasmelt aquery`: the actions of some targets as the analysis made them, each
with the key a build would give it now when every input's digest is known."""

from __future__ import annotations

from dataclasses import dataclass

from .actions import Action, action_key
from .analysis import analyze
from .graph import PackageLoader, load_graph
from .labels import Label
from .store import digest_file
from .trace import Trace
from .workspace import Workspace, records_dir

UNKNOWN_KEY = "not known until its inputs are built"


@dataclass(frozen=True)
class ActionView:
    action: Action
    key: str | None  # None: a derived input was never built with these inputs


def action_views(ws: Workspace, loader: PackageLoader, labels: list[Label]) -> list[ActionView]:
    """The actions owned by `labels`, in the order a build would run them."""
    analysis = analyze(ws, load_graph(loader, labels))
    trace = Trace(records_dir(ws))
    wanted = set(labels)
    owned = [a for a in analysis.all_actions if a.owner in wanted]
    known: dict[str, str] = {}  # path -> digest
    views = []
    for action in analysis.graph.needed(out for a in owned for out in a.outputs):
        digests = {}
        for art in action.inputs:
            if art.is_source:
                digests[art.path] = digest_file(ws.root / art.path)
            elif art.path in known:
                digests[art.path] = known[art.path]
        key = None
        if len(digests) == len({a.path for a in action.inputs}):
            material = action.key_material(digests)
            key = action_key(material)
            last = trace.actions.get(action.id)
            if last and last.get("status") in ("executed", "cached") and last.get("material") == material:
                known.update(last.get("outputs") or {})  # what it made from these very inputs
        if action.owner in wanted:
            views.append(ActionView(action, key))
    return views


def to_json(view: ActionView) -> dict:
    a = view.action
    return {"owner": str(a.owner), "mnemonic": a.mnemonic, "argv": list(a.argv), "env": dict(a.env),
            "inputs": [i.path for i in a.inputs], "outputs": [o.path for o in a.outputs],
            "tools": {t.name: t.path for t in a.tools}, "key": view.key}


def to_text(view: ActionView) -> str:
    import shlex

    a = view.action
    lines = [f"action '{a.mnemonic}' of {a.owner}",
             f"  argv: {shlex.join(a.argv)}",
             f"  env: {' '.join(f'{k}={shlex.quote(v)}' for k, v in a.env) or '(none)'}",
             f"  inputs: {', '.join(i.path for i in a.inputs) or '(none)'}",
             f"  outputs: {', '.join(o.path for o in a.outputs)}",
             f"  key: {view.key or UNKNOWN_KEY}"]
    return "\n".join(lines) + "\n"
