"""Side-by-side benchmark of wasmelt, ninja and Bazel on one synthetic graph:
cold, null, leaf-edit and BUILD-edit builds, cache hits and peak memory.

    python bench/compare.py --sizes 1000,10000 --runs 5 [--tools wasmelt,wasmelt-server,ninja,bazel]

`wasmelt` runs every command in a fresh process; `wasmelt-server` goes through the
background server (`WASMELT_SERVER=1`), like Bazel, which always has its server.

Each figure is the median wall time of --runs builds (cold builds: --cold-runs).
Prints a table with ratios to ninja and to Bazel and writes a JSON result.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_workspace import NINJA_OUT, WorkspaceInfo, edit_build_file, edit_leaf, generate  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("wasmelt", "engine", "rules", "toolchains")  # the checkout's directories an install imports
SCENARIOS = ("cold", "null", "leaf_edit", "build_edit", "cache_hit")


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kb: int
    executed: int | None  # actions the tool says it ran


class ToolFailed(RuntimeError):
    pass


def timed(argv: list[str], cwd: Path, env: dict | None = None) -> tuple[float, int, str]:
    """Wall time, peak RSS (KB, the process and its waited-for children) and output."""
    out = cwd.parent / f".bench-out-{os.getpid()}"
    with open(out, "wb") as f:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out.read_text(errors="replace")
    out.unlink()
    if proc.returncode != 0:
        raise ToolFailed(f"{' '.join(argv)} exited {proc.returncode} in {cwd}:\n{text[-3000:]}")
    return seconds, usage.ru_maxrss, text


def installed_wasmelt(venv: Path, commit: str | None = None) -> Path:
    """The `wasmelt` command as the README's set-up leaves it: `scripts/setup demo`
    of a copy of this checkout (or of `commit`, from git) with VENV=`venv`, so the
    pip that writes the console script is the one `python -m venv` brings, as for
    users (the script's wrapper differs between pip versions: 23.2's imports re).
    The venv takes its dependencies from the running one (a .pth, which set-up's
    pip finds satisfied): the install is the checkout itself, nothing else."""
    exe = venv / "bin" / "wasmelt"
    if exe.exists():
        return exe
    source = venv / "src"  # the editable install points here: it stays
    if commit is None:
        shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "bench", "build", "*.egg-info",
                                                                   "__pycache__", ".wasmelt", "wasmelt-out"))
    else:
        source.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(REPO), "archive", commit], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # what set-up does, with pip
    site = subprocess.run([str(python), "-c", "import site; print(site.getsitepackages()[0])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "wasmelt-bench-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(source / "scripts" / "setup"), "demo"], env={**os.environ, "VENV": str(venv)}, check=True)
    # The bytecode a user's first command leaves behind (with PYTHONDONTWRITEBYTECODE set, as
    # in some shells, every command would compile wasmelt's modules again: ~20 ms).
    subprocess.run([str(python), "-m", "compileall", "-q", *(str(source / p) for p in PACKAGES)], check=True)
    return exe


class Wasmelt:
    """In-process: every command is a fresh `wasmelt` process (no server)."""
    name = "wasmelt"
    build_file = "wasmelt"
    venv = Path("/tmp/wasmelt-bench-venv")  # set by main(): --workdir/venv

    def __init__(self, ws: WorkspaceInfo, work: Path, jobs: int):
        self.root, self.jobs = Path(ws.root), jobs
        self.cache = work / f"{self.name}-cache"
        self.env = dict(os.environ, WASMELT_CACHE=str(self.cache), WASMELT_SERVER="0")
        self.argv = [str(installed_wasmelt(self.venv))]

    @staticmethod
    def available() -> str | None:
        return None

    def version(self) -> str:
        return subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()

    def build(self) -> Run:
        seconds, rss, text = timed(self.argv + ["build", "//...", "-q", "-j", str(self.jobs)], self.root, self.env)
        m = re.search(r"(\d+) executed", text)
        return Run(seconds, rss, int(m.group(1)) if m else None)

    def clean_outputs(self) -> None:
        shutil.rmtree(self.root / "wasmelt-out", ignore_errors=True)

    def clean_all(self) -> None:
        self.clean_outputs()
        shutil.rmtree(self.cache, ignore_errors=True)

    def close(self) -> None:
        pass


class WasmeltServer(Wasmelt):
    """Through the background server (`WASMELT_SERVER=1`: started on demand by
    the first build, so the cold build pays for its start)."""
    name = "wasmelt-server"

    def __init__(self, ws: WorkspaceInfo, work: Path, jobs: int):
        super().__init__(ws, work, jobs)
        self.env["WASMELT_SERVER"] = "1"

    def _server(self, *args: str) -> str:
        return subprocess.run(self.argv + ["server", *args], cwd=self.root, env=self.env, capture_output=True,
                              text=True).stdout

    def server_peak_kb(self) -> int:
        m = re.search(r"pid (\d+)", self._server("status"))
        try:
            status = Path(f"/proc/{m.group(1)}/status").read_text() if m else ""
        except OSError:
            return 0
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(m.group(1)) if m else 0

    def build(self) -> Run:
        run = super().build()
        return Run(run.seconds, max(run.max_rss_kb, self.server_peak_kb()), run.executed)

    def clean_all(self) -> None:
        self._server("stop")
        super().clean_all()

    def close(self) -> None:
        self._server("stop")


class Ninja:
    name = "ninja"
    build_file = "ninja"

    def __init__(self, ws: WorkspaceInfo, work: Path, jobs: int):
        self.root, self.jobs = Path(ws.root), jobs

    @staticmethod
    def available() -> str | None:
        return None if shutil.which("ninja") else "ninja not on PATH (apt-get install ninja-build)"

    def version(self) -> str:
        return subprocess.run(["ninja", "--version"], capture_output=True, text=True).stdout.strip()

    def build(self) -> Run:
        seconds, rss, text = timed(["ninja", "-j", str(self.jobs)], self.root)
        return Run(seconds, rss, len(re.findall(r"^\[\d+/\d+\]", text, re.M)))

    def clean_outputs(self) -> None:
        shutil.rmtree(self.root / NINJA_OUT, ignore_errors=True)
        for f in (".ninja_log", ".ninja_deps"):
            (self.root / f).unlink(missing_ok=True)

    clean_all = clean_outputs

    def close(self) -> None:
        pass


class Bazel:
    """A warm server (started before the first measured build), local disk cache."""
    name = "bazel"
    build_file = "bazel"

    def __init__(self, ws: WorkspaceInfo, work: Path, jobs: int):
        self.root, self.jobs = Path(ws.root), jobs
        self.startup = ["bazel", f"--output_base={work / 'bazel-output-base'}", "--max_idle_secs=1200"]
        self.disk_cache = work / "bazel-disk-cache"
        self.flags = ["--noshow_progress", "--show_result=0", f"--jobs={jobs}", "--symlink_prefix=/",
                      f"--disk_cache={self.disk_cache}", "--color=no", "--curses=no"]
        self.server_pid = None

    @staticmethod
    def available() -> str | None:
        if not shutil.which("bazel"):
            return "bazel not on PATH (apt-get install bazel-bootstrap)"
        return None

    def version(self) -> str:
        text = subprocess.run(self.startup + ["version"], cwd=self.root, capture_output=True, text=True).stdout
        m = re.search(r"Build label: (\S+)", text)
        if m:
            return m.group(1)
        # bazel-bootstrap's server reports no build label; the launcher knows its version
        text = subprocess.run(["bazel", "--version"], capture_output=True, text=True).stdout
        return text.strip().removeprefix("bazel ")[:40]

    def _cmd(self, *args: str) -> str:
        return timed(self.startup + list(args), self.root)[2]

    def build(self) -> Run:
        if self.server_pid is None:
            info = subprocess.run(self.startup + ["info", "server_pid"], cwd=self.root, capture_output=True, text=True)
            self.server_pid = int(info.stdout.split()[-1])
        seconds, rss, text = timed(self.startup + ["build", "//..."] + self.flags, self.root)
        executed = 0
        m = re.search(r"INFO: \d+ process(?:es)?: (.*)", text)
        for count, kind in re.findall(r"(\d+) ([a-z][a-z -]*)", m.group(1) if m else ""):
            if kind.strip() not in ("internal", "remote cache hit", "disk cache hit"):
                executed += int(count)
        return Run(seconds, max(rss, self.server_peak_kb()), executed)

    def warm_up(self) -> None:
        """Start the server and load + analyze every package, so every build is measured warm."""
        self._cmd("build", "//...", "--nobuild", *self.flags)

    def server_peak_kb(self) -> int:
        try:
            status = Path(f"/proc/{self.server_pid}/status").read_text()
        except (OSError, TypeError):
            return 0
        m = re.search(r"VmHWM:\s+(\d+) kB", status)
        return int(m.group(1)) if m else 0

    def clean_outputs(self) -> None:
        self._cmd("clean")

    def clean_all(self) -> None:
        self._cmd("clean")
        shutil.rmtree(self.disk_cache, ignore_errors=True)

    def close(self) -> None:
        subprocess.run(self.startup + ["shutdown"], cwd=self.root, capture_output=True)


TOOLS = {"wasmelt": Wasmelt, "wasmelt-server": WasmeltServer, "ninja": Ninja, "bazel": Bazel}
WASMELTS = ("wasmelt", "wasmelt-server")


def action_seconds(ws: WorkspaceInfo, runs: int = 21) -> float:
    """Median wall time of one benchmark action run on its own (`sh -c 'cat | cksum'`),
    to tell an incremental build's engine overhead from the work it had to do."""
    src = Path(ws.root) / ws.leaf_source
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["sh", "-c", f"cat {src} | cksum > /dev/null"], check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(tool, ws: WorkspaceInfo, runs: int, cold_runs: int, cache_runs: int, rev: list[int], log,
            action_s: float = 0.0) -> dict:
    """Every scenario for one tool: {scenario: {median_s, runs_s, executed, max_rss_kb}}."""
    result: dict[str, dict] = {}

    def record(scenario: str, samples: list[Run]) -> None:
        times = [r.seconds for r in samples]
        result[scenario] = {"median_s": statistics.median(times), "runs_s": [round(t, 4) for t in times],
                            "executed": [r.executed for r in samples],
                            "max_rss_kb": max(r.max_rss_kb for r in samples)}
        log(f"  {tool.name:8} {scenario:10} median {statistics.median(times):8.3f}s  "
            f"executed {samples[-1].executed}  rss {result[scenario]['max_rss_kb'] // 1024} MB")

    def bump() -> int:
        rev[0] += 1
        return rev[0]

    if isinstance(tool, Bazel):
        tool.warm_up()
    samples = []
    for _ in range(cold_runs):
        tool.clean_all()
        os.sync()  # the previous tool's deleted outputs and cache are written back before, not during, this build
        samples.append(tool.build())
    record("cold", samples)
    # Settle before the null builds: past the racy window (engine.trace: a file
    # modified within 2 s of a build leaves the next one deciding by content), a
    # build records what the null builds' stat pass checks.
    time.sleep(2.2)
    tool.build()
    record("null", [tool.build() for _ in range(runs)])
    samples = []
    for _ in range(runs):
        edit_leaf(ws, bump())
        samples.append(tool.build())
    record("leaf_edit", samples)
    executed = statistics.median([r.executed or 0 for r in samples])
    result["leaf_edit"]["overhead_s"] = max(0.0, result["leaf_edit"]["median_s"] - executed * action_s)
    samples = []
    for _ in range(runs):
        edit_build_file(ws, tool.build_file, bump())
        samples.append(tool.build())
    record("build_edit", samples)
    if not isinstance(tool, Ninja):  # ninja has no cache to hit
        samples = []
        for _ in range(cache_runs):
            tool.clean_outputs()
            samples.append(tool.build())
        record("cache_hit", samples)
        result["cache_hit"]["per_action_us"] = result["cache_hit"]["median_s"] / ws.targets * 1e6
    return result


