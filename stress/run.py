"""The long reliability run behind `make stress`: kill -9 the example build at
random moments (each followed by a resume build and `wasmelt cache verify`),
then fuzz the BUILD.toml loader, the wasm decoder and the label parser.

    python stress/run.py [--seconds N] [--seed S] [--failures DIR]
    python stress/run.py --replay stress-failures/toml-*.toml

STRESS_SECONDS sets the duration (default 300). Prints
`kills survived: N, fuzz inputs tried: N, failures found: N`, saves every
failing input under --failures, and exits 1 when anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "examples" / "app"
SHARES = {"kills": 0.35, "server": 0.15, "toml": 0.25, "wasm": 0.17, "labels": 0.08}
INPUT_TIMEOUT = 20  # seconds one fuzz input may take before it counts as a hang


@dataclass
class Tally:
    failures_dir: Path
    kills: int = 0
    inputs: dict[str, int] = field(default_factory=dict)
    failures: list[Path] = field(default_factory=list)

    def fail(self, campaign: str, data: bytes, suffix: str, report: str) -> None:
        """Keep the failing input and what went wrong, named by its digest."""
        self.failures_dir.mkdir(parents=True, exist_ok=True)
        name = f"{campaign}-{hashlib.sha256(data).hexdigest()[:12]}"
        path = self.failures_dir / f"{name}{suffix}"
        if path in self.failures:  # the same input again: one failure
            return
        path.write_bytes(data)
        (self.failures_dir / f"{name}.txt").write_text(report)
        self.failures.append(path)
        if len(self.failures) <= 20:
            print(f"FAILURE ({campaign}): {report.strip().splitlines()[-1]}\n  input saved to {path}",
                  file=sys.stderr, flush=True)

    def summary(self) -> str:
        return (f"kills survived: {self.kills}, fuzz inputs tried: {sum(self.inputs.values())}, "
                f"failures found: {len(self.failures)}")


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no result within {INPUT_TIMEOUT}s")


def fuzz(campaign: str, seconds: float, rng: random.Random, tally: Tally, generate: Callable[[random.Random], bytes],
         check: Callable[[bytes], None], expected: tuple[type[BaseException], ...], suffix: str,
         min_inputs: int = 1) -> int:
    """Feed generated inputs to `check` until the time is up: returning or
    raising one of `expected` passes; anything else (or a hang) is a failure."""
    deadline = time.monotonic() + seconds
    tried = 0
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        while tried < min_inputs or time.monotonic() < deadline:
            data = generate(rng)
            tried += 1
            signal.alarm(INPUT_TIMEOUT)
            try:
                check(data)
            except expected:
                pass
            except Exception:  # noqa: BLE001 - the point is to catch what should not happen
                tally.fail(campaign, data, suffix, traceback.format_exc())
            finally:
                signal.alarm(0)
    finally:
        signal.signal(signal.SIGALRM, previous)
    tally.inputs[campaign] = tally.inputs.get(campaign, 0) + tried
    return tried


# -- kill points ---------------------------------------------------------------------


def _wasmelt(ws: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wasmelt", *args], cwd=ws, env=env, capture_output=True, text=True)


def _outputs(ws: Path) -> dict[str, str]:
    out = ws / "wasmelt-out"
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def _clean(ws: Path, cache: Path, expunge: bool) -> None:
    """What `wasmelt clean [--expunge]` does, without starting Python again."""
    shutil.rmtree(ws / "wasmelt-out", ignore_errors=True)
    if expunge:
        for child in ("cas", "ac", "sandbox", "records"):
            shutil.rmtree(cache / child, ignore_errors=True)


def example_workspace(tmp: Path) -> Path:
    ws = tmp / "ws"
    shutil.copytree(EXAMPLE, ws / "app")
    shutil.copy(REPO / "BUILD.toml", ws / "BUILD.toml")
    return ws


def resume_problems(ws: Path, env: dict, reference: dict[str, str]) -> tuple[list[str], subprocess.CompletedProcess]:
    """Build again after a disturbance: it must succeed with the reference
    bytes, and `cache verify` must find nothing damaged or missing."""
    problems = []
    resume = _wasmelt(ws, env, "build", "//app/...")
    if resume.returncode:
        problems.append(f"resume build failed (exit {resume.returncode}):\n{resume.stderr}")
    elif _outputs(ws) != reference:
        changed = sorted(k for k, v in _outputs(ws).items() if reference.get(k) != v)
        problems.append(f"resume build produced different bytes: {changed}")
    verify = _wasmelt(ws, env, "cache", "verify")
    damaged = [int(n) for n in re.findall(r"(\d+) (?:damaged|missing blobs)", verify.stdout)]
    if verify.returncode or len(damaged) != 3 or any(damaged):
        problems.append(f"cache verify after the disturbance: {verify.stdout}{verify.stderr}")
    return problems, resume


def kill_campaign(seconds: float, rng: random.Random, tally: Tally, tmp: Path, min_kills: int = 1) -> Path:
    """Kill -9 builds of the example at random moments; after each, a resume
    build must succeed with the reference bytes and the cache must verify.
    Returns the workspace (its wasm outputs seed the decoder campaign)."""
    ws = example_workspace(tmp)
    env = {**os.environ, "WASMELT_CACHE": str(tmp / "cache")}
    started = time.monotonic()
    cold = _wasmelt(ws, env, "build", "//app/...")
    if cold.returncode:
        raise SystemExit(f"the example does not build, so nothing can be killed:\n{cold.stderr}")
    cold_seconds = time.monotonic() - started
    reference = _outputs(ws)
    _clean(ws, tmp / "cache", expunge=False)
    cached_started = time.monotonic()
    _wasmelt(ws, env, "build", "//app/...")
    expected = {"expunge": cold_seconds, "edit": cold_seconds, "clean": time.monotonic() - cached_started}
    deadline = started + seconds
    point = 0
    while point < min_kills or time.monotonic() < deadline:
        # From an empty cache, from a full cache (outputs only materialised),
        # and an incremental rebuild after an edit of the C component.
        mode = ("expunge", "clean", "expunge", "edit")[point % 4]
        _clean(ws, tmp / "cache", expunge=mode == "expunge")
        source = ws / "app" / "app.c"
        original = source.read_text()
        if mode == "edit":
            source.write_text(original + f"\n/* stress edit {point} */\n")
        delay = rng.uniform(0.05, max(0.2, expected[mode] * 1.1))
        proc = subprocess.Popen([sys.executable, "-m", "wasmelt", "build", "//app/...", "-j", "2"], cwd=ws, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
        source.write_text(original)
        what = f"kill point {point}: {mode}, SIGKILL after {delay:.2f}s"
        problems, _ = resume_problems(ws, env, reference)
        if problems:
            tally.fail("kill", what.encode(), ".txt.in", "\n".join([what, *problems]))
        else:
            tally.kills += 1
        point += 1
    return ws


SERVER_DISTURBANCES = ("client Ctrl-C", "client kill -9", "server kill -9", "second client, first Ctrl-C")


def server_campaign(seconds: float, rng: random.Random, tally: Tally, tmp: Path, min_points: int = 1) -> int:
    """Builds of the example through the server, disturbed at a random moment:
    the client Ctrl-C'd or killed, the server killed, or a second client
    arriving while the first is Ctrl-C'd. After each, a build through the
    server must give the reference bytes, the cache must verify and a server
    must answer `status` (by the next build at the latest). Returns the
    points survived."""
    ws = example_workspace(tmp / "server")
    cache = tmp / "server" / "cache"
    env = {**os.environ, "WASMELT_CACHE": str(cache), "WASMELT_SERVER": "1"}
    survived = 0
    try:
        started = time.monotonic()
        cold = _wasmelt(ws, env, "build", "//app/...")
        if cold.returncode:
            raise SystemExit(f"the example does not build through the server:\n{cold.stderr}")
        build_seconds = time.monotonic() - started
        reference = _outputs(ws)
        deadline = started + seconds
        point = 0
        source = ws / "app" / "app.c"
        original = source.read_text()
        while point < min_points or time.monotonic() < deadline:
            disturbance = SERVER_DISTURBANCES[point % len(SERVER_DISTURBANCES)]
            if rng.random() < 0.5:
                source.write_text(original + f"\n/* stress edit {point} */\n")
            else:
                _clean(ws, cache, expunge=False)
            delay = rng.uniform(0.05, max(0.2, build_seconds * 1.1))
            what = f"server point {point}: {disturbance} after {delay:.2f}s"
            problems = _disturbed_server_build(ws, cache, env, disturbance, delay)
            source.write_text(original)
            more, resume = resume_problems(ws, env, reference)
            problems += more
            status = _wasmelt(ws, env, "server", "status")
            if status.returncode:
                # The build after it may have reached the killed server while it
                # was still going away, and run in-process: the next one starts one.
                _wasmelt(ws, env, "build", "//app/...")
                status = _wasmelt(ws, env, "server", "status")
            if status.returncode:
                logs = "".join(p.read_text(errors="replace")[-3000:] for p in (cache / "records").glob("*/server.log"))
                problems.append(f"no server answers after it: {status.stdout}{status.stderr}\n"
                                f"the build after it said:\n{resume.stderr}\nserver.log:\n{logs}")
            if problems:
                tally.fail("server", what.encode(), ".txt.in", "\n".join([what, *problems]))
            else:
                survived += 1
            point += 1
    finally:
        _wasmelt(ws, env, "server", "stop")
    return survived


def _disturbed_server_build(ws: Path, cache: Path, env: dict, disturbance: str, delay: float) -> list[str]:
    """Start a build through the server, disturb it after `delay`; what went wrong."""
    argv = [sys.executable, "-m", "wasmelt", "build", "//app/...", "-j", "2"]
    start = lambda: subprocess.Popen(argv, cwd=ws, env=env, stdout=subprocess.DEVNULL,  # noqa: E731
                                     stderr=subprocess.PIPE, text=True, start_new_session=True)
    first = start()
    second = start() if disturbance.startswith("second client") else None
    time.sleep(delay)
    problems = []
    if disturbance == "server kill -9":
        pid_files = list((cache / "records").glob("*/server.pid"))
        try:
            os.kill(int(pid_files[0].read_text()), signal.SIGKILL)
        except (IndexError, ValueError, OSError):
            pass  # not started yet, or between commands
    else:
        try:
            os.kill(first.pid, signal.SIGKILL if disturbance == "client kill -9" else signal.SIGINT)
        except ProcessLookupError:
            pass
    for proc, interrupted in ((first, disturbance != "server kill -9"), (second, False)):
        if proc is None:
            continue
        try:
            _, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            proc.kill()
            problems.append(f"a client did not finish within 600 s ({disturbance})")
            continue
        if "Traceback" in err:
            problems.append(f"a client printed a traceback:\n{err}")
        if not interrupted and proc.returncode != 0:
            problems.append(f"a client that was not interrupted failed (exit {proc.returncode}):\n{err}")
    return problems


# -- BUILD.toml -----------------------------------------------------------------------

TOML_TOKENS = ["[[", "]]", "[", "]", "=", '"', "'", '"""', "{", "}", ",", ".", "#", "\n", "\\", "\\u00e9", "\\uD800",
               "0x", "1e999", "-0", "nan", "inf", "true", "1979-05-27T07:32:00Z", "[workspace]", "[[component]]",
               "[[fuse]]", "[[dce]]", "[[synth]]", "[[genrule]]", "[[firmware_test]]", "name", "srcs", "src", "components",
               "roots", "cpu", ":app", "//app:app", "//", ":", "../", "/etc/passwd", "~", "\0", "\x7f", "é", "💥",
               "...", ":all", "$(OUT)", "$(location", "a" * 300]
