"""Where a wasmelt null build spends its time: cProfile of `wasmelt build //...`
on an up-to-date synthetic workspace, beside interpreter start and import costs.

    python bench/profile_null.py --targets 10000 [--workspace DIR] [--top 15]

Two null builds are profiled: the one a user gets (`wasmelt build`, answered by
the up-to-date check when nothing changed), and the full path that check skips
(load, analysis, the executor's cache hits), which every edit still pays.
The profiled build runs with -j 1 and profiles the worker thread too; the
two profiles are merged.
"""

from __future__ import annotations

import argparse
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_workspace import generate  # noqa: E402


def wall(argv: list[str], cwd: Path, env: dict, runs: int = 3) -> float:
    """Median wall time of `argv`, which must succeed."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def short(func: tuple) -> str:
    path, line, name = func
    if path == "~":
        return name
    parts = Path(path).parts
    where = "/".join(parts[-3:] if "wasmelt" in parts or "site-packages" in parts else parts[-2:])
    return f"{where}:{line}({name})"


def print_top(stats: pstats.Stats, key: str, top: int, total: float) -> None:
    rows = sorted(stats.stats.items(), key=lambda kv: kv[1][3 if key == "cumulative" else 2], reverse=True)
    if key == "cumulative":  # drop the frames every call runs under (runpy, main, ...)
        rows = [kv for kv in rows if kv[1][3] < 0.97 * total]
    print(f"\ntop {top} by {key} time (of {total:.3f}s profiled):")
    print(f"{'cum s':>8} {'cum %':>6} {'own s':>8} {'calls':>9}  function")
    for func, (cc, nc, tt, ct, _callers) in rows[:top]:
        print(f"{ct:8.3f} {100 * ct / total:5.1f}% {tt:8.3f} {nc:9d}  {short(func)}")


def profiled_build(out: Path, full: bool) -> None:
    """In this process: build //... with -j 1, profiling the main and the worker thread;
    `full` bypasses the up-to-date check."""
    import cProfile

    from wasmelt.engine import executor

    worker = cProfile.Profile()
    run = executor.Executor.run

    def profiled_run(self, *args, **kwargs):
        worker.enable()
        try:
            return run(self, *args, **kwargs)
        finally:
            worker.disable()

    executor.Executor.run = profiled_run
    main_thread = cProfile.Profile()
    main_thread.enable()
    if full:
        import gc

        from wasmelt import rules  # noqa: F401
        from wasmelt.main import main as cli_main

        gc.disable()  # as wasmelt.cli does
    else:
        from wasmelt.cli import main as cli_main
    code = cli_main(["build", "//...", "-q", "-j", "1"])
    main_thread.disable()
    stats = pstats.Stats(main_thread)
    worker.create_stats()
    if worker.stats:  # empty when no action reached a worker thread (every null build)
        stats.add(worker)
    stats.dump_stats(str(out))
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=10000)
    ap.add_argument("--workspace", type=Path, default=None,
                    help="an already generated workspace (default: a fresh one under /tmp)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--pstats", type=Path, default=Path("/tmp/wasmelt-null.pstats"), help="where to keep the raw profile")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--full", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return profiled_build(args.pstats, args.full)
    ws = args.workspace or Path(f"/tmp/wasmelt-profile-{args.targets}")
    if not (ws / "bench-workspace.json").exists():
        print(f"generating {args.targets} targets in {ws} ...", file=sys.stderr)
        generate(ws, args.targets)
    env = dict(os.environ, WASMELT_SERVER="0")
    env.setdefault("WASMELT_CACHE", str(ws.parent / (ws.name + "-cache")))
    py = sys.executable
    build = [py, "-m", "wasmelt", "build", "//...", "-q"]
    print("building (cold the first time) ...", file=sys.stderr)
    subprocess.run(build, cwd=ws, env=env, check=True)
    subprocess.run(build, cwd=ws, env=env, check=True)  # settle racily-clean sources

    start_s = wall([py, "-c", "pass"], ws, env, 5)
    import_s = wall([py, "-c", "import wasmelt.cli"], ws, env, 5)
    rules_s = wall([py, "-c", "import wasmelt.cli, wasmelt.rules"], ws, env, 5)
    time.sleep(0.2)  # past the timestamp granularity of the last outputs: the record is kept
    subprocess.run(build, cwd=ws, env=env, check=True)
    null_s = wall(build, ws, env, 5)
    full_s = wall([py, "-c", "import sys, gc; gc.disable(); from wasmelt import rules; "
                   "from wasmelt.main import main; sys.exit(main(sys.argv[1:]))", "build", "//...", "-q"],
                  ws, env, 3)
    print(f"null build of {args.targets} targets, {ws}")
    print(f"  wall time (median of 5, no profiler): {null_s:.3f}s  (the up-to-date check)")
    print(f"  full path (median of 3):              {full_s:.3f}s  (load + analysis + cache hits)")
    print(f"  interpreter start `python -c pass`:   {start_s:.3f}s")
    print(f"  `import wasmelt.cli` incl. start:     {import_s:.3f}s")
    print(f"  ... and `wasmelt.rules` (every kind): {rules_s:.3f}s")
    for full in (False, True):
        child = [py, str(Path(__file__).resolve()), "--child", "--pstats", str(args.pstats)] + (["--full"] if full else [])
        subprocess.run(child, cwd=ws, env=env, check=True, stderr=subprocess.DEVNULL)
        stats = pstats.Stats(str(args.pstats))
        total = stats.total_tt
        print(f"\n== {'full path' if full else 'null build as run'}: profiled total, both threads {total:.3f}s "
              "(-j 1; cProfile inflates call-heavy code)")
        print_top(stats, "cumulative", args.top, total)
        print_top(stats, "own", args.top, total)


if __name__ == "__main__":
    main()
