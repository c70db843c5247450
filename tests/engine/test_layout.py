"""The engine's import structure: no module imports the command line, the rules
or the toolchains, and no two engine modules import each other (lazy imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"


def _imports() -> dict[str, set[str]]:
    modules = {p.stem for p in ENGINE.glob("*.py")}
    found = {}
    for path in ENGINE.glob("*.py"):
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                deps.update([node.module.split(".")[0]] if node.module else [a.name for a in node.names])
            elif isinstance(node, ast.ImportFrom) and node.module:
                deps.add(node.module)
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names)
        found[path.stem] = {d for d in deps if d in modules or d.startswith("wasmelt")} - {path.stem}
    return found


def test_no_engine_module_imports_a_command_a_rule_or_a_toolchain():
    upward = {(m, d) for m, deps in _imports().items() for d in deps
              if d.startswith(("wasmelt.main", "wasmelt.commands", "wasmelt.report", "wasmelt.cli",
                               "wasmelt.rules", "wasmelt.toolchains"))}
    assert not upward


def test_engine_imports_form_no_cycle():
    graph = _imports()
    state: dict[str, int] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            assert state.get(dep) != 1, " -> ".join(path + [dep])
            if dep in graph and dep not in state:
                visit(dep, path + [dep])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
