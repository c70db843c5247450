"""The one decision: reuse an action's outputs or run it, with the reason,
made when its inputs' digests are known (so an upstream output that came out
the same stops the rebuild: early cutoff by content keys).

The reason is what the build event log records and what `wasmelt explain`
prints: it compares the key material with the trace's record of the action.
"""

from __future__ import annotations

from dataclasses import dataclass

from .actions import Action, action_key

NOTHING_CHANGED = "nothing changed since the last build"
UNTOUCHED = "nothing changed: no file it depends on was touched since the last build"


@dataclass(frozen=True)
class Decision:
    reuse: bool
    reason: str
    key: str
    material: dict
    outputs: dict[str, str] | None = None  # what to put in place when reused: path -> digest
    log_digests: tuple[str, str] | None = None
    from_trace: bool = False  # reused on the trace's word: valid only for outputs already in place
    executable: frozenset[str] = frozenset()  # reused outputs with the executable bit


def decide(action: Action, inputs: dict[str, str], trace, store, *, use_cache: bool = True,
           trust_trace: bool = True) -> Decision:
    """Reuse or run `action` whose inputs have these digests.

    `trace`: the last build's records (engine.trace): an action whose key
    material is the one it last succeeded with gets the outputs it had (no
    key to hash, no action-cache read); `store`: the action cache."""
    material = action.key_material(inputs)
    last = trace.actions.get(action.id) if trace is not None else None
    if (use_cache and trust_trace and last is not None and last["status"] in ("executed", "cached")
            and last.get("outputs") is not None and last["material"] == material):
        return Decision(True, NOTHING_CHANGED, last["key"], material, last["outputs"], last.get("logs"), True,
                        frozenset(last.get("executable", ())))
    key = action_key(material)
    if use_cache:
        cached = store.get_action(key)
        if cached is not None and set(cached.outputs) <= {a.path for a in action.outputs}:
            if last is not None and last.get("key") == key:
                reason = NOTHING_CHANGED if last.get("status") in ("executed", "cached") else \
                    "same key as the last run, whose result is in the action cache"
            else:
                reason = "; ".join(changes(last, material)) + "; an earlier run with these inputs is in the action cache"
            return Decision(True, reason, key, material, cached.outputs, (cached.stdout, cached.stderr),
                            executable=cached.executable)
    if not use_cache:
        return Decision(False, "the cache is bypassed (a release check, or --nocache_test_results)", key, material)
    if last is not None and last.get("key") == key:
        return Decision(False, "key unchanged; the cached result was missing or damaged", key, material)
    return Decision(False, "; ".join(changes(last, material)), key, material)


def changes(last: dict | None, material: dict) -> list[str]:
    """What differs between the trace's record of an action and this key material."""
    if last is None or last.get("material") is None:
        return ["first build of this action (no earlier run recorded)"]
    before, after = last["material"], material
    lines = []
    for path in sorted(set(before["inputs"]) | set(after["inputs"])):
        a, b = before["inputs"].get(path), after["inputs"].get(path)
        if a != b:
            lines.append(f"input `{path}` " + ("added" if a is None else "removed" if b is None else f"changed ({a[:12]} -> {b[:12]})"))
    if before["argv"] != after["argv"]:
        for i, (x, y) in enumerate(zip(before["argv"], after["argv"])):
            if x != y:
                lines.append(f"argument {i} changed: `{x}` -> `{y}`")
        if len(before["argv"]) != len(after["argv"]):
            lines.append(f"command line length changed ({len(before['argv'])} -> {len(after['argv'])} arguments)")
    for name in sorted(set(before["tools"]) | set(after["tools"])):
        a, b = before["tools"].get(name), after["tools"].get(name)
        if a != b:
            lines.append(f"tool `{name}` changed: " + (f"{a[0]} ({a[1][:12]}) -> {b[0]} ({b[1][:12]})" if a and b else "added" if b else "removed"))
    if before["env"] != after["env"]:
        lines.append(f"environment changed: {before['env']} -> {after['env']}")
    if before["outputs"] != after["outputs"]:
        lines.append("declared outputs changed")
    return lines or ["the last run did not finish" if last.get("status") not in ("executed", "cached")
                     else "key unchanged; the cached result was missing or damaged"]
