"""Unknown [workspace] keys are errors with did-you-mean, like every other BUILD.toml key;
the engine's own keys (server, cache_max_size, name) are type-checked."""

from __future__ import annotations

import pytest


def _target(ws):
    ws.write("p/BUILD.toml", """
        [[genrule]]
        name = "g"
        outs = ["g.txt"]
        cmd = "echo g > $(OUT)"
    """)


@pytest.mark.parametrize("line, needle", [
    ('synth_c = "gcc"', "unknown key `synth_c` (did you mean `synth_cc`?)"),
    ('servr = true', "unknown key `servr` (did you mean `server`?)"),
    ('server = "yes"', "key `server`: Input should be a valid boolean (got 'yes')"),
    ('cache_max_size = "5XB"', "unknown unit `XB`"),
    ('cache_max_size = -1', "is negative"),
])
def test_a_bad_workspace_key_is_one_error_naming_it(workspace, line, needle):
    workspace.write("BUILD.toml", f'[workspace]\nname = "test"\n{line}\n')
    _target(workspace)
    for command in (["build", "//p:g"], ["query", "//..."], ["cache", "gc"]):
        run = workspace.run(*command)
        assert run.code == 2, (command, run.err)
        assert run.err.startswith(f"ERROR: {workspace.root / 'BUILD.toml'}: [workspace]: "), run.err
        assert needle in run.err and "Keys of [workspace]: cache_max_size, cc," in run.err
        assert "Traceback" not in run.err
    assert not (workspace.root / "wasmelt-out").exists()


def test_known_keys_pass(workspace):
    workspace.write("BUILD.toml", '[workspace]\nname = "t"\nsynth_cc = "gcc"\ncache_max_size = "2GiB"\nserver = false\n')
    _target(workspace)
    run = workspace.run("build", "//p:g")
    assert run.code == 0, run.err