KEYS = ["name", "srcs", "src", "hdrs", "wit", "world", "no_grow", "stack_size", "max_memory_pages", "exports", "cc", "copts",
        "components", "memory", "address_rebase", "pack", "share_stack", "links", "toolchain", "roots", "optimize",
        "strip", "cpu", "opt", "bounds", "max_text_bytes", "max_data_bytes", "max_bss_bytes", "max_stack_bytes",
        "firmware", "reference", "imports", "cases", "random_cases", "seed", "outs", "cmd", "deps", "tools",
        "host_tools", "env", "call", "args", "expect", "trap", "synth_toolchain", "fuse_toolchain", "dce_toolchain",
        "synth_cc", "includes", "defines", "linkopts", "host_imports", "edition", "bogus"]
KINDS = ["component", "fuse", "dce", "synth", "firmware_test", "genrule", "workspace", "nonsense"]
STRINGS = ["app", ":app", ":kernel", ":payload", ":fused", ":lean", ":firmware", "//app:app", "//app", "//:x", "//...",
           "app.c", "kernel.wat", "payload.rs", "host_stubs.toml", "../BUILD.toml", "/etc/passwd", "", " ", "a b",
           "shared", "multi", "cortex-m4", "cortex-m0", "builtin", "zig", "gcc", "clang", "meld", "size", "init",
           "tick", "x" * 5000, "é", "\u202e", "$(OUT)", "echo $(SRCS) > $(OUT)", "$(location :app)", "$(", "hw.x",
           "app:hw.read_timer", "nan", "0"]


