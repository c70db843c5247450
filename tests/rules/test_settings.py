"""[workspace] settings that give rule attributes their defaults are checked
like the attributes: a wrong type or value is one clear error at analysis,
never a traceback or a bad command line (found by the BUILD.toml fuzzer)."""

from __future__ import annotations

import pytest

PIPELINE = """
[[component]]
name = "k"
srcs = ["k.wat"]

[[fuse]]
name = "fused"
components = [":k"]

[[dce]]
name = "lean"
src = ":fused"

[[synth]]
name = "fw"
src = ":lean"
"""


@pytest.mark.parametrize("line, needles", [
    ("fuse_toolchain = 3", ["`fuse_toolchain` = 3", "'builtin', 'meld', 'binaryen'", "//p:fused"]),
    ('synth_toolchain = "bogus"', ["`synth_toolchain` = 'bogus'", "'wasm2c'", "//p:fw"]),
    ("cc = 5", ["`cc` = 5", "'zig', 'clang'", "//p:k"]),
    ('dce_toolchain = ["builtin"]', ["`dce_toolchain` = ['builtin']", "'loom'"]),
    ("synth_cc = true", ["`synth_cc` = True", "'gcc'"]),
])
def test_bad_workspace_setting_is_a_config_error(workspace, line, needles):
    workspace.write("BUILD.toml", f'[workspace]\nname = "test"\n{line}\n')
    workspace.write("p/k.wat", '(module (func (export "f") (result i32) i32.const 1))\n')
    workspace.write("p/BUILD.toml", PIPELINE)
    run = workspace.run("build", "//p:all")
    assert run.code == 2, run.err
    assert "Traceback" not in run.err and "BUILD.toml: [workspace] setting" in run.err
    for needle in needles:
        assert needle in run.err, run.err
    assert not (workspace.cache / "ac").exists() or not list((workspace.cache / "ac").glob("*/*"))
