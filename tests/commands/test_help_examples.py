"""Every `wasmelt ...` example of every command's --help (and of `wasmelt --help`) runs as
printed, in a workspace with the labels the examples name; watch's through an edit and Ctrl-C."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

APP_BUILD = """
[[component]]
name = "app"
srcs = ["app.wat"]

[[component]]
name = "kernel"
srcs = ["kernel.wat"]

[[component]]
name = "checksum"
srcs = ["checksum.c"]

[[fuse]]
name = "fused"
components = [":app", ":kernel"]

[[dce]]
name = "lean"
src = ":fused"
roots = ["tick"]

[[synth]]
name = "firmware"
src = ":lean"
cpu = "cortex-m4"

[[synth]]
name = "firmware_m0"
src = ":lean"
cpu = "cortex-m0"

[[firmware_test]]
name = "firmware_test"
firmware = ":firmware"
cases = [{ call = "tick", args = [1], expect = [8] }]
"""


def examples_workspace(root: Path) -> Path:
    """//examples/app with the targets the help texts name, from two small WAT modules and a C one;
    //examples/grow tagged manual, as in the repository."""
    (root / "examples/app").mkdir(parents=True)
    (root / "examples/grow").mkdir(parents=True)
    (root / "BUILD.toml").write_text('[workspace]\nname = "help"\n')
    (root / "examples/app/app.wat").write_text(
        '(module (import "kernel" "now" (func $now (result i32)))\n'
        '  (func (export "tick") (param i32) (result i32) local.get 0 call $now i32.add))\n')
    (root / "examples/app/checksum.c").write_text(  # a C component: what `wasmelt compdb` lists
        "unsigned sum(const unsigned char *p, unsigned n) { unsigned s = 0; while (n--) s += *p++; return s; }\n")
    (root / "examples/app/kernel.wat").write_text('(module (func (export "now") (result i32) i32.const 7))\n')
    (root / "examples/app/BUILD.toml").write_text(APP_BUILD)
    (root / "examples/grow/grow.wat").write_text('(module (memory 1) (func (export "g") (result i32) i32.const 1 memory.grow))\n')
    (root / "examples/grow/BUILD.toml").write_text('[[component]]\nname = "grow"\nsrcs = ["grow.wat"]\ntags = ["manual"]\n')
    return root


def help_examples() -> list[tuple[str, str]]:
    """(command, shell line) of each example in the --help texts, in the order of the commands."""
    from wasmelt.main import EPILOG, make_parser

    parser = make_parser()
    texts = [("wasmelt", EPILOG)] + [(name, p.epilog or "") for name, p in parser.commands.items()]
    found = []
    for name, text in texts:
        for line in text.splitlines():
            line = line.strip().removeprefix("example:").removeprefix("examples:").strip()
            if line.startswith(("wasmelt ", 'eval "$(wasmelt ')):
                found.append((name, re.split(r"\s{2,}|\s+\(no ", line)[0]))  # the comment after it dropped
    return found


def env_for(tmp_path: Path) -> dict:
    home = tmp_path / "home"
    (home / ".zfunc").mkdir(parents=True, exist_ok=True)  # where the completion examples write
    (home / ".config/fish/completions").mkdir(parents=True, exist_ok=True)
    bindir = os.path.dirname(sys.executable)
    return {**os.environ, "WASMELT_CACHE": str(tmp_path / "cache"), "HOME": str(home),
            "PATH": bindir + os.pathsep + os.environ.get("PATH", "")}


def test_every_help_example_runs_as_printed(tmp_path):
    ws = examples_workspace(tmp_path / "ws")
    env = env_for(tmp_path)
    assert shutil.which("wasmelt", path=env["PATH"]), "the venv's wasmelt console script"
    lines = help_examples()
    assert len(lines) >= 30
    ran = set()
    later = []
    for name, line in lines:
        if name == "watch":  # runs until stopped: test_watch_example_... below
            continue
        if name == "init":  # builds a C app from scratch: tests/commands/test_init.py runs it
            continue
        if "| dot " in line and not shutil.which("dot"):
            line = line.split("|")[0] + "> /dev/null"
        if name == "clean":  # last: it removes what the others read
            later.append((name, line))
            continue
        run = subprocess.run(["bash", "-c", line], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, (line, run.stdout, run.stderr)
        if line.startswith("wasmelt server start"):
            assert subprocess.run(["wasmelt", "server", "stop"], cwd=ws, env=env, timeout=60).returncode == 0
        ran.add(name)
    for name, line in later:
        run = subprocess.run(["bash", "-c", line], cwd=ws, env=env, capture_output=True, text=True, timeout=600)
        assert run.returncode == 0, (line, run.stdout, run.stderr)
        ran.add(name)
    assert {"build", "test", "query", "aquery", "size", "release", "verify", "explain", "cache", "clean"} <= ran


class Lines:
    """A process's merged output, line by line, waited for by content (no sleeps)."""

    def __init__(self, proc):
        self.proc, self.seen, self.queue = proc, [], queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.queue.put(line)
        self.queue.put(None)

    def until(self, text: str, timeout: float = 300) -> list[str]:
        got = []
        while True:
            line = self.queue.get(timeout=timeout)
            assert line is not None, f"ended before {text!r}:\n{''.join(self.seen)}"
            self.seen.append(line)
            got.append(line)
            if text in line:
                return got


def test_watch_example_tests_the_firmware_ignores_editor_files_and_stops_on_ctrl_c(tmp_path):
    ws = examples_workspace(tmp_path / "ws")
    (line,) = [line for name, line in help_examples() if name == "watch" and "--test" in line]
    argv = line.split()
    assert argv[:2] == ["wasmelt", "watch"]
    proc = subprocess.Popen([sys.executable, "-m", "wasmelt", *argv[1:]], cwd=ws, env=env_for(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out = Lines(proc)
        first = "".join(out.until("waiting for changes"))
        assert "PASSED: //examples/app:firmware_test" in first, first
        app = ws / "examples/app"
        for temp in ("sedAb12Cd", "4913", "kernel.wat~", "#kernel.wat#", ".#kernel.wat", ".kernel.wat.swp"):
            (app / temp).write_text("(module)\n")
        kernel = app / "kernel.wat"
        kernel.write_text(kernel.read_text().replace("i32.const 7", "i32.const 8"))
        changed = "".join(out.until("; rebuilding"))
        assert "changed examples/app/kernel.wat; rebuilding" in changed, changed
        second = "".join(out.until("waiting for changes"))
        assert "FAILED: //examples/app:firmware_test" in second  # tick(1) is 9 now, the case expects 8
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    assert "KeyboardInterrupt" not in rest and "Traceback" not in rest and "stopping watch" not in rest, rest


@pytest.mark.parametrize("name, temp", [("sedAb12Cd", True), ("4913", True), ("5036", True), ("4914", False),
                                        ("x~", True), ("#x#", True), ("x.swp", True), ("x.c___jb_tmp___", True),
                                        ("sed.c", False), ("main.c", False), ("1234", False)])
def test_editor_temp_files(name, temp):
    from wasmelt.engine.watch import editor_temp_file

    assert editor_temp_file(name) is temp