def _value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if roll < 0.3:
        return rng.choice(STRINGS)
    if roll < 0.5:
        return rng.choice([0, 1, -1, 16, 2048, 65536, 65537, 2**31, -2**63, 2**63 - 1, rng.randint(-10**6, 10**6)])
    if roll < 0.6:
        return rng.choice([True, False])
    if roll < 0.65:
        return rng.choice([0.5, -0.0, math.inf, -math.inf, math.nan, 1e300])
    if roll < 0.85 and depth < 3:
        return [_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3:
        return {rng.choice(KEYS + STRINGS[:8]): _value(rng, depth + 1) for _ in range(rng.randint(0, 3))}
    return rng.choice(STRINGS)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf") if math.isinf(v) else repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(str(v))


def toml_dumps(data: dict) -> str:
    lines = []
    for key, value in data.items():
        if not isinstance(value, (list, dict)) or (isinstance(value, list) and not all(isinstance(t, dict) for t in value)):
            lines.insert(0, f"{json.dumps(key, ensure_ascii=False)} = {_toml_value(value)}")
        elif isinstance(value, dict):
            lines.append(f"[{json.dumps(key, ensure_ascii=False)}]")
            lines += [f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(v)}" for k, v in value.items()]
        else:
            for table in value:
                lines.append(f"[[{json.dumps(key, ensure_ascii=False)}]]")
                lines += [f"{json.dumps(k, ensure_ascii=False)} = {_toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _mutate_structure(data: dict, rng: random.Random) -> dict:
    data = json.loads(json.dumps(data))  # a deep copy
    for _ in range(rng.randint(1, 4)):
        tables = [(k, t) for k, v in data.items() if isinstance(v, list) for t in v if isinstance(t, dict)]
        tables += [(k, v) for k, v in data.items() if isinstance(v, dict)]  # [workspace]
        roll = rng.random()
        if tables and roll < 0.55:
            _, table = rng.choice(tables)
            key = rng.choice(list(table) + KEYS) if table else rng.choice(KEYS)
            if rng.random() < 0.15:
                table.pop(key, None)
            else:
                table[key] = _value(rng)
        elif roll < 0.7 and data:
            kind = rng.choice(list(data))
            data[rng.choice(KINDS)] = data.pop(kind)
        elif roll < 0.85:
            data.setdefault(rng.choice(KINDS), [])
            target = data[rng.choice(list(data))]
            if isinstance(target, list):
                target.append({"name": rng.choice(STRINGS[:10]), rng.choice(KEYS): _value(rng)})
        elif tables:
            kind, table = rng.choice(tables)
            if isinstance(data[kind], list):
                data[kind].append(json.loads(json.dumps(table)))  # a duplicate
        else:
            data[rng.choice(KINDS)] = _value(rng)
    return data


def _mutate_text(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        roll = rng.random()
        pos = rng.randint(0, len(text))
        if roll < 0.3:
            text = text[:pos] + rng.choice(TOML_TOKENS) + text[pos:]
        elif roll < 0.5:
            text = text[:pos] + text[pos + rng.randint(1, 20):]
        elif roll < 0.65:
            lines = text.split("\n")
            i = rng.randrange(len(lines))
            lines.insert(rng.randrange(len(lines) + 1), lines[i])
            text = "\n".join(lines)
        elif roll < 0.8:
            lines = text.split("\n")
            del lines[rng.randrange(len(lines))]
            text = "\n".join(lines)
        elif roll < 0.83:  # nesting deep enough to exhaust a recursive parser
            depth = rng.choice([10, 300, 2000, 6000])
            opener, closer = rng.choice([("[", "]"), ("{a = ", "}")])
            text = text[:pos] + f"\ndeep = {opener * depth}1{closer * depth}\n" + text[pos:]
        elif roll < 0.9 and text:
            text = text[:pos] + chr(rng.choice([0, 9, 10, 13, 34, 39, 61, 91, 93, 0xE9, 0x10FFFF, rng.randint(32, 0x2FFF)])) \
                + text[pos + 1:]
        else:
            text = text[:pos]
    return text


def toml_checker(tmp: Path) -> Callable[[bytes], None]:
    """A workspace holding the example and a genrule package, and the check
    of one input: `{"package": ...}` on the first line, then its BUILD.toml.
    It must load and analyse, or fail with one WasmeltError."""
    import wasmelt.rules  # noqa: F401 - registers the rule kinds
    from wasmelt.engine.session import plan
    from wasmelt.engine.workspace import find_workspace

    ws = example_workspace(tmp / "toml")
    (ws / "gen").mkdir()
    (ws / "gen" / "BUILD.toml").write_text('[[genrule]]\nname = "g"\nsrcs = ["in.txt", "//app:app"]\nouts = ["o"]\n'
                                           'cmd = "cat $(SRCS) > $(OUT)"\n')
    (ws / "gen" / "in.txt").write_text("x\n")
    originals = {pkg: (ws / pkg / "BUILD.toml").read_text() for pkg in ("", "app", "gen")}

    def check(data: bytes) -> None:
        head, _, body = data.partition(b"\n")
        package = json.loads(head)["package"]
        for pkg, text in originals.items():
            (ws / pkg / "BUILD.toml").write_text(text)
        (ws / package / "BUILD.toml").write_bytes(body)
        p = plan(find_workspace(ws), ["//..."])
        for action in p.analysis.all_actions:  # what loaded must make runnable commands
            bad = [a for a in (*action.argv, *(v for _, v in action.env)) if not isinstance(a, str)]
            if bad:
                raise AssertionError(f"{action.owner}: the command line holds non-text {bad!r}")

    return check


def toml_campaign(seconds: float, rng: random.Random, tally: Tally, tmp: Path) -> int:
    """Random and mutated BUILD.toml files through loading and analysis:
    each must load, or fail with one clear WasmeltError, never a traceback."""
    import tomllib

    from wasmelt.engine.errors import WasmeltError

    check = toml_checker(tmp)
    seeds = {"app": (EXAMPLE / "BUILD.toml").read_text(), "": (REPO / "BUILD.toml").read_text(),
             "gen": (tmp / "toml" / "ws" / "gen" / "BUILD.toml").read_text(),
             "grow": (REPO / "examples/grow/BUILD.toml").read_text()}
    parsed = {k: tomllib.loads(v) for k, v in seeds.items()}

    def generate(r: random.Random) -> bytes:
        package = r.choices(["app", "", "gen"], weights=[6, 2, 2])[0]
        seed = r.choice(list(seeds)) if r.random() < 0.2 else package
        roll = r.random()
        if roll < 0.45:
            text = toml_dumps(_mutate_structure(parsed[seed], r))
        elif roll < 0.85:
            text = _mutate_text(seeds[seed], r)
        else:
            text = _mutate_text(toml_dumps(_mutate_structure(parsed[seed], r)), r)
        if package == "" and r.random() < 0.8 and "[workspace]" not in text:
            text = "[workspace]\n" + text
        return json.dumps({"package": package}).encode() + b"\n" + text.encode("utf-8", "surrogatepass")

    tried = fuzz("toml", seconds, rng, tally, generate, check, (WasmeltError,), ".toml")
    return tried


# -- the wasm decoder -------------------------------------------------------------------


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _mutate_wasm(data: bytes, rng: random.Random, corpus: list[bytes]) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        # Mostly past the 8-byte header: a broken magic number stops the decoder at once.
        pos = rng.randrange(max(1, len(data))) if rng.random() < 0.05 or len(data) <= 8 else rng.randrange(8, len(data))
        if roll < 0.35 and data:
            data[pos] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256), data[pos] ^ (1 << rng.randrange(8))])
        elif roll < 0.5:
            data[pos:pos] = rng.choice([_leb(rng.choice([0, 1, 127, 128, 2**32 - 1, 2**32, 2**64])), b"\x80" * 6,
                                        b"\x0b", b"\x02\x40", bytes([rng.randrange(256)]) * rng.randint(1, 8)])
        elif roll < 0.65:
            del data[pos:pos + rng.randint(1, 16)]
        elif roll < 0.75:
            del data[rng.randint(8, max(8, len(data))):]
        elif roll < 0.9:
            other = rng.choice(corpus)
            start = rng.randrange(max(1, len(other)))
            data[pos:pos] = other[start:start + rng.randint(1, 64)]
        else:
            i, j = sorted(rng.randrange(max(1, len(data))) for _ in range(2))
            data[i:j] = data[i:j][::-1]
    return bytes(data)


