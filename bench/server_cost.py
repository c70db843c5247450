"""Where a leaf edit's time goes inside the server: a server started with its
functions wrapped in timers (each call's start and end, per request), driven by
real clients from here; measured, never asserted.

    .venv/bin/python bench/server_cost.py --targets 2000 --runs 21
    .venv/bin/python bench/server_cost.py --workdir /tmp/sc --null   # null builds instead of leaf edits

Prints, per phase, the median time per request (and calls per request), then
the timeline of the median request from the client's spawn to its exit and
what the server did after answering (until it waited for the next request).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_workspace import WorkspaceInfo, edit_leaf, generate  # noqa: E402

# (module, owner or None, attribute, label): what the server's log times
WRAPPED = [
    ("wasmelt.engine.client", None, "read_message", "doorman: request read"),
    ("wasmelt.engine.server", "Server", "_handle", "_handle"),
    ("wasmelt.engine.server", "Server", "_stale", "code stale check"),
    ("wasmelt.engine.server", "Server", "_run", "_run"),
    ("wasmelt.engine.server", "Server", "_send", "answer frame sent"),
    ("wasmelt.engine.server", "Server", "_start_watching", "watcher started"),
    ("wasmelt.engine.server", "Server", "_stop_watching", "watcher stopped"),
    ("wasmelt.engine.connection", None, "command_streams", "command streams"),
    ("wasmelt.engine.connection", "HangupMonitor", "__init__", "hang-up monitor started"),
    ("wasmelt.engine.connection", "HangupMonitor", "close", "hang-up monitor closed"),
    ("wasmelt.commands.server", "Frontend", "parse", "argv parsed"),
    ("wasmelt.commands.server", "Frontend", "run", "command (wasmelt.main)"),
    ("wasmelt.engine.watcher", "Watcher", "sync", "watcher sync"),
    ("wasmelt.engine.rebuild", None, "null_build", "null_build"),
    ("wasmelt.main", None, "parse", "main: argv parsed again"),
    ("wasmelt.main", None, "prepare", "main: prepare (plan)"),
    ("wasmelt.engine.session", None, "open_workspace", "open_workspace"),
    ("wasmelt.engine.settings", None, "check_settings", "check_settings"),
    ("wasmelt.engine.session", None, "plan", "session.plan"),
    ("wasmelt.engine.session", None, "build", "session.build"),
    ("wasmelt.engine.session", None, "_tool_stats", "tool stats"),
    ("wasmelt.engine.scheduler", None, "schedule", "schedule"),
    ("wasmelt.engine.executor", "Executor", "untouched", "rebuild.untouched"),
    ("wasmelt.engine.executor", "Executor", "cached", "executor.cached (decide)"),
    ("wasmelt.engine.executor", "Executor", "run", "executor.run"),
    ("wasmelt.engine.runner", "LocalRunner", "run", "LocalRunner.run"),
    ("wasmelt.engine.sandbox_tree", None, "make_sandbox", "make_sandbox"),
    ("wasmelt.engine.runner", None, "stage_source", "stage_source"),
    ("wasmelt.engine.blobs", "Blobs", "stage", "store.stage"),
    ("wasmelt.engine.sandbox", None, "run_in_sandbox", "run_in_sandbox"),
    ("wasmelt.engine.sandbox", None, "namespace_argv", "namespace_argv"),
    ("wasmelt.engine.sandbox", None, "_spawn", "_spawn"),
    ("subprocess", "Popen", "__init__", "Popen (fork+exec)"),
    ("wasmelt.engine.sandbox", None, "_wait", "wait for exit"),
    ("wasmelt.engine.sandbox", None, "check_outputs", "check_outputs"),
    ("wasmelt.engine.sandbox_tree", None, "collect_outputs", "collect_outputs"),
    ("wasmelt.engine.sandbox_tree", None, "remove_sandbox", "remove_sandbox"),
    ("wasmelt.engine.executor", None, "digest_file", "sources hashed again"),
    ("wasmelt.engine.store", "Store", "put_action", "put_action"),
    ("wasmelt.engine.executor", "Executor", "_materialize", "_materialize"),
    ("wasmelt.engine.trace", "Trace", "record_build", "trace.record_build"),
    ("wasmelt.engine.trace", "Trace", "save", "trace.save"),
    ("wasmelt.engine.trace", "Trace", "_snapshot", "trace recompacted"),
    ("wasmelt.engine.memo", "Memo", "built", "memo.built"),
    ("wasmelt.engine.sizes", None, "remember_built", "remember_built"),
    ("wasmelt.commands.build", None, "keep_cache_size", "keep_cache_size"),
    ("wasmelt.report", None, "summary", "report.summary"),
    ("gc", None, "collect", "gc.collect"),
    ("gc", None, "freeze", "gc.freeze"),
]


def instrument(calls: list) -> None:
    """Wrap WRAPPED: each call appends (label, start, end) to `calls`."""
    import importlib

    for module_name, owner_name, attr, label in WRAPPED:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        owner = getattr(module, owner_name, None) if owner_name else module
        if owner is None:
            continue
        if isinstance(owner, type):
            owner = next((c for c in owner.__mro__ if attr in c.__dict__), None)
        if owner is None or attr not in vars(owner):
            continue
        original = vars(owner)[attr]
        static = isinstance(original, staticmethod)
        original = original.__func__ if static else original
        extra = None
        if attr == "_send":
            extra = lambda a: a[2][:1].decode()  # noqa: E731 - the frame's kind

        def timed(*args, _original=original, _label=label, _extra=extra, **kwargs):
            started = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                calls.append((_label + (f" {_extra(args)}" if _extra else ""), started, time.perf_counter()))

        functools.update_wrapper(timed, original)
        setattr(owner, attr, staticmethod(timed) if static else timed)
        # names imported into other modules' namespaces
        if owner is module:
            for other in list(sys.modules.values()):
                if other is not module and getattr(other, "__name__", "").startswith("wasmelt") and \
                        vars(other).get(attr) is original:
                    setattr(other, attr, timed)


def serve(log_path: str) -> int:
    """`wasmelt server serve` with WRAPPED timed; one JSON line per request (its calls)."""
    calls: list = []
    instrument(calls)
    from wasmelt.engine import server

    handle = server.Server._handle
    log = open(log_path, "a")

    def logged(self, conn, message):
        try:
            return handle(self, conn, message)
        finally:
            # the post-answer work is inside _handle: flushed after it, before the next wait
            log.write(json.dumps({"calls": calls[:]}) + "\n")
            log.flush()
            calls.clear()

    server.Server._handle = logged
    sys.argv = ["wasmelt", "server", "serve", "--max_idle_secs", "600"]
    from wasmelt.main import main

    return main(["server", "serve", "--max_idle_secs", "600"])


def nested(calls):
    """(label, start, end, time in its direct timed callees) of each call."""
    ordered = sorted(calls, key=lambda c: (c[1], -c[2]))
    inner = [0.0] * len(ordered)
    stack: list[int] = []
    for i, (_, a, b) in enumerate(ordered):
        while stack and ordered[stack[-1]][2] <= a:
            stack.pop()
        if stack and b <= ordered[stack[-1]][2]:
            inner[stack[-1]] += b - a
        stack.append(i)
    return [(label, a, b, inner[i]) for i, (label, a, b) in enumerate(ordered)]


def _first(req, label: str) -> float:
    return min(a for l, a, _ in req["calls"] if l == label)


def _last(req, label: str) -> float:
    return max(b for l, _, b in req["calls"] if l == label)


def in_process(args, root: Path, cache: Path, info) -> int:
    """The builds through wasmelt.main in this process, a Memo kept between them."""
    import gc

    os.environ.update({"WASMELT_CACHE": str(cache), "WASMELT_SERVER": "0"})
    os.chdir(root)
    from wasmelt.engine.memo import Memo
    from wasmelt.main import main as wasmelt

    calls: list = []
    memo = Memo()
    devnull = open(os.devnull, "w")

    def build() -> tuple[float, float]:
        saved, sys.stderr = sys.stderr, devnull
        gc.disable()
        started = time.perf_counter()
        try:
            if wasmelt(["build", "//...", "-q", "-j", "2"], memo) != 0:
                raise SystemExit("the build failed")
        finally:
            ended = time.perf_counter()
            gc.enable()
            gc.collect()
            sys.stderr = saved
        return started, ended

    build()
    time.sleep(2.2)
    stamp = int(time.time() * 100)
    instrument(calls)
    spans, requests = [], []
    for i in range(args.runs + 3):
        time.sleep(args.pause)
        memo.anchored = memo.synced = True  # what the server sets once its watcher is synced
        if not args.null:
            edit_leaf(info, stamp + i)
            memo.note({str(root / info.leaf_source)})
        calls.clear()
        spans.append(build())
        requests.append({"calls": calls[:]})
    report(args, spans[3:], requests[3:], "in-process")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--targets", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=21)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/wasmelt-server-cost"))
    ap.add_argument("--null", action="store_true", help="time null builds, not leaf edits")
    ap.add_argument("--pause", type=float, default=0.2, help="seconds between two requests")
    ap.add_argument("--inprocess", action="store_true",
                    help="the same builds in this process through one Memo (as the server keeps it), no client")
    ap.add_argument("--serve", metavar="LOG", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve)
    root = args.workdir / f"ws-{args.targets}"
    cache = args.workdir / f"cache-{args.targets}"
    info = WorkspaceInfo(**json.loads((root / "bench-workspace.json").read_text())) \
        if (root / "bench-workspace.json").exists() else generate(root, args.targets)
    exe = str(Path(sys.executable).with_name("wasmelt"))
    env = {**os.environ, "WASMELT_CACHE": str(cache), "WASMELT_SERVER": "0"}
    log_path = args.workdir / "server-calls.jsonl"
    log_path.unlink(missing_ok=True)

    def client(server: bool) -> tuple[float, float, str]:
        e = {**env, "WASMELT_SERVER": "1" if server else "0"}
        started = time.perf_counter()
        proc = subprocess.run([exe, "build", "//...", "-q", "-j", "2"], cwd=root, env=e,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        ended = time.perf_counter()
        if proc.returncode:
            raise SystemExit(proc.stderr[-800:])
        return started, ended, proc.stderr

    subprocess.run([exe, "build", "//...", "-q", "-j", "2", "--sandbox=none"], cwd=root, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    if args.inprocess:
        return in_process(args, root, cache, info)
    subprocess.run([exe, "server", "stop"], cwd=root, env=env, capture_output=True)  # a reused --workdir's
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(log_path)], cwd=root, env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=open(args.workdir / "server.log", "ab"), start_new_session=True)
    try:
        records = Path(subprocess.run([sys.executable, "-c", "from wasmelt.engine.workspace import find_workspace, "
                                       "records_dir; print(records_dir(find_workspace(__import__('pathlib').Path.cwd())))"],
                                      cwd=root, env=env, capture_output=True, text=True, check=True).stdout.strip())
        for _ in range(200):
            if (records / "server.sock").exists():
                break
            time.sleep(0.05)
        client(True)  # the server's first build
        time.sleep(2.2)  # past the racy window
        for i in range(3):
            client(True)
        stamp = int(time.time() * 100)
        spans = []
        for i in range(args.runs + 3):
            time.sleep(args.pause)
            if not args.null:
                edit_leaf(info, stamp + i)
            started, ended, err = client(True)
            want = "nothing changed" if args.null else "3 executed"
            if want not in err:
                raise SystemExit(f"not a {'null build' if args.null else 'leaf edit'}: {err[-400:]}")
            spans.append((started, ended))
        time.sleep(0.5)
    finally:
        server.terminate()
        server.wait()
    lines = [json.loads(line) for line in log_path.read_text().splitlines()]
    if len(lines) < len(spans):
        raise SystemExit(f"the timed server answered {len(lines)} of {len(spans)} requests: another server "
                         f"answered the rest (see {args.workdir / 'server.log'})")
    report(args, spans[3:], lines[-len(spans):][3:], "through a timed server")
    return 0


def report(args, spans, requests, how: str) -> None:
    totals: dict[str, list[float]] = {}
    selfs: dict[str, list[float]] = {}
    counts: dict[str, list[int]] = {}
    order: list[str] = []
    for req in requests:
        per: dict[str, float] = {}
        own: dict[str, float] = {}
        n: dict[str, int] = {}
        for label, a, b, inner in nested(req["calls"]):
            if label not in order:
                order.append(label)
            per[label] = per.get(label, 0.0) + (b - a)
            own[label] = own.get(label, 0.0) + (b - a) - inner
            n[label] = n.get(label, 0) + 1
        for label in order:
            totals.setdefault(label, []).append(per.get(label, 0.0))
            selfs.setdefault(label, []).append(own.get(label, 0.0))
            counts.setdefault(label, []).append(n.get(label, 0))
    whole = [b - a for a, b in spans]
    print(f"{'leaf edit' if not args.null else 'null build'} of {args.targets} targets {how}, "
          f"median of {len(spans)} runs (ms)")
    print(f"{'client spawn to exit':40s} {statistics.median(whole) * 1000:7.2f}   (self: not in a timed callee)")
    for label in order:
        print(f"  {label:38s} {statistics.median(totals[label]) * 1000:7.2f}  {statistics.median(selfs[label]) * 1000:7.2f}"
              f"  x{statistics.median(counts[label]):g}")
    if not args.inprocess:
        before = [(_first(r, "doorman: request read") - a) for r, (a, b) in zip(requests, spans)]
        after = [(b - _last(r, "answer frame sent x")) for r, (a, b) in zip(requests, spans)]
        print(f"  {'spawn to request read (the client)':38s} {statistics.median(before) * 1000:7.2f}")
        print(f"  {'answer sent to exit (the client)':38s} {statistics.median(after) * 1000:7.2f}")
    k = sorted(range(len(whole)), key=whole.__getitem__)[len(whole) // 2]
    t0, t1 = spans[k]
    print(f"\ntimeline of the median request ({whole[k] * 1000:.2f} ms), ms from the client's spawn:")
    for label, a, b in sorted(requests[k]["calls"], key=lambda c: (c[1], -c[2])):
        print(f"  {(a - t0) * 1000:7.2f} {(b - t0) * 1000:7.2f}  {(b - a) * 1000:6.2f}  {label}")
    print(f"  {(t1 - t0) * 1000:7.2f}          {'returned' if args.inprocess else 'client exited'}")


if __name__ == "__main__":
    sys.exit(main())
