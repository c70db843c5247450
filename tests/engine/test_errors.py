"""Every BUILD.toml and execution error: one clear message naming the file
and target, a non-zero exit, no traceback, and an intact cache."""

from __future__ import annotations

import os

import pytest

GOOD = """
[[genrule]]
name = "gen"
srcs = ["in.txt"]
outs = ["out.txt"]
cmd = "cp $(SRCS) $(OUT)"
"""


def _fails(run, *needles, code=2):
    assert run.code == code, run.err
    assert "Traceback" not in run.err
    for needle in needles:
        assert needle in run.err, f"{needle!r} not in:\n{run.err}"


@pytest.fixture
def ws(workspace):
    workspace.write("p/in.txt", "data\n")
    return workspace


def test_malformed_toml_names_file_and_line(ws):
    ws.write("p/BUILD.toml", '[[genrule]]\nname = "x"\nsrcs = ["a" "b"]\nouts = []\n')
    _fails(ws.run("build", "//p:all"), "p/BUILD.toml", "invalid TOML", "line")


@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "{a = " * 3000 + "1" + "}" * 3000])
@pytest.mark.parametrize("where", ["p/BUILD.toml", "BUILD.toml"])
def test_deeply_nested_toml_is_an_error_not_a_traceback(ws, value, where):
    # Found by `make stress`: the TOML parser recursed until Python gave up.
    ws.write(where, ("[workspace]\n" if where == "BUILD.toml" else "") + f"x = {value}\n")
    _fails(ws.run("query", "//p:all"), where, "nested too deeply")


def test_unknown_rule_kind(ws):
    ws.write("p/BUILD.toml", '[[genrul]]\nname = "x"\n')
    _fails(ws.run("build", "//p:all"), "unknown rule kind `genrul`", "did you mean `genrule`")


def test_single_table_instead_of_array(ws):
    ws.write("p/BUILD.toml", '[genrule]\nname = "x"\n')
    _fails(ws.run("build", "//p:all"), "write [[genrule]]")


def test_unknown_attribute_with_suggestion(ws):
    ws.write("p/BUILD.toml", GOOD.replace("outs =", "outz ="))
    _fails(ws.run("build", "//p:all"), "p/BUILD.toml", "unknown attribute `outz`", "did you mean `outs`")


def test_mistyped_attribute(ws):
    ws.write("p/BUILD.toml", GOOD.replace('outs = ["out.txt"]', 'outs = "out.txt"'))
    _fails(ws.run("build", "//p:all"), "attribute `outs`", "'gen'")


def test_missing_required_attribute(ws):
    ws.write("p/BUILD.toml", GOOD.replace('cmd = "cp $(SRCS) $(OUT)"', ""))
    _fails(ws.run("build", "//p:all"), "missing required attribute `cmd`")


def test_duplicate_target_name(ws):
    ws.write("p/BUILD.toml", GOOD + GOOD)
    _fails(ws.run("build", "//p:all"), "duplicate target name `gen`")


def test_unknown_label_suggests(ws):
    ws.write("p/BUILD.toml", GOOD + '\n[[genrule]]\nname = "use"\nsrcs = [":gne"]\nouts = ["u"]\ncmd = "cp $(SRCS) $(OUT)"\n')
    _fails(ws.run("build", "//p:use"), "unknown target `//p:gne`", "did you mean `gen`", "target `use`")


def test_unknown_package(ws):
    ws.write("p/BUILD.toml", '[[genrule]]\nname = "use"\nsrcs = ["//nowhere:x"]\nouts = ["u"]\ncmd = "true"\n')
    _fails(ws.run("build", "//p:use"), "no package `//nowhere`")


def test_unknown_target_on_command_line(ws):
    ws.write("p/BUILD.toml", GOOD)
    _fails(ws.run("build", "//p:gem"), "unknown target `//p:gem`", "did you mean `gen`")


def test_cycle_is_printed_as_a_path(ws):
    ws.write("p/BUILD.toml", """
[[genrule]]
name = "a"
srcs = [":b"]
outs = ["a"]
cmd = "true"

[[genrule]]
name = "b"
srcs = ["//q:c"]
outs = ["b"]
cmd = "true"
""")
    ws.write("q/BUILD.toml", '[[genrule]]\nname = "c"\nsrcs = ["//p:a"]\nouts = ["c"]\ncmd = "true"\n')
    run = ws.run("build", "//p:a")
    _fails(run, "dependency cycle", "//p:a -> //p:b -> //q:c -> //p:a")