def decode_check(data: bytes) -> None:
    """What every stage does with an input module: decode it (a component's
    core modules), read its names, and encode what decoded."""
    from wasmelt.toolchains.builtin.wasm.component import core_modules, is_component, read_component
    from wasmelt.toolchains.builtin.wasm.decode import decode_module
    from wasmelt.toolchains.builtin.wasm.encode import encode_module
    from wasmelt.toolchains.builtin.wasm.names import function_names

    modules = [data]
    if is_component(data):
        read_component(data)
        modules = core_modules(data)
    for raw in modules:
        module = decode_module(raw)
        function_names(module)
        encode_module(module)


SMITH_RICH = ["--min-funcs", "8", "--min-types", "4", "--min-globals", "2", "--min-data-segments", "2",
              "--min-element-segments", "1", "--min-exports", "3", "--min-imports", "2"]


def smith_corpus(count: int, seed: int) -> list[bytes]:
    """Valid modules from `wasm-tools smith`, limited to the features the
    builtin stages support: half small, half with many of every section."""
    sys.path.insert(0, str(REPO / "tests"))
    from smith import FEATURES
    from wasm_harness import wasm_tools

    flags = [arg for name, value in FEATURES.items() for arg in (f"--{name}-enabled", value)]
    rng = random.Random(seed)
    modules: list[bytes] = []
    for attempt in range(count * 3):
        if len(modules) == count:
            break
        rich = attempt % 2 == 1
        entropy = bytes(rng.getrandbits(8) for _ in range(rng.choice([1500, 4000, 20000]) if rich else 1500))
        proc = wasm_tools("smith", *flags, *(SMITH_RICH if rich else []), data=entropy)
        if proc.returncode == 0:
            modules.append(proc.stdout)
    return modules


