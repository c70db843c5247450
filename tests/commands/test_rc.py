"""rc files and --config through the CLI: `.wasmeltrc` at the workspace root and
`~/.wasmeltrc` add flags to commands, `--config=NAME` adds a named group, bad lines name file:line."""

from __future__ import annotations

import pytest

from wasmelt import rc


def _two_targets(ws):
    """`bad` fails; `good` does not depend on it (so --keep_going builds it)."""
    ws.write("pkg/in.txt", "x\n")
    ws.write("pkg/BUILD.toml", """
        [[genrule]]
        name = "bad"
        srcs = ["in.txt"]
        outs = ["bad.txt"]
        cmd = "exit 3"

        [[genrule]]
        name = "good"
        srcs = ["in.txt"]
        outs = ["good.txt"]
        cmd = "cp $(SRCS) $(OUT)"
    """)


@pytest.fixture
def home(tmp_path, monkeypatch):
    path = tmp_path / "home"
    path.mkdir()
    monkeypatch.setenv("HOME", str(path))  # for the in-process calls; run() passes it to the CLI
    return path


def run(ws, home, *args, **kw):
    return ws.run(*args, env={"HOME": str(home), **kw.pop("env", {})}, **kw)


def test_a_config_adds_its_flags_and_the_command_line_still_wins(workspace, home):
    _two_targets(workspace)
    workspace.write(".wasmeltrc", """
        # a comment, and a blank line

        build --quiet --progress=tty   # trailing comment
        build:ci --build_event_json_file=events.jsonl
    """)
    plain = run(workspace, home, "build", "//pkg:good", "--progress=plain")  # the command line comes last: it wins
    assert plain.code == 0, plain.err
    assert "Genrule //pkg:good" not in plain.err and "up-to-date" not in plain.err  # --quiet from the rc file
    assert "\x1b[" not in plain.err  # --progress=plain, not the rc file's tty
    assert not (workspace.root / "events.jsonl").exists()
    ci = run(workspace, home, "build", "//pkg:good", "--progress=plain", "--config=ci", "--announce_rc")
    assert ci.code == 0, ci.err
    assert '"target_configured"' in (workspace.root / "events.jsonl").read_text()
    rcfile = workspace.root / ".wasmeltrc"
    assert f"INFO: {rcfile}:4: build --quiet --progress=tty" in ci.err
    assert f"INFO: {rcfile}:5: build:ci --build_event_json_file=events.jsonl" in ci.err


def test_build_lines_apply_to_test_and_home_lines_come_last(workspace, home):
    workspace.write(".wasmeltrc", "build --jobs=banana\n")
    (home / ".wasmeltrc").write_text("test --test_output=all\n")
    argv = rc.expand_with_lines(["test", "//x"], str(workspace.root))[0]
    assert argv == ["test", "--jobs=banana", "--test_output=all", "//x"]
    bad = run(workspace, home, "test", "//...")
    assert bad.code == 2
    assert "--jobs" in bad.err and "banana" in bad.err
    assert "Traceback" not in bad.err
    # query takes no build flags: the build line does not apply to it
    assert rc.expand_with_lines(["query", "//..."], str(workspace.root))[0] == ["query", "//..."]


def test_common_lines_hold_only_flags_every_command_takes(workspace, home):
    workspace.write(".wasmeltrc", "common --color=no\n")
    assert rc.expand_with_lines(["info", "workspace"], str(workspace.root))[0] == ["info", "--color=no", "workspace"]
    assert run(workspace, home, "info", "workspace").out.strip() == str(workspace.root)
    workspace.write(".wasmeltrc", "common --jobs=2\n")
    bad = run(workspace, home, "info")
    assert bad.code == 2
    assert f"{workspace.root / '.wasmeltrc'}:1: `common` lines take only the flags every command has" in bad.err
    assert "build --jobs=2" in bad.err


def test_unknown_config_names_the_rc_files_read(workspace, home):
    workspace.write(".wasmeltrc", "build:release --keep_going\n")
    (home / ".wasmeltrc").write_text("build --jobs=1\n")
    result = run(workspace, home, "build", "//...", "--config=relase")
    assert result.code == 2
    assert result.err.startswith("ERROR: --config=relase: no rc line defines it (did you mean `release`?)")
    assert str(workspace.root / ".wasmeltrc") in result.err and str(home / ".wasmeltrc") in result.err
    none = run(workspace, home, "build", "//...", "--config", "x", env={"HOME": str(workspace.root / "nowhere")})
    assert none.code == 2
    assert "configs defined: release" in none.err


def test_a_bad_rc_line_names_file_and_line(workspace, home):
    (home / ".wasmeltrc").write_text("build --jobs=1\nbiuld --keep_going\n")
    result = run(workspace, home, "build", "//...")
    assert result.code == 2
    assert f"ERROR: {home / '.wasmeltrc'}:2: `biuld` is not a command (did you mean `build`?)" in result.err
    (home / ".wasmeltrc").write_text("build 'unclosed\n")
    assert f"{home / '.wasmeltrc'}:1: No closing quotation" in run(workspace, home, "build", "//...").err
    (home / ".wasmeltrc").write_text("build: --jobs=1\n")
    assert "names no config after `:`" in run(workspace, home, "build", "//...").err


def test_configs_nest_and_a_cycle_is_an_error(workspace, home):
    workspace.write(".wasmeltrc", "build:a --config=b -k\nbuild:b --jobs=2\nbuild:c --config=c\n")
    root = str(workspace.root)
    assert rc.expand_with_lines(["build", "--config=a", "//x"], root)[0] == ["build", "--jobs=2", "-k", "//x"]
    with pytest.raises(rc.RcError, match=r"--config=c includes itself: c -> c"):
        rc.expand_with_lines(["build", "--config=c"], root)
    # after `--` nothing is expanded
    assert rc.expand_with_lines(["build", "--", "--config=a"], root)[0] == ["build", "--", "--config=a"]


def test_announce_rc_with_no_rc_file_and_info_lists_the_files(workspace, home):
    result = run(workspace, home, "info", "workspace", "--announce_rc")
    assert result.code == 0
    assert "INFO: no rc lines apply" in result.err
    assert run(workspace, home, "info", "rc_files").out.startswith("none (no .wasmeltrc")
    (home / ".wasmeltrc").write_text("build -k\n")
    workspace.write(".wasmeltrc", "build -q\n")
    listed = run(workspace, home, "info", "rc_files").out.strip()
    assert listed == f"{workspace.root / '.wasmeltrc'}, {home / '.wasmeltrc'}"


def test_the_rc_tables_match_the_parser():
    """rc.py is import-light, so it keeps its own list of commands: it must be the parser's, and every
    command a line can inherit from takes the flags of the one it inherits them from."""
    from wasmelt.main import COMMANDS, make_parser

    assert set(rc.COMMANDS) == set(COMMANDS)
    parser = make_parser()

    def flags(name):
        return {o for a in parser.commands[name]._actions for o in a.option_strings}

    for command, parents in rc.INHERITS.items():
        for parent in parents:
            assert flags(parent) - {"-h", "--help"} <= flags(command), (command, parent)
    for command in COMMANDS:
        assert set(rc.COMMON_FLAGS) <= flags(command), command
