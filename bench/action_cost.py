"""What one sandboxed genrule action costs through the engine's own path
(Executor.run: the decision, LocalRunner, bubblewrap, the store, the output in
place), split into phases by timing the functions it calls; measured, never asserted.

    .venv/bin/python bench/action_cost.py --runs 50
    .venv/bin/python bench/action_cost.py --runs 50 --profile   # plus cProfile's top entries
    OTHER/venv/bin/python bench/action_cost.py                  # another install's engine (it imports wasmelt)

The action is one of bench/gen_workspace.py's: `cat <a source> <a generated
input> | cksum > <output>`, its source rewritten before every run so it runs.
Beside it, the same command bare and in a bare `bwrap` (the floor).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

class Phases:
    """Wall time per wrapped function, inclusive, per run."""

    def __init__(self):
        self.current: dict[str, float] = defaultdict(float)
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.order: list[tuple[int, str]] = []
        self.undo: list[tuple[object, str, object]] = []

    def wrap(self, owner, name: str, label: str, depth: int) -> None:
        original = owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)
        if isinstance(original, staticmethod):
            original = original.__func__
        current = self.current

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                current[label] += time.perf_counter() - started

        setattr(owner, name, timed)
        self.undo.append((owner, name, original))
        self.order.append((depth, label))

    def end_run(self) -> None:
        for _, label in self.order:
            self.samples[label].append(self.current.get(label, 0.0))
        self.current.clear()

    def restore(self) -> None:
        for owner, name, original in reversed(self.undo):
            setattr(owner, name, original)


def chain_action():
    """A leaf-edit action of the bench graph: a source and an upstream output in, one output."""
    from wasmelt.engine.actions import Action, Artifact, ToolRef
    from wasmelt.engine.labels import Label

    out = "wasmelt-out/lib/g00/p00001/i1"
    command = f"cat lib/g00/p00001/leaf0.txt wasmelt-out/lib/g00/p00000/i0 | cksum > {out}"
    return Action(Label("lib/g00/p00001", "i1"), "Genrule", ("/bin/sh", "-c", command),
                  (Artifact("lib/g00/p00001/leaf0.txt", True), Artifact("wasmelt-out/lib/g00/p00000/i0", False)),
                  (Artifact(out, False),), (ToolRef("/bin/sh", "/bin/sh", "sh", "0" * 32),))


def instrument(phases: Phases) -> None:
    from wasmelt.engine import executor, runner, store
    from wasmelt.engine import sandbox

    modules = [sandbox]
    for name in ("sandbox_tree", "sandbox_argv", "sandbox_probe", "blobs"):
        try:
            modules.append(__import__(f"wasmelt.engine.{name}", fromlist=["_"]))
        except ImportError:
            pass

    def find(name: str):
        for module in modules:
            if name in module.__dict__:
                return module
        return None

    wanted = [
        (executor.Executor, "run", "Executor.run (the whole action)", 0),
        (executor.Executor, "_lookup", "decide: key, action cache lookup", 1),
        (runner.LocalRunner, "run", "LocalRunner.run", 1),
        ("make_sandbox", "sandbox directory made", 2),
        (runner, "stage_source", "source staged", 2),
        (store.Store, "stage", "generated input from the CAS", 2),
        ("run_in_sandbox", "run_in_sandbox", 2),
        ("namespace_argv", "namespace argv", 3),
        ("_spawn", "spawn + wait (launcher, sh, cat, cksum)", 3),
        ("check_outputs", "output contract check", 3),
        ("collect_outputs", "outputs into the CAS", 2),
        ("remove_sandbox", "sandbox removed", 2),
        (executor, "digest_file", "sources hashed again", 1),
        (store.Store, "put_bytes", "stdout/stderr blobs", 1),
        (store.Store, "put_action", "action cache entry written", 1),
        (executor.Executor, "_materialize", "output placed in wasmelt-out", 1),
    ]
    for item in wanted:
        if isinstance(item[0], str):
            name, label, depth = item
            module = find(name)
            if module is None:
                continue
            phases.wrap(module, name, label, depth)
            for other in modules + [runner]:  # names imported elsewhere too
                if other is not module and name in other.__dict__:
                    phases.wrap(other, name, label + " ", depth)
                    phases.order.pop()
        else:
            owner, name, label, depth = item
            if isinstance(owner, type):  # the class that defines it (Store's CAS half is engine.blobs)
                owner = next((c for c in owner.__mro__ if name in c.__dict__), None)
            if owner is not None and name in vars(owner):
                phases.wrap(owner, name, label, depth)


def setup(tmp: Path):
    from wasmelt.engine import sandbox
    from wasmelt.engine.executor import Executor
    from wasmelt.engine.store import Store
    from wasmelt.engine.trace import Trace
    from wasmelt.engine.workspace import Workspace

    sandbox.configure("namespace")
    ws_root, cache = tmp / "ws", tmp / "cache"
    (ws_root / "lib/g00/p00001").mkdir(parents=True)
    (ws_root / "wasmelt-out/lib/g00/p00000").mkdir(parents=True)
    (ws_root / "BUILD.toml").write_text('[workspace]\nname = "action-cost"\n')
    upstream = b"1234 56\n"
    (ws_root / "wasmelt-out/lib/g00/p00000/i0").write_bytes(upstream)
    store = Store(cache)
    store.put_bytes(upstream)
    ws = Workspace(ws_root, {}, cache)
    trace = Trace(cache / "records")
    return ws_root, Executor(ws, store, trace, timeout=60), store


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--profile", action="store_true", help="also print cProfile's top entries")
    ap.add_argument("--tmp", type=Path, default=None, help="where the workspace and cache go (default: under /tmp)")
    args = ap.parse_args()
    from wasmelt.engine.actions import digest_bytes

    action = chain_action()
    source = "lib/g00/p00001/leaf0.txt"
    with tempfile.TemporaryDirectory(prefix="action-cost-", dir=args.tmp) as tmp:
        ws_root, executor, store = setup(Path(tmp))
        inputs = {"wasmelt-out/lib/g00/p00000/i0": digest_bytes(b"1234 56\n")}
        stamp = int(time.time() * 1000)

        def one(i: int) -> float:
            data = f"leaf {stamp} {i}\n".encode()
            (ws_root / source).write_bytes(data)
            started = time.perf_counter()
            record = executor.run(action, {**inputs, source: digest_bytes(data)})
            elapsed = time.perf_counter() - started
            assert record.outputs, record
            return elapsed

        for i in range(3):  # warm: the probe, the scratch directory, the page cache
            one(-1 - i)
        phases = Phases()
        instrument(phases)
        whole, bare, bwrap = [], [], []
        from wasmelt.engine import sandbox

        floor = [sandbox.launcher_path(), "--unshare-all", "--die-with-parent", "--ro-bind", "/usr", "/usr",
                 "--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
                 "--proc", "/proc", "--dev", "/dev", "--bind", str(ws_root), str(ws_root), "--chdir", str(ws_root),
                 "--", "/bin/sh", "-c", f"cat {source} wasmelt-out/lib/g00/p00000/i0 | cksum > /dev/null"]
        for i in range(args.runs):
            whole.append(one(i))
            phases.end_run()
            started = time.perf_counter()
            subprocess.run(floor[-3:], cwd=ws_root, check=True)
            bare.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(floor, cwd=ws_root, check=True)
            bwrap.append(time.perf_counter() - started)
        phases.restore()
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            for i in range(args.runs):
                one(args.runs + i)
            profiler.disable()
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    print(f"one sandboxed genrule action through Executor.run, median of {args.runs} runs (ms)")
    print(f"{'Executor.run, untimed':44s} {ms(whole):6.2f}")
    for depth, label in phases.order:
        print(f"{'  ' * depth + label:44s} {ms(phases.samples[label]):6.2f}")
    print(f"{'the command alone (sh -c, no sandbox)':44s} {ms(bare):6.2f}")
    print(f"{'the command in a bare bwrap':44s} {ms(bwrap):6.2f}")
    if args.profile:
        stats = pstats.Stats(profiler)
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    sys.exit(main())
