"""What the sandbox costs per action: cold builds of N independent genrules
(`echo i > $(OUT)`, -j 1) in each --sandbox mode; measured, never asserted.
`--runner N`: only one chained action through the LocalRunner, N times, its
sandbox on the tmpfs and under the cache (on disk) alternately.

    .venv/bin/python bench/sandbox_cost.py --actions 100 --runs 3
    .venv/bin/python bench/sandbox_cost.py --runner 30
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODES = ("none", "directory", "namespace")


def make_workspace(root: Path, actions: int) -> None:
    (root / "p").mkdir(parents=True)
    (root / "BUILD.toml").write_text('[workspace]\nname = "sandbox-bench"\n')
    (root / "p" / "in.txt").write_text("input\n")
    rules = [f'[[genrule]]\nname = "g{i}"\nsrcs = ["in.txt"]\nouts = ["o"]\ncmd = "cat $(SRCS) > $(OUT); echo {i} >> $(OUT)"\n'
             for i in range(actions)]
    (root / "p" / "BUILD.toml").write_text("\n".join(rules))


def cold_build(root: Path, mode: str) -> float:
    cache = Path(tempfile.mkdtemp(prefix="sandbox-bench-cache-"))
    try:
        shutil.rmtree(root / "wasmelt-out", ignore_errors=True)
        env = {**os.environ, "WASMELT_CACHE": str(cache), "WASMELT_SERVER": "0"}
        started = time.monotonic()
        proc = subprocess.run([sys.executable, "-m", "wasmelt", "build", "//p:all", "-j", "1", "-q",
                               f"--sandbox={mode}"], cwd=root, env=env, capture_output=True, text=True)
        elapsed = time.monotonic() - started
        if proc.returncode != 0:
            raise SystemExit(f"--sandbox={mode} failed:\n{proc.stderr}")
        return elapsed
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def spawn_cost(mode: str, n: int) -> float:
    """Seconds per action of run_in_sandbox alone (no scheduling, no store):
    a genrule-like `sh -c` over one input, in a fresh sandbox each time."""
    from wasmelt.engine import sandbox
    from wasmelt.engine.actions import Action, Artifact, ToolRef
    from wasmelt.engine.labels import Label

    action = Action(Label("p", "g"), "Genrule", ("sh", "-c", "cat p/in.txt > wasmelt-out/p/g/o"),
                    (Artifact("p/in.txt", True),), (Artifact("wasmelt-out/p/g/o", False),),
                    (ToolRef("sh", "/bin/sh", "sh", ""),))
    sandbox.configure(mode)
    with tempfile.TemporaryDirectory(prefix="sandbox-spawn-") as tmp:
        started = time.monotonic()
        for _ in range(n):
            box = sandbox.make_sandbox(Path(tmp) / "sandbox")
            (box / "p").mkdir()
            (box / "p" / "in.txt").write_text("input\n")
            (box / "wasmelt-out/p/g").mkdir(parents=True)
            sandbox.run_in_sandbox(action, box, 60, hidden=(tmp,))
            sandbox.remove_sandbox(box)
        return (time.monotonic() - started) / n


def runner_cost(n: int) -> None:
    """One genrule-like action of a chain (a source and a generated input in
    two packages, one output) through LocalRunner.run, as the executor runs
    it: sandbox made, inputs staged, bwrap, outputs into the store, removed."""
    from wasmelt.engine import sandbox
    from wasmelt.engine.actions import Action, Artifact, ToolRef, digest_bytes
    from wasmelt.engine.labels import Label
    from wasmelt.engine.runner import LocalRunner
    from wasmelt.engine.store import Store

    sandbox.configure("namespace")
    with tempfile.TemporaryDirectory(prefix="sandbox-runner-", dir=Path.cwd()) as tmp:
        ws, store = Path(tmp) / "ws", Store(Path(tmp) / "cache")
        (ws / "p").mkdir(parents=True)
        (ws / "p" / "in.txt").write_text("input\n")
        (ws / "wasmelt-out/q/h").mkdir(parents=True)
        (ws / "wasmelt-out/q/h/o").write_text("generated\n")
        command = "cat p/in.txt wasmelt-out/q/h/o > wasmelt-out/p/g/o"
        action = Action(Label("p", "g"), "Genrule", ("sh", "-c", command),
                        (Artifact("p/in.txt", True), Artifact("wasmelt-out/q/h/o", False)),
                        (Artifact("wasmelt-out/p/g/o", False),), (ToolRef("sh", "/bin/sh", "sh", ""),))
        inputs = {"p/in.txt": digest_bytes(b"input\n"), "wasmelt-out/q/h/o": store.put_bytes(b"generated\n")}
        runner = LocalRunner(ws, store, 60)
        tmpfs = sandbox.sandbox_parent(store.root / "sandbox")
        places = {"tmpfs": [tmpfs], "disk": [None]}
        if tmpfs == store.root / "sandbox":
            print("no usable tmpfs here: both rows are the cache's directory")
        samples: dict[str, list[float]] = {"tmpfs": [], "disk": [], "bare": []}
        for _ in range(n):
            for place, scratch in places.items():
                sandbox._scratch[:] = scratch
                started = time.perf_counter()
                runner.run(action, inputs)
                samples[place].append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(["/bin/sh", "-c", "cat p/in.txt wasmelt-out/q/h/o > /dev/null"], cwd=ws, check=True)
            samples["bare"].append(time.perf_counter() - started)
    bare = statistics.median(samples["bare"])
    print(f"one action through LocalRunner.run, median of {n} (alternating)")
    print("| sandbox in | per action | over the bare command |")
    print("|---|---|---|")
    for place in ("disk", "tmpfs"):
        median = statistics.median(samples[place])
        print(f"| {place} | {median * 1000:.1f} ms | {(median - bare) * 1000:+.1f} ms |")
    print(f"| (the command alone, no sandbox) | {bare * 1000:.1f} ms | |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runner", type=int, metavar="N", help="only one action through the LocalRunner, N times")
    args = parser.parse_args()
    if args.runner:
        runner_cost(args.runner)
        return 0
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        root = Path(tmp) / "ws"
        make_workspace(root, args.actions)
        cold_build(root, "none")  # warm the page cache and the parsed BUILD files
        samples: dict[str, list[float]] = {mode: [] for mode in MODES}
        for _ in range(args.runs):  # modes interleaved: a busy machine's drift hits each alike
            for mode in MODES:
                samples[mode].append(cold_build(root, mode))
        times = {mode: statistics.median(v) for mode, v in samples.items()}
    base = times["none"]
    print(f"{args.actions} actions, -j 1, median of {args.runs} cold builds")
    print("| mode | build | per action | over none, per action |")
    print("|---|---|---|---|")
    for mode in MODES:
        per = times[mode] / args.actions * 1000
        over = (times[mode] - base) / args.actions * 1000
        print(f"| {mode} | {times[mode]:.2f} s | {per:.1f} ms | {over:+.1f} ms |")
    print(f"\nrun_in_sandbox alone, median of {args.runs} x {args.actions} actions")
    print("| mode | per action |")
    print("|---|---|")
    spawns: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.runs):
        for mode in MODES:
            spawns[mode].append(spawn_cost(mode, args.actions))
    for mode in MODES:
        print(f"| {mode} | {statistics.median(spawns[mode]) * 1000:.1f} ms |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
