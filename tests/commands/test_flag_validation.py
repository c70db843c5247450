"""Every flag is checked by the one parser on every path: a bad value exits 2 even when
the build is up to date (the null-build path) or a server answers it."""

from __future__ import annotations

import pytest

from conftest import settle


@pytest.mark.parametrize("flags", [["-j", "banana"], ["--jobs=x"], ["--progress=none"], ["--keep_going=maybe"],
                                   ["-j0"]])
def test_a_bad_flag_after_a_successful_build_exits_2(workspace, flags):
    workspace.write("x/BUILD.toml", """
        [[genrule]]
        name = "x"
        outs = ["x.txt"]
        cmd = "echo x > $(OUT)"
    """)
    settle(workspace, "//x")  # the null-build path answers this one
    run = workspace.run("build", "//x", *flags)
    assert run.code == 2, run.err
    assert "error: argument" in run.err or "ignored explicit argument" in run.err, run.err
