"""`wasmelt version`, `wasmelt --version` and `wasmelt info`."""

from __future__ import annotations

import re
from importlib.metadata import version


def test_version_and_dash_dash_version_print_the_installed_version(workspace):
    for args in (["version"], ["--version"]):
        run = workspace.run(*args)
        assert (run.code, run.out, run.err) == (0, f"wasmelt {version('wasmelt')}\n", ""), args


def _info(run) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in run.out.splitlines())


def test_info_names_the_workspace_cache_outputs_server_and_tools(workspace):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "g"
        outs = ["g.txt"]
        cmd = "echo hi > $(OUT)"
    """)
    run = workspace.run("info")
    assert run.code == 0, run.err
    info = _info(run)
    assert info["workspace"] == str(workspace.root)
    assert info["output_path"] == str(workspace.root / "wasmelt-out")
    assert info["cache_dir"] == str(workspace.cache)
    assert info["server"].startswith("not running")
    assert info["release"] == f"wasmelt {version('wasmelt')}"
    assert re.match(r"zig \d+\.\d+\.\d+ \(/.*/zig, sha256 [0-9a-f]{12}\)$", info["zig"]), info["zig"]
    assert re.match(r"wasm-tools \d+\.\d+\.\d+", info["wasm-tools"]), info["wasm-tools"]
    assert info["rustc"].startswith(("rustc ", "not found: no rustc with the wasm32"))
    assert info["meld"].startswith(("not installed (needed for fuse toolchain = \"meld\")", "meld"))
    before = info["cache_size"]
    assert workspace.run("build", "//p:g").code == 0
    after = _info(workspace.run("info"))["cache_size"]
    assert re.match(r"[\d.]+ (B|KiB|MiB) in \d+ files \(cache_max_size 5G\)$", after) and after != before


def test_info_keys_print_just_their_values(workspace):
    run = workspace.run("info", "cache_dir", "workspace")
    assert (run.code, run.out) == (0, f"{workspace.cache}\n{workspace.root}\n")


def test_info_unknown_key_is_an_error_with_a_suggestion(workspace):
    run = workspace.run("info", "cache-dir")
    assert run.code == 2
    assert run.err.startswith("ERROR: wasmelt info: unknown key `cache-dir` (did you mean `cache_dir`?); keys: release,")


def test_info_sees_a_running_server(workspace):
    assert workspace.run("server", "start").code == 0
    try:
        info = _info(workspace.run("info"))
        assert re.match(r"running \(pid \d+, up \d+s, \d+ commands\)$", info["server"]), info["server"]
    finally:
        workspace.run("server", "stop")


def test_info_outside_a_workspace_still_names_the_tools(tmp_path):
    from tests.conftest import Workspace

    outside = Workspace(tmp_path, tmp_path / "cache")
    run = outside.run("info")
    assert run.code == 0, run.err
    info = _info(run)
    assert info["workspace"].startswith("none (no workspace found from")
    assert "cache_dir" not in info and "zig" in info
    missing = outside.run("info", "cache_dir")
    assert missing.code == 2 and missing.err.startswith("ERROR: no workspace found from")
