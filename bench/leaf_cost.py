"""What the engine spends on a leaf edit as the server runs it, without the
client, the watcher or the actions' processes: bench/gen_workspace.py's graph,
one in-process Memo told of the edited file (as the server's watcher tells it),
`wasmelt build //...` through wasmelt.main, the actions run by an in-process
fake (or, with --real, sandboxed as usual); split into phases by timing the
functions it calls. Measured, never asserted.

    .venv/bin/python bench/leaf_cost.py --targets 2000 --runs 15
    .venv/bin/python bench/leaf_cost.py --targets 2000 --runs 15 --real
    OTHER/venv/bin/python bench/leaf_cost.py        # another install's engine (it imports wasmelt)
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from action_cost import Phases  # noqa: E402
from gen_workspace import WorkspaceInfo, edit_leaf, generate  # noqa: E402


def fake_run(self, action, inputs):
    """An action's outputs from its input digests, in-process (no sandbox, no process)."""
    from wasmelt.engine.runner import RunResult

    data = hashlib.sha1(repr(sorted(inputs.items())).encode()).hexdigest().encode() + b"\n"
    return RunResult({out.path: data for out in action.outputs})


def instrument(phases: Phases) -> None:
    from wasmelt import main, report
    from wasmelt.commands import build
    from wasmelt.engine import executor, memo, session, trace

    wanted = [
        (main, "prepare", "argv parsed, the plan (the memo's)", 0),
        (session, "build", "session.build", 0),
        (session, "schedule", "scheduler.schedule", 1),
        (executor.Executor, "untouched", "the untouched set (rebuild.untouched)", 2),
        (executor.Executor, "cached", "decide (the changed actions)", 2),
        (executor.Executor, "run", "Executor.run (the changed actions)", 2),
        (trace.Trace, "record_build", "trace.record_build", 1),
        (trace.Trace, "save", "trace.save", 1),
        (session, "_tool_stats", "the tools' stats", 1),
        (memo.Memo, "built", "memo.built", 1),
        (build, "keep_cache_size", "keep_cache_size", 0),
        (report, "summary", "the summary line", 0),
    ]
    for owner, name, label, depth in wanted:
        if isinstance(owner, type):
            owner = next((c for c in owner.__mro__ if name in c.__dict__), None)
        if owner is not None and name in vars(owner):
            phases.wrap(owner, name, label, depth)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--real", action="store_true", help="run the actions sandboxed (bubblewrap) instead of the fake")
    ap.add_argument("--workdir", type=Path, default=None, help="keep the workspace and cache here (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="leaf-cost-") as tmp:
        work = args.workdir or Path(tmp)
        root = work / f"ws-{args.targets}"
        os.environ["WASMELT_CACHE"] = str(work / f"cache-{args.targets}")
        os.environ["WASMELT_SERVER"] = "0"
        info = WorkspaceInfo(**json.loads((root / "bench-workspace.json").read_text())) \
            if (root / "bench-workspace.json").exists() else generate(root, args.targets)
        os.chdir(root)
        from wasmelt.engine import runner
        from wasmelt.engine.memo import Memo
        from wasmelt.main import main as wasmelt

        if not args.real:
            runner.LocalRunner.run = fake_run
        argv = ["build", "//...", "-q", "-j", "2"]
        memo = Memo()
        devnull = open(os.devnull, "w")
        saved = sys.stderr

        def build() -> float:
            sys.stderr = devnull
            gc.disable()  # as the server does while it answers
            started = time.perf_counter()
            try:
                if wasmelt(argv, memo) != 0:
                    raise SystemExit("the build failed")
            finally:
                elapsed = time.perf_counter() - started
                gc.enable()
                gc.collect()
                sys.stderr = saved
            return elapsed

        build()  # cold (or from the cache), then past the racy window, then watched
        time.sleep(2.1)
        stamp = int(time.time() * 100)

        def leaf(i: int) -> float:
            memo.anchored = memo.synced = True  # what the server sets once its watcher is synced
            edit_leaf(info, stamp + i)
            memo.note({str(root / info.leaf_source)})
            return build()

        for i in range(3):
            leaf(-1 - i)
        phases = Phases()
        instrument(phases)
        whole = []
        for i in range(args.runs):
            whole.append(leaf(i))
            phases.end_run()
        phases.restore()
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    runs = "sandboxed" if args.real else "an in-process fake"
    print(f"leaf edit of {args.targets} targets through an in-process memo, actions run by {runs}, "
          f"median of {args.runs} runs (ms)")
    print(f"{'the whole build':44s} {ms(whole):6.2f}")
    for depth, label in phases.order:
        print(f"{'  ' * depth + label:44s} {ms(phases.samples[label]):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