def test_missing_source(ws):
    ws.write("p/BUILD.toml", GOOD.replace("in.txt", "inn.txt"))
    _fails(ws.run("build", "//p:all"), "source file `inn.txt` does not exist", "did you mean `in.txt`")


@pytest.mark.parametrize("path", ["../q/x.txt", "/etc/passwd", "sub/../../q/x.txt"])
def test_source_outside_package(ws, path):
    ws.write("q/x.txt", "x")
    ws.write("p/BUILD.toml", GOOD.replace('"in.txt"', f'"{path}"'))
    run = ws.run("build", "//p:all")
    assert run.code == 2 and "Traceback" not in run.err
    assert "leaves its package" in run.err or "relative to the package" in run.err


def test_source_name_too_long_for_the_file_system(ws):
    # Found by `make stress`: the stat() error escaped as an OSError traceback.
    ws.write("p/BUILD.toml", GOOD.replace('"in.txt"', f'"{"a" * 300}.txt"'))
    _fails(ws.run("build", "//p:all"), "p/BUILD.toml: target `gen`", "cannot be used", "File name too long")


@pytest.mark.parametrize("cmd", ["cat $() > $(OUT)", "cat $(   ) > $(OUT)"])
def test_empty_substitution_in_genrule_cmd(ws, cmd):
    # Found by `make stress`: `$()` was an IndexError traceback.
    ws.write("p/BUILD.toml", GOOD.replace("cp $(SRCS) $(OUT)", cmd))
    _fails(ws.run("build", "//p:all"), "target `gen`", "unknown substitution `$(")


def test_symlink_escaping_package(ws):
    ws.write("q/secret.txt", "s")
    os.symlink(ws.root / "q/secret.txt", ws.root / "p/link.txt")
    ws.write("p/BUILD.toml", GOOD.replace("in.txt", "link.txt"))
    _fails(ws.run("build", "//p:all"), "resolves outside its package")


def test_output_leaving_target_directory(ws):
    ws.write("p/BUILD.toml", GOOD.replace('outs = ["out.txt"]', 'outs = ["../escape.txt"]'))
    _fails(ws.run("build", "//p:all"), "must stay inside")


def test_shell_metacharacters_in_name(ws):
    ws.write("p/BUILD.toml", GOOD.replace('name = "gen"', 'name = "gen;rm -rf x"'))
    _fails(ws.run("build", "//p:all"), "invalid target name")


def test_failing_command_shows_stderr_exit_code_and_argv(ws):
    ws.write("p/BUILD.toml", GOOD.replace("cp $(SRCS) $(OUT)", "echo broken pipe dream >&2; exit 7"))
    run = ws.run("build", "//p:gen")
    _fails(run, "Genrule //p:gen failed (exit code 7)", "broken pipe dream", "command: cd ", "-c 'echo broken pipe dream >&2; exit 7'", code=1)


def test_declared_output_not_produced(ws):
    ws.write("p/BUILD.toml", GOOD.replace("cp $(SRCS) $(OUT)", "true"))
    _fails(ws.run("build", "//p:gen"), "did not produce declared output `wasmelt-out/p/gen/out.txt`", code=1)


def test_failure_leaves_cache_intact(ws):
    ws.write("p/BUILD.toml", GOOD)
    assert ws.run("build", "//p:gen").code == 0
    ws.write("p/BUILD.toml", GOOD + '\n[[genrule]]\nname = "bad"\nouts = ["b"]\ncmd = "exit 1"\n')
    assert ws.run("build", "//p:all").code == 1
    ws.write("p/BUILD.toml", GOOD)
    assert ws.run("build", "//p:gen").counts["cached"] == 1


def test_no_workspace(tmp_path):
    from conftest import Workspace

    lonely = Workspace(tmp_path / "nows", tmp_path / "c")
    lonely.root.mkdir()
    run = lonely.run("build", "//...")
    _fails(run, "no workspace found", "[workspace]")


def test_help_has_examples(ws):
    run = ws.run("--help")
    assert run.code == 0 and "examples:" in run.out and "wasmelt build //..." in run.out


def test_every_command_help_has_an_example():
    from wasmelt.main import make_parser

    parser = make_parser()
    commands = parser._subparsers._group_actions[0].choices
    assert "size" in commands
    missing = [name for name, sub in commands.items() if "example" not in sub.format_help()]
    assert not missing, f"--help without an example: {missing}"