COMPONENTS = [  # (WIT, WAT) pairs `wasm-tools component new` turns into components
    ("package my:a;\nworld a { export add: func(a: s32, b: s32) -> s32; }\n",
     '(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add)'
     ' (memory (export "memory") 1))'),
    ("package my:b;\nworld b { import now: func() -> u32; export tick: func(x: s32) -> s32; "
     "export reset: func(); }\n",
     '(module (import "$root" "now" (func $now (result i32)))'
     ' (func (export "tick") (param i32) (result i32) call $now local.get 0 i32.add)'
     ' (func (export "reset")) (memory (export "memory") 1))'),
]


def component_corpus(tmp: Path) -> list[bytes]:
    """A few real components (the decoder's other input form)."""
    sys.path.insert(0, str(REPO / "tests"))
    from wasm_harness import wasm_tools

    found = []
    for i, (wit, wat) in enumerate(COMPONENTS):
        (tmp / f"c{i}.wit").write_text(wit)
        (tmp / f"c{i}.wat").write_text(wat)
        embed = wasm_tools("component", "embed", str(tmp / f"c{i}.wit"), str(tmp / f"c{i}.wat"), "-o", str(tmp / f"c{i}.core"))
        new = wasm_tools("component", "new", str(tmp / f"c{i}.core"), "-o", str(tmp / f"c{i}.wasm")) \
            if embed.returncode == 0 else embed
        if new.returncode == 0:
            found.append((tmp / f"c{i}.wasm").read_bytes())
    return found


