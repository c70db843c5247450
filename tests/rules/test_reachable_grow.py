"""A `memory.grow` is refused only where the module's exports can reach it:
an unexported helper that grows is dropped by dce and the object builds; an
exported function that calls it is still refused, naming the helper."""

from __future__ import annotations

BUILD = """
[workspace]
name = "grow"

[[component]]
name = "core"
srcs = ["core.wat"]

[[dce]]
name = "small"
src = ":core"
roots = ["add"]

[[synth]]
name = "obj"
src = ":small"
"""
CORE = """(module
  (memory (export "memory") 1)
  (func $more (param i32) (result i32) (memory.grow (local.get 0)))
  (func (export "add") (param i32 i32) (result i32) (i32.add (local.get 0) (local.get 1)))
  {extra})
"""


def _setup(workspace, extra=""):
    workspace.write("BUILD.toml", BUILD)
    workspace.write("core.wat", CORE.format(extra=extra))


def test_an_unexported_growing_helper_is_dropped_and_the_build_succeeds(workspace):
    _setup(workspace)
    run = workspace.run("build", "//:obj")
    assert run.code == 0, run.err
    assert (workspace.root / "wasmelt-out/obj/obj.o").stat().st_size > 0


def test_a_reachable_grow_is_still_refused_naming_the_function(workspace):
    _setup(workspace, '(func (export "grow") (param i32) (result i32) (call $more (local.get 0)))')
    run = workspace.run("build", "//:obj")
    assert run.code == 1
    assert "component //:core grows its memory: memory.grow in `more` (1x)" in run.err and "Traceback" not in run.err
