"""Shared test helpers: make a workspace in tmp_path and run the CLI in it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

# zig's cache lives in each wasmelt cache unless ZIG_GLOBAL_CACHE_DIR names one: the tests, each
# with a cache of its own, share the user's (compiling zig's runtime again costs ~10 s a workspace).
os.environ.setdefault("ZIG_GLOBAL_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "zig"))


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def counts(self) -> dict[str, int]:
        """{'executed': n, 'cached': n, ...} from the build summary line."""
        m = re.search(r"(\d+) actions?: (.*?) in [\d.]+s", self.err)
        assert m, f"no build summary in:\n{self.err}"
        counts = {"total": int(m.group(1))}
        for part in m.group(2).split(", "):
            n, what = part.split(" ", 1)
            counts[what] = int(n)
        return counts

    def executed(self) -> int:
        return self.counts.get("executed", 0)


class Workspace:
    def __init__(self, root: Path, cache: Path):
        self.root = root
        self.cache = cache

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
        return path

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text()

    def run(self, *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 600) -> Run:
        full_env = {**os.environ, "WASMELT_CACHE": str(self.cache), **(env or {})}
        proc = subprocess.run([sys.executable, "-m", "wasmelt", *args], cwd=cwd or self.root, env=full_env,
                              capture_output=True, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    ws = Workspace(tmp_path / "ws", tmp_path / "cache")
    ws.write("BUILD.toml", '[workspace]\nname = "test"\n')
    return ws


REPO = Path(__file__).resolve().parent.parent


UP_TO_DATE = "nothing changed since the last build"


def settle(ws: Workspace, *patterns: str, env: dict | None = None) -> Run:
    """Build `patterns` (default //...) until the next plain build is answered
    by the up-to-date check, and return that answer: build, age the workspace
    past the racy window, build again (that build records the stats). A path
    outside the workspace that something else on the machine modified within
    the window (a directory on PATH, wasmelt's own code) leaves the stats
    unrecorded, named in the build record: then age and record again."""
    from wasmelt.engine import client, trace

    patterns = patterns or ("//...",)
    first = ws.run("build", *patterns, env=env)
    assert first.code == 0, first.err
    records = client.records_path(str(ws.cache), str(ws.root.resolve()))
    outside = []
    for _ in range(3):
        age_tree(ws.root)
        recording = ws.run("build", *patterns, env=env)
        assert recording.code == 0 and UP_TO_DATE not in recording.err, recording.err
        racy = (trace.last_build(records)[0] or {}).get("racy")
        if racy is None or racy.startswith(str(ws.root.resolve())):
            break
        outside.append(racy)
    answered = ws.run("build", *patterns, env=env)
    assert answered.code == 0 and UP_TO_DATE in answered.err, (answered.err, "racy:", racy, outside)
    assert answered.counts["executed"] == 0
    return answered


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the running processes that contain `text`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(cmdline)
    return found


def age_tree(root, seconds: float = 30) -> None:
    """Every file and directory under root (and root) older than the trace's racy
    window, so a null-build record made next is kept."""
    then = time.time_ns() - int(seconds * 1e9)
    for directory, dirs, files in os.walk(root):
        for name in files + dirs:
            os.utime(os.path.join(directory, name), ns=(then, then), follow_symlinks=False)
    os.utime(root, ns=(then, then))


@pytest.fixture(params=["wasmelt-sandbox", "bwrap"])
def launcher(request, monkeypatch):
    """Each program that runs the namespace sandbox's mount plan in turn (wasmelt's
    own, which scripts/setup builds, and bubblewrap), chosen through
    WASMELT_SANDBOX_LAUNCHER; skipped, saying why, where it cannot make namespaces."""
    from wasmelt.engine import sandbox_probe

    exe, why = sandbox_probe._probe(sandbox_probe.own_launcher() if request.param == sandbox_probe.LAUNCHER
                                    else request.param)
    if exe is None:
        pytest.skip(why)
    monkeypatch.setenv(sandbox_probe.LAUNCHER_ENV, exe)
    return exe