def wasm_corpus(count: int, seed: int, example_ws: Path | None) -> tuple[list[bytes], list[bytes]]:
    """(valid seeds: smith's and the example's modules, the regression corpus)."""
    valid = smith_corpus(count, seed) if count else []
    if example_ws is not None:
        valid += [p.read_bytes() for p in sorted((example_ws / "wasmelt-out").rglob("*.wasm"))]
    else:
        valid += [p.read_bytes() for p in sorted((REPO / "wasmelt-out").rglob("*.wasm"))]
    broken = [p.read_bytes() for p in sorted((REPO / "tests/toolchains/wasm/corpus").glob("*.wasm"))]
    return valid, broken


def wasm_campaign(seconds: float, rng: random.Random, tally: Tally, example_ws: Path | None, smith: int,
                  tmp: Path) -> int:
    from wasmelt.toolchains.builtin.wasm.errors import DecodeError

    started = time.monotonic()
    valid, broken = wasm_corpus(smith, rng.randrange(2**32), example_ws)
    (tmp / "components").mkdir(exist_ok=True)
    components = component_corpus(tmp / "components")
    valid += components * max(1, len(valid) // 10)  # about a tenth of the seeds
    corpus = valid + broken
    left = max(0.0, seconds - (time.monotonic() - started))

    def generate(r: random.Random) -> bytes:
        seed = r.choice(valid) if valid and r.random() < 0.95 else r.choice(corpus)
        return _mutate_wasm(seed, r, corpus)

    return fuzz("wasm", left, rng, tally, generate, decode_check, (DecodeError,), ".wasm")


# -- labels ---------------------------------------------------------------------------

LABEL_ALPHABET = "//:::...abcz09_-+=,@~ \t\n*é$/\\"
LABEL_PIECES = ["//", ":", "...", "/...", ":all", ":*", "..", ".", "a", "pkg", "x/y", "@", "~", "-", " ", "é", "\0"]


def label_check(data: bytes) -> None:
    from wasmelt.engine.labels import parse_label, parse_pattern

    head, _, text = data.decode("utf-8", "surrogatepass").partition("\n")
    package = head or ""
    from wasmelt.engine.errors import ConfigError

    try:
        label = parse_label(text, package)
    except ConfigError:
        pass
    else:
        again = parse_label(str(label))
        if again != label:
            raise AssertionError(f"{text!r} parsed to {label}, which parses to {again}")
    pattern = parse_pattern(text, package)
    again = parse_pattern(str(pattern))
    if again != pattern:
        raise AssertionError(f"pattern {text!r} parsed to {pattern}, which parses to {again}")
    if pattern.name is not None:  # a single-target pattern names a valid label
        parse_label(str(pattern))


def label_campaign(seconds: float, rng: random.Random, tally: Tally) -> int:
    from wasmelt.engine.errors import ConfigError

    def generate(r: random.Random) -> bytes:
        package = r.choice(["", "a", "a/b", "x-y/z"])
        if r.random() < 0.5:
            text = "".join(r.choice(LABEL_PIECES) for _ in range(r.randint(0, 6)))
        else:
            text = "".join(r.choice(LABEL_ALPHABET) for _ in range(r.randint(0, 12)))
        return f"{package}\n{text}".encode("utf-8", "surrogatepass")

    return fuzz("labels", seconds, rng, tally, generate, label_check, (ConfigError,), ".label")


# -- the run --------------------------------------------------------------------------------


def replay(paths: list[Path]) -> int:
    """Check saved failing inputs again (after a fix, they should pass)."""
    from wasmelt.engine.errors import ConfigError, WasmeltError
    from wasmelt.toolchains.builtin.wasm.errors import DecodeError

    failed = 0
    with tempfile.TemporaryDirectory(prefix="wasmelt-replay-") as tmpdir:
        checks = {"toml": (lambda: toml_checker(Path(tmpdir)), (WasmeltError,)),
                  "wasm": (lambda: decode_check, (DecodeError,)), "labels": (lambda: label_check, (ConfigError,))}
        made = {}
        for path in paths:
            campaign = path.name.split("-", 1)[0]
            if campaign not in checks:
                print(f"{path}: not a saved fuzz input (kill points are not replayable)")
                failed += 1
                continue
            make, expected = checks[campaign]
            if campaign not in made:
                made[campaign] = make()
            check = made[campaign]
            try:
                check(path.read_bytes())
                print(f"{path}: passes")
            except expected as e:
                print(f"{path}: passes ({type(e).__name__}: {str(e)[:160]})")
            except Exception:  # noqa: BLE001
                failed += 1
                print(f"{path}: FAILS\n{traceback.format_exc()}")
    return 1 if failed else 0



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="stress", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("STRESS_SECONDS", 300)),
                        help="total duration (default: $STRESS_SECONDS or 300)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("STRESS_SEED", 0)) or None,
                        help="random seed (default: random, printed so a run can be repeated)")
    parser.add_argument("--failures", type=Path, default=Path(os.environ.get("STRESS_FAILURES", "stress-failures")),
                        help="where failing inputs are saved")
    parser.add_argument("--smith", type=int, default=None, help="wasm-tools smith modules in the corpus")
    parser.add_argument("--only", choices=sorted(SHARES), action="append", help="run only these campaigns")
    parser.add_argument("--replay", type=Path, nargs="+", metavar="INPUT", help="check saved failing inputs again")
    args = parser.parse_args(argv)
    if args.replay:
        return replay(args.replay)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    rng = random.Random(seed)
    tally = Tally(args.failures.resolve())
    chosen = args.only or list(SHARES)
    total_share = sum(SHARES[c] for c in chosen)
    budget = {c: args.seconds * SHARES[c] / total_share for c in chosen}
    smith = args.smith if args.smith is not None else (60 if args.seconds >= 60 else 8)
    print(f"stress: {args.seconds:.0f}s, seed {seed} (repeat with --seed {seed}); campaigns: {', '.join(chosen)}",
          flush=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="wasmelt-stress-") as tmpdir:
        tmp = Path(tmpdir)
        example_ws = None
        if "kills" in chosen:
            example_ws = kill_campaign(budget["kills"], rng, tally, tmp)
            print(f"  kill points: {tally.kills} survived", flush=True)
        if "server" in chosen:
            survived = server_campaign(budget["server"], rng, tally, tmp)
            tally.kills += survived
            print(f"  server points: {survived} survived", flush=True)
        if "toml" in chosen:
            print(f"  BUILD.toml loader: {toml_campaign(budget['toml'], rng, tally, tmp)} inputs", flush=True)
        if "wasm" in chosen:
            print(f"  wasm decoder: {wasm_campaign(budget['wasm'], rng, tally, example_ws, smith, tmp)} inputs", flush=True)
        if "labels" in chosen:
            print(f"  label parser: {label_campaign(budget['labels'], rng, tally)} inputs", flush=True)
    print(f"stress finished in {time.monotonic() - started:.0f}s (seed {seed})")
    print(tally.summary())
    if tally.failures:
        print(f"failing inputs are in {tally.failures_dir}", file=sys.stderr)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
