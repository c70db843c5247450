"""In-process stand-ins for unit tests of the scheduler and the rebuild: a
Runner that records which commands ran and computes outputs from the inputs'
bytes (no process, no sandbox), and a small workspace of hand-made actions."""

from __future__ import annotations

from pathlib import Path

from wasmelt.engine.action_graph import ActionGraph
from wasmelt.engine.actions import Action, Artifact
from wasmelt.engine.errors import ActionError
from wasmelt.engine.labels import Label
from wasmelt.engine.runner import RunResult


class FakeRunner:
    """Each action's outputs are its command followed by its inputs' bytes;
    a command listed in `fail` fails, one in `same` always writes b"same"."""

    def __init__(self, root: Path, store, fail=(), same=()):
        self.root, self.store = root, store
        self.fail, self.same = set(fail), set(same)
        self.commands_ran: list[str] = []

    def run(self, action: Action, inputs: dict[str, str]) -> RunResult:
        command = action.argv[-1]
        self.commands_ran.append(command)
        if command in self.fail:
            raise ActionError(f"{action.describe()} failed (exit code 1)")
        data = command.encode()
        for art in action.inputs:
            data += (self.root / art.path).read_bytes() if art.is_source else self.store.get_bytes(inputs[art.path])
        if command in self.same:
            data = b"same"
        return RunResult({out.path: data for out in action.outputs}, duration=0.0)


class Chain:
    """Hand-made actions over sources in a tmp workspace: `step(name, *inputs)`
    adds an action `name` reading sources (plain names) or earlier steps."""

    def __init__(self, root: Path):
        self.root = root
        self.actions: dict[str, Action] = {}

    def source(self, name: str, text: str) -> None:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def step(self, name: str, *inputs: str) -> Action:
        arts = tuple(self.actions[i].outputs[0] if i in self.actions else Artifact(i, True) for i in inputs)
        action = Action(owner=Label("p", name), mnemonic="Fake", argv=("fake", name), inputs=arts,
                        outputs=(Artifact(f"wasmelt-out/p/{name}/out", False),))
        self.actions[name] = action
        return action

    def graph(self) -> ActionGraph:
        return ActionGraph(self.actions.values())

    def output(self, name: str) -> bytes:
        return (self.root / self.actions[name].outputs[0].path).read_bytes()
