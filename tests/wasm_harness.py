"""Test helpers for the wasm stages: build the example components with the
real drivers, and run modules in wasmtime with recording host functions."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import wasmtime

from conftest import REPO
from wasmelt.toolchains import identity

EXAMPLE = REPO / "examples" / "app"
COMPONENTS = [("app", "app.c"), ("kernel", "kernel.wat"), ("payload", "payload.rs")]


WASM_TOOLS = identity.wasm_tools().path


def wasm_tools(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([WASM_TOOLS, *args], input=data, capture_output=True)


def validate(data: bytes) -> None:
    proc = wasm_tools("validate", "-", data=data)
    assert proc.returncode == 0, proc.stderr.decode()


def wat(text: str) -> bytes:
    proc = wasm_tools("parse", "-", data=text.encode())
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout


def build_component(tmp: Path, name: str, source: Path, *extra: str) -> bytes:
    """Run the component stage driver in a sandbox-like directory."""
    work = tmp / f"build-{name}"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, work / source.name)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", f"//test:{name}",
                           "--out", "out.wasm", "--report", "report.json", "--no-grow", *extra, "--", source.name],
                          cwd=work, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return (work / "out.wasm").read_bytes()


def example_components(tmp: Path) -> list[tuple[str, bytes]]:
    return [(name, build_component(tmp, name, EXAMPLE / src)) for name, src in COMPONENTS]


class Host:
    """Host functions that record every call and answer from a script."""

    def __init__(self, answers: dict[str, int] | None = None):
        self.calls: list[tuple[str, tuple]] = []
        self.answers = answers or {}

    def func(self, store, name: str, ftype: wasmtime.FuncType):
        def call(*args):
            self.calls.append((name, tuple(args)))
            if ftype.results:
                return self.answers.get(name, 7 * len(self.calls))
            return None

        return wasmtime.Func(store, ftype, call)


def instantiate_linked(modules: list[tuple[str, bytes]], host: Host):
    """The unfused reference: each module its own instance (and memory),
    wired by a Linker; imports no module provides go to the host."""
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    compiled = {name: wasmtime.Module(engine, data) for name, data in modules}
    provided = {name for name, _ in modules}
    for module in compiled.values():
        for imp in module.imports:
            if imp.module not in provided:
                try:
                    linker.define(store, imp.module, imp.name, host.func(store, f"{imp.module}.{imp.name}", imp.type))
                except wasmtime.WasmtimeError:
                    pass  # already defined by another module's import
    instances = {}
    pending = [name for name, _ in modules]
    while pending:
        for name in list(pending):
            needs = {imp.module for imp in compiled[name].imports} & provided
            if needs <= set(instances):
                instances[name] = linker.instantiate(store, compiled[name])
                linker.define_instance(store, name, instances[name])
                pending.remove(name)
                break
        else:
            raise AssertionError(f"modules import each other in a loop: {pending}")
    return store, instances


def instantiate(data: bytes, host: Host):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, data)
    imports = [host.func(store, f"{imp.module}.{imp.name}", imp.type) for imp in module.imports]
    return store, wasmtime.Instance(store, module, imports)


def call(store, instance, name: str, *args):
    try:
        return ("ok", instance.exports(store)[name](store, *args))
    except wasmtime.Trap as trap:
        return ("trap", trap.trap_code)