def machine() -> dict:
    cpu = ""
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**30
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": mem, "kernel": platform.release(),
            "python": platform.python_version()}


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a is not None and b else "-"


def print_table(result: dict, out=sys.stdout) -> None:
    tools = result["tools"]
    head = f"{'targets':>7} {'scenario':10} " + " ".join(f"{t:>10}" for t in tools)
    pairs = [(w, t) for w in WASMELTS if w in tools for t in ("ninja", "bazel") if t in tools]
    short = {"wasmelt": "wasmelt", "wasmelt-server": "server"}
    head += "".join(f" {short[w] + '/' + t:>14}" for w, t in pairs)
    print(head, file=out)
    print("-" * len(head), file=out)
    for size, by_tool in result["sizes"].items():
        for scenario in SCENARIOS + ("peak_rss_mb",):
            cells = {}
            for t in tools:
                data = by_tool.get(t, {})
                if scenario == "peak_rss_mb":
                    rss = [s["max_rss_kb"] for s in data.values() if isinstance(s, dict) and "max_rss_kb" in s]
                    cells[t] = max(rss) / 1024 if rss else None
                else:
                    cells[t] = data.get(scenario, {}).get("median_s")
            fmt = (lambda v: f"{v:10.0f}") if scenario == "peak_rss_mb" else (lambda v: f"{v:10.3f}")
            row = f"{size:>7} {scenario:10} " + " ".join(fmt(cells[t]) if cells[t] is not None else f"{'-':>10}"
                                                       for t in tools)
            row += "".join(f" {ratio(cells.get(w), cells.get(t)):>14}" for w, t in pairs)
            print(row, file=out)
        hits = [f"{t} {by_tool[t]['cache_hit']['per_action_us']:.0f} us" for t in tools
                if "per_action_us" in by_tool.get(t, {}).get("cache_hit", {})]
        print(f"{size:>7} cache hit per action: " + ", ".join(hits), file=out)
        over = [f"{t} {by_tool[t]['leaf_edit']['overhead_s'] * 1000:.0f} ms" for t in tools
                if "overhead_s" in by_tool.get(t, {}).get("leaf_edit", {})]
        if over:
            print(f"{size:>7} leaf edit minus its actions' own run time ({by_tool.get('action_s', 0) * 1000:.1f} ms "
                  f"each): " + ", ".join(over), file=out)
    for t, why in result.get("skipped", {}).items():
        print(f"(not measured: {t}: {why})", file=out)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="1000,10000", help="comma-separated target counts")
    ap.add_argument("--runs", type=int, default=5, help="builds per scenario (median)")
    ap.add_argument("--cold-runs", type=int, default=None, help="cold builds per size (default: --runs)")
    ap.add_argument("--cache-runs", type=int, default=None, help="rebuilds from the cache per size (default: --runs)")
    ap.add_argument("--tools", default="wasmelt,wasmelt-server,ninja,bazel")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel actions for every tool")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/wasmelt-bench"), help="scratch space (wiped)")
    ap.add_argument("--json", type=Path, default=REPO / "bench" / "results" / "latest.json")
    args = ap.parse_args(argv)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    tools, skipped = [], {}
    for name in args.tools.split(","):
        why = TOOLS[name].available()
        if why:
            skipped[name] = why
            log(f"skipping {name}: {why}")
        else:
            tools.append(name)
    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
              "commit": subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                                       text=True).stdout.strip(),
              "jobs": args.jobs, "runs": args.runs, "cold_runs": args.cold_runs or args.runs,
              "cache_runs": args.cache_runs or args.runs,
              "tools": tools, "skipped": skipped, "versions": {}, "sizes": {}}
    Wasmelt.venv = args.workdir / "venv"
    shutil.rmtree(Wasmelt.venv, ignore_errors=True)  # this checkout, as it is now
    for size in (int(s) for s in args.sizes.split(",")):
        work = args.workdir / str(size)
        shutil.rmtree(work, ignore_errors=True)
        ws = generate(work / "ws", size)
        log(f"{size} targets: {ws.packages} packages, {ws.edges} dependency edges")
        rev = [0]
        action_s = action_seconds(ws)
        by_tool = result["sizes"][str(size)] = {"graph": {"targets": ws.targets, "packages": ws.packages,
                                                          "edges": ws.edges}, "action_s": action_s}
        for name in tools:
            tool = TOOLS[name](ws, work, args.jobs)
            try:
                result["versions"][name] = tool.version()
                by_tool[name] = measure(tool, ws, args.runs, args.cold_runs or args.runs,
                                        args.cache_runs or args.runs, rev, log, action_s)
            except ToolFailed as e:
                log(f"{name} failed: {e}")
                by_tool[name] = {"error": str(e)[:2000]}
            finally:
                tool.close()
        shutil.rmtree(work, ignore_errors=True)
    print_table(result)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1))
    log(f"wrote {args.json}")
    return result


if __name__ == "__main__":
    main()
