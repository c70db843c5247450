"""Before/after of an engine change on one machine under whatever load it has:
two installs of wasmelt and ninja build copies of one generated graph,
alternated command by command, so each pair of figures sees the same load.
Separate caches per install.

    python bench/paired.py --before 2fe5774 --after . --targets 2000 --runs 11

--before and --after each name a commit (installed by its own scripts/setup,
as users get it: compare.installed_wasmelt, kept in --workdir), `.` (this
checkout as it is now, installed afresh) or a `wasmelt` executable.

Prints the cold in-process build (time, peak RSS), the medians of the null build
in-process and through the server, and of a leaf edit through the server; ninja
builds a third copy for reference (its output directory in a wasmelt copy would
be one more tree for that copy's `//...` to walk).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import installed_wasmelt  # noqa: E402
from gen_workspace import WorkspaceInfo, edit_leaf, generate  # noqa: E402


def load_info(root: Path) -> WorkspaceInfo:
    import json

    return WorkspaceInfo(**json.loads((root / "bench-workspace.json").read_text()))


def install(which: str, workdir: Path) -> str:
    """The `wasmelt` executable `which` names (see the module's docstring)."""
    if os.path.isfile(which):
        return which
    if which == ".":
        venv = workdir / "venv-checkout"
        shutil.rmtree(venv, ignore_errors=True)
        return str(installed_wasmelt(venv))
    commit = subprocess.run(["git", "rev-parse", "--short", which], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parent).stdout.strip()
    return str(installed_wasmelt(workdir / f"venv-{commit}", commit))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--targets", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=11)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/wasmelt-paired"))
    ap.add_argument("--reuse", action="store_true",
                    help="keep the workspaces and caches of an earlier run (no cold build is measured)")
    ap.add_argument("--cold-flags", default="",
                    help="extra flags of the cold build only, e.g. --sandbox=none (the other builds reuse its cache)")
    args = ap.parse_args()
    work = args.workdir / str(args.targets)
    installs = {"before": install(args.before, args.workdir), "after": install(args.after, args.workdir)}
    # With the native client (scripts/setup), pip's console script is beside it as wasmelt-python.
    scripts = {name: str(Path(exe).with_name("wasmelt-python")) for name, exe in installs.items()
               if Path(exe).with_name("wasmelt-python").exists()}
    for name, exe in installs.items():
        wrapper = Path(scripts.get(name, exe)).read_text().splitlines()[1:4]  # the console script's wrapper
        print(f"{name}: {exe}{' (native client)' if name in scripts else ''}: {wrapper}", flush=True)
    copies = (*installs, "ninja")
    reuse = args.reuse and all((work / name / "bench-workspace.json").exists() for name in copies)
    if not reuse:
        shutil.rmtree(work, ignore_errors=True)
    ws = {name: load_info(work / name) if reuse else generate(work / name, args.targets) for name in copies}

    def build(name: str, server: bool, flags: tuple[str, ...] = (), exe: str | None = None) -> tuple[float, int, str]:
        env = {**os.environ, "WASMELT_SERVER": "1" if server else "0", "WASMELT_CACHE": str(work / f"cache-{name}")}
        start = time.perf_counter()
        proc = subprocess.Popen([exe or installs[name], "build", "//...", "-q", "-j", "2", *flags], cwd=ws[name].root, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        err = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"{name}: {err[-500:]}")
        return seconds, usage.ru_maxrss, err

    def ninja() -> float:
        start = time.perf_counter()
        subprocess.run(["ninja", "-j", "2"], cwd=ws["ninja"].root, capture_output=True, check=True)
        return time.perf_counter() - start

    for name in installs:
        seconds, rss, _ = build(name, False, () if reuse else tuple(args.cold_flags.split()))
        if not reuse:
            print(f"{args.targets} {name} cold in-process {seconds:.1f} s, peak RSS {rss // 1024} MB", flush=True)
    for name in installs:
        build(name, True)  # starts the server (its first build reuses the cache)
    ninja()
    time.sleep(3)  # past every racy window
    samples: dict[str, list[float]] = {}
    for name in installs:
        build(name, False)  # records the up-to-date check
    def interpreter(name: str) -> float:  # the start every command of that install pays
        start = time.perf_counter()
        subprocess.run([os.path.join(os.path.dirname(installs[name]), "python"), "-c", "pass"], check=True)
        return time.perf_counter() - start

    def turns(i: int) -> list[str]:
        """Each run's order flipped, after a pause: the first server's work after its answer
        (a collection, the trace) would otherwise land on the second's command every time."""
        time.sleep(0.2)
        return list(installs) if i % 2 == 0 else list(installs)[::-1]

    for i in range(args.runs):
        for name in turns(i):
            seconds, _, err = build(name, False)
            assert "nothing changed" in err, err[-300:]
            samples.setdefault(f"{name} null", []).append(seconds)
            samples.setdefault(f"{name} python -c pass", []).append(interpreter(name))
            if name in scripts:  # the same without the native client's exec in front
                seconds, _, err = build(name, False, exe=scripts[name])
                assert "nothing changed" in err, err[-300:]
                samples.setdefault(f"{name} null (pip script)", []).append(seconds)
        samples.setdefault("ninja null", []).append(ninja())
    for i in range(args.runs):
        for name in turns(i):
            samples.setdefault(f"{name} server null", []).append(build(name, True)[0])
    base = int(time.time()) * 100  # new bytes on every run, also with --reuse (the cache has the old ones)
    for i in range(args.runs):
        for k, name in enumerate(turns(i)):
            edit_leaf(ws[name], base + 3 * i + k)
            seconds, _, err = build(name, True)
            assert "3 executed" in err, err[-300:]
            samples.setdefault(f"{name} server leaf", []).append(seconds)
        edit_leaf(ws["ninja"], base + 3 * i + 2)
        samples.setdefault("ninja leaf", []).append(ninja())
    for name in installs:
        env = {**os.environ, "WASMELT_CACHE": str(work / f"cache-{name}")}
        subprocess.run([installs[name], "server", "stop"], cwd=ws[name].root, env=env, capture_output=True)
    for key, values in samples.items():
        print(f"{args.targets} {key:26s} median {statistics.median(values) * 1000:7.1f} ms  "
              f"min {min(values) * 1000:7.1f} ms")


if __name__ == "__main__":
    main()
