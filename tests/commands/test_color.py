"""--color=auto|yes|no and NO_COLOR: ERROR red, the summary green or red, warnings
yellow; colour on a terminal by default, never in a pipe unless asked."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

RED, GREEN = "\x1b[1;31m", "\x1b[1;32m"


def _genrule(ws):
    ws.write("pkg/in.txt", "x\n")
    ws.write("pkg/BUILD.toml", """
        [[genrule]]
        name = "good"
        srcs = ["in.txt"]
        outs = ["good.txt"]
        cmd = "cp $(SRCS) $(OUT)"

        [[genrule]]
        name = "bad"
        srcs = ["in.txt"]
        outs = ["bad.txt"]
        cmd = "exit 1"
    """)


def on_terminal(ws, *args, env=None) -> str:
    """stderr of the CLI run with its stderr on a pseudo-terminal."""
    master, slave = pty.openpty()
    full_env = {**os.environ, "WASMELT_CACHE": str(ws.cache), "TERM": "xterm", **(env or {})}
    full_env.pop("NO_COLOR", None) if "NO_COLOR" not in (env or {}) else None
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", *args], cwd=ws.root, env=full_env,
                            stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=300)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_colour_on_a_terminal_by_default_and_none_with_no_color(workspace):
    _genrule(workspace)
    failed = on_terminal(workspace, "build", "//pkg:bad", "--progress=plain")
    assert f"{RED}ERROR:\x1b[0m" in failed
    assert f"{RED}Build FAILED:\x1b[0m" in failed
    built = on_terminal(workspace, "build", "//pkg:good", "--progress=plain")
    assert f"{GREEN}Build completed:\x1b[0m" in built
    plain = on_terminal(workspace, "build", "//pkg:bad", "--progress=plain", env={"NO_COLOR": "1"})
    assert "ERROR:" in plain and "\x1b[" not in plain
    off = on_terminal(workspace, "build", "//pkg:bad", "--progress=plain", "--color=no")
    assert "ERROR:" in off and "\x1b[" not in off


def test_a_pipe_gets_colour_only_when_asked(workspace):
    _genrule(workspace)
    piped = workspace.run("build", "//pkg:bad")
    assert piped.code == 1 and "\x1b[" not in piped.err
    forced = workspace.run("build", "//pkg:bad", "--color=yes", env={"NO_COLOR": "1"})  # the flag beats NO_COLOR
    assert f"{RED}ERROR:\x1b[0m Genrule //pkg:bad failed" in forced.err
    assert f"{RED}Build FAILED:\x1b[0m 1 action" in forced.err
    bad = workspace.run("build", "//pkg:good", "--color=sometimes")
    assert bad.code == 2 and "invalid choice: 'sometimes'" in bad.err


def test_warnings_are_yellow_when_coloured():
    import io

    from wasmelt import report

    out = io.StringIO()
    try:
        report.set_color("yes")
        report.warning("cache entry damaged", out)
        report.set_color("no")
        report.warning("plain", out)
    finally:
        report.set_color("auto")
    assert out.getvalue() == "\x1b[1;33mWARNING:\x1b[0m cache entry damaged\nWARNING: plain\n"
