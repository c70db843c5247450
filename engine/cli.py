"""The command line: build, test, query, graph, explain, size, clean.

Every WasmeltError becomes one message on stderr and a non-zero exit code
(2: bad command or BUILD files, 1: the build or a test failed).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Callable
from xml.sax.saxutils import escape

from .errors import BuildFailed, ConfigError, WasmeltError
from .executor import CACHED, EXECUTED, BuildReport, Reporters
from .progress import make_reporter
from .labels import Label
from .records import explain_change, load_history, load_last_build
from .session import Plan, build, open_workspace, plan, workspace_lock
from .sandbox import printable
from .store import Store

EPILOG = """examples:
  wasmelt build //...                  build every target of the workspace except those tagged "manual"
  wasmelt build //examples/app:firmware -j 4 --keep_going
  wasmelt test //examples/...          build and run the tests
  wasmelt query 'deps(//examples/app:firmware)'
  wasmelt explain //examples/app:fused why the last build ran (or reused) it
"""


def _common_build_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("patterns", nargs="*", help="labels or patterns: //pkg:name, //pkg/..., //pkg:all, :name (patterns skip targets tagged \"manual\")")
    p.add_argument("-j", "--jobs", type=int, default=None, help="actions to run at once (default: CPU cores)")
    p.add_argument("-k", "--keep_going", "--keep-going", action="store_true",
                   help="after a failure, go on building what does not depend on it")
    p.add_argument("-v", "--verbose", action="store_true", help="print cached actions and tool output")
    p.add_argument("-q", "--quiet", action="store_true", help="print only errors and the summary")
    p.add_argument("--action_timeout", type=float, default=600.0, help="seconds before an action is killed")
    p.add_argument("--progress", choices=["auto", "tty", "plain"], default="auto",
                   help="live status block on a terminal (auto), always (tty), or plain lines")
    p.add_argument("--build_event_json_file", metavar="FILE", help="write one JSON event per line (docs/build-events.md)")
    p.add_argument("--profile", metavar="FILE", help="write a Chrome trace (Perfetto, chrome://tracing) of the build")
    p.add_argument("--remote_cache", metavar="URL", help="shared cache: grpc://host:port (REAPI) or http://host/path (Bazel HTTP cache)")
    p.add_argument("--remote_executor", metavar="URL", help="run actions remotely over REAPI: grpc://host:port")
    p.add_argument("--remote_instance_name", default="", help="REAPI instance name")
    p.add_argument("--remote_header", action="append", default=[], metavar="NAME=VALUE",
                   help="header sent to the remote cache/executor (e.g. authorization); never logged")
    p.add_argument("--remote_timeout", type=float, default=60.0, help="seconds to wait for one remote cache call")
    p.add_argument("--sandbox", choices=["namespace", "directory", "none"], default=None,
                   help="how actions are contained: own namespaces seeing only their inputs (namespace, the "
                        "default on Linux; needs bubblewrap), a plain directory of their inputs (directory), "
                        "or as directory with the host's whole environment (none)")
    p.add_argument("--sandbox_debug", action="store_true",
                   help="keep a failed action's sandbox and print how to re-enter it")
    p.add_argument("--tls_certificate", metavar="FILE", help="CA certificates (PEM) that sign the remote's TLS certificate")
    p.add_argument("--tls_client_certificate", metavar="FILE", help="client certificate (PEM) for mutual TLS with the remote")
    p.add_argument("--tls_client_key", metavar="FILE", help="key (PEM) of --tls_client_certificate")


def _remote(args):
    """The remote backend the flags ask for, or None."""
    if not (args.remote_cache or args.remote_executor):
        return None
    from .remote import connect

    headers = {}
    for item in args.remote_header:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--remote_header takes NAME=VALUE, got `{name}`")
        headers[name.strip().lower()] = value.strip()
    return connect(cache=args.remote_cache, executor=args.remote_executor,
                   instance_name=args.remote_instance_name, headers=headers, timeout=args.remote_timeout,
                   tls={"ca": args.tls_certificate, "cert": args.tls_client_certificate, "key": args.tls_client_key})


def make_parser(extra: dict[str, Callable[[argparse._SubParsersAction], None]] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wasmelt", description="Build MCU firmware from WebAssembly components, incrementally.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    b = sub.add_parser("build", help="build targets", epilog="example: wasmelt build //examples/... -j 2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_build_flags(b)
    t = sub.add_parser("test", help="build and run test targets", epilog="example: wasmelt test //examples/... --test_output=errors")
    _common_build_flags(t)
    t.add_argument("--test_output", choices=["summary", "errors", "all"], default="errors",
                   help="print test logs: never, for failures (default), or always")
    t.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    c = sub.add_parser("clean", help="delete wasmelt-out/ (and with --expunge the cache)",
                       epilog="examples:\n  wasmelt clean\n  wasmelt clean --expunge   also forget every cached action",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--expunge", action="store_true", help="also delete the cache (CAS, action cache, records)")
    q = sub.add_parser("query", help="list targets: patterns, deps(x), rdeps(universe, x), somepath(a, b)",
                       epilog="example: wasmelt query 'rdeps(//..., //examples/app:kernel)'")
    q.add_argument("expression")
    q.add_argument("--output", choices=["label", "label_kind"], default="label")
    g = sub.add_parser("graph", help="print the target graph (Graphviz dot, Mermaid or SVG)",
                       epilog="examples:\n  wasmelt graph //examples/app:firmware | dot -Tpng > graph.png\n"
                              "  wasmelt graph //examples/... --format=svg > graph.svg   (no Graphviz needed)\n"
                              "  wasmelt graph //examples/app:firmware --format=mermaid",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    g.add_argument("patterns", nargs="+")
    g.add_argument("--format", choices=["dot", "mermaid", "svg"], default="dot")
    e = sub.add_parser("explain", help="why the last build executed or reused a target's actions",
                       epilog="example: wasmelt explain //examples/app:fused")
    e.add_argument("target")
    w = sub.add_parser("watch", help="build (or test) now and again after every change to a source or BUILD.toml",
                       epilog="example: wasmelt watch //examples/app:firmware --test")
    _common_build_flags(w)
    w.add_argument("--test", action="store_true", help="run the matching test targets after each build")
    w.add_argument("--debounce_ms", type=int, default=300, help="wait this long for more changes before rebuilding")
    r = sub.add_parser("release", help="build, re-run every action with the cache bypassed to prove the bytes "
                       "are reproducible, and write the artifacts with a manifest",
                       epilog="example: wasmelt release //examples/app:firmware --out dist/")
    _common_build_flags(r)
    r.add_argument("--out", default="wasmelt-release", help="directory for the artifacts, manifest.json and provenance")
    v = sub.add_parser("verify", help="rebuild from the sources and check every digest of a release manifest",
                       epilog="example: wasmelt verify dist/manifest.json")
    v.add_argument("manifest")
    v.add_argument("-j", "--jobs", type=int, default=None)
    ca = sub.add_parser("cache", help="check or shrink the local cache",
                        epilog="examples:\n  wasmelt cache verify\n  wasmelt cache gc --max-size 2G",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    ca.add_argument("action", choices=["verify", "gc"])
    ca.add_argument("--max-size", "--max_size", dest="max_size", default="1G",
                    help="for gc: evict least-recently-used entries down to this size (e.g. 500M, 2G)")
    _add_size_parser(sub)
    co = sub.add_parser("completion", help="print a shell completion script: eval \"$(wasmelt completion bash)\"",
                        epilog="examples:\n  eval \"$(wasmelt completion bash)\"   commands, flags and target labels\n"
                               "  wasmelt completion zsh > ~/.zfunc/_wasmelt",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    co.add_argument("shell", choices=["bash", "zsh"])
    for name, add in (extra or {}).items():
        add(sub)
    return parser


def _wanted(p: Plan, labels: list[Label]):
    return [f for label in labels for f in p.analysis.infos[label].files]


def _print_summary(report: BuildReport, started: float, verb: str = "Build") -> None:
    for entry in report.corrupt_entries:
        print(f"WARNING: damaged cache entry discarded: {entry}", file=sys.stderr)
    state = "completed" if report.ok else "FAILED"
    print(f"{verb} {state}: {report.summary()} in {time.monotonic() - started:.2f}s", file=sys.stderr)


def run_build(args, p: Plan, wanted, *, quiet: bool | None = None, keep_going: bool | None = None,
              on_events=None, reported_elsewhere: set[str] = frozenset(), up_to_date=None) -> BuildReport:
    """Build `wanted` with the reporters the flags ask for."""
    from .events import EventLog, write_profile
    from .store import check_writable_file

    check_writable_file("--profile", args.profile)
    check_writable_file("--build_event_json_file", args.build_event_json_file)
    check_writable_file("--junit", getattr(args, "junit", None))
    events = EventLog(Path(args.build_event_json_file), args.command, args.patterns) if args.build_event_json_file else None
    if events:
        for label in p.labels:
            info = p.analysis.infos[label]
            events.target_configured(str(label), p.graph.targets[label].kind, [f.path for f in info.files])
    printer = make_reporter(args.progress, args.verbose, args.quiet if quiet is None else quiet)
    printer.reported_elsewhere = set(reported_elsewhere)
    reporter = Reporters(printer, events)
    remote = _remote(args)
    try:
        with workspace_lock(p.ws):
            report = build(p, wanted, jobs=args.jobs, keep_going=args.keep_going if keep_going is None else keep_going,
                           reporter=reporter, timeout=args.action_timeout, remote=remote,
                           up_to_date=up_to_date)
        if on_events and events:
            on_events(events, report)
    finally:
        if events:
            events.close()
        for warning in remote.warnings if remote is not None else ():
            print(f"WARNING: remote: {printable(warning)}", file=sys.stderr)
    if args.profile:
        write_profile(Path(args.profile), report)
    return report


def cmd_build(args) -> int:
    started = time.monotonic()
    ws, pkg = open_workspace()
    p = plan(ws, args.patterns, pkg)
    plain = not (args.build_event_json_file or args.profile or args.verbose)
    report = run_build(args, p, _wanted(p, p.labels), up_to_date=(pkg, args.patterns) if plain else None)
    if report.ok and not args.quiet and len(p.labels) <= 10:
        for label in p.labels:
            files = p.analysis.infos[label].files
            print(f"Target {label} up-to-date:" + "".join(f"\n  {f.path}" for f in files), file=sys.stderr)
    _print_summary(report, started)
    return 0 if report.ok else 1


def cmd_test(args) -> int:
    started = time.monotonic()
    ws, pkg = open_workspace()
    p = plan(ws, args.patterns, pkg)
    tests = [l for l in p.labels if p.analysis.infos[l].test_action is not None]
    if not tests:
        raise ConfigError(f"no test targets match {' '.join(args.patterns)}")
    wanted = [a for l in tests for a in p.analysis.infos[l].test_action.outputs]

    def test_events(events, report):
        for label in tests:
            record = report.records[p.analysis.infos[label].test_action.id]
            events.test_result(str(label), record.status in (EXECUTED, CACHED), record.status == CACHED,
                               max(0.0, record.finished - record.started))

    report = run_build(args, p, wanted, quiet=True, keep_going=True, on_events=test_events,
                       reported_elsewhere={p.analysis.infos[l].test_action.id for l in tests})
    store = Store(ws.cache_dir)
    results = []
    for label in tests:
        record = report.records[p.analysis.infos[label].test_action.id]
        passed = record.status in (EXECUTED, CACHED)
        log = ""
        if record.log_digests:
            log = b"".join(store.get_bytes(d) or b"" for d in record.log_digests).decode("utf-8", "replace")
        elif record.error:
            log = record.error
        results.append((label, passed, record, log))
        note = " (cached)" if record.status == CACHED else f" in {record.finished - record.started:.2f}s" if passed else ""
        print(f"{'PASSED' if passed else 'FAILED'}: {label}{note}")
        if args.test_output == "all" or (args.test_output == "errors" and not passed):
            print("    " + log.rstrip().replace("\n", "\n    "))
    if args.junit:
        _write_junit(Path(args.junit), results)
    passed = sum(1 for r in results if r[1])
    print(f"{passed} passed, {len(results) - passed} failed")
    _print_summary(report, started, "Test build")
    return 0 if passed == len(results) and report.ok else 1


def _write_junit(path: Path, results) -> None:
    failures = sum(1 for r in results if not r[1])
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f'<testsuites tests="{len(results)}" failures="{failures}">',
             f'  <testsuite name="wasmelt" tests="{len(results)}" failures="{failures}">']
    for label, passed, record, log in results:
        lines.append(f'    <testcase name="{escape(str(label))}" classname="{escape(label.package or "root")}" time="{max(0.0, record.finished - record.started):.3f}">')
        if not passed:
            lines.append(f'      <failure message="test failed">{escape(log)}</failure>')
        else:
            lines.append(f"      <system-out>{escape(log)}</system-out>")
        lines.append("    </testcase>")
    lines += ["  </testsuite>", "</testsuites>"]
    path.write_text("\n".join(lines) + "\n")


def cmd_clean(args) -> int:
    ws, _ = open_workspace()
    with workspace_lock(ws):
        shutil.rmtree(ws.output_dir, ignore_errors=True)
        if args.expunge:
            for child in ("cas", "ac", "sandbox"):
                shutil.rmtree(ws.cache_dir / child, ignore_errors=True)
    if args.expunge:
        shutil.rmtree(ws.cache_dir / "records", ignore_errors=True)
    print(f"removed {ws.output_dir.name}/" + (f" and the cache in {ws.cache_dir}" if args.expunge else ""), file=sys.stderr)
    return 0


def cmd_query(args) -> int:
    from .graph import PackageLoader
    from .query import evaluate

    ws, pkg = open_workspace()
    loader = PackageLoader(ws)
    for label in evaluate(loader, args.expression, pkg):
        kind = loader.target(label).kind + " " if args.output == "label_kind" else ""
        print(f"{kind}{label}")
    return 0


def cmd_graph(args) -> int:
    from .graph import PackageLoader, load_graph, resolve_patterns
    from .graph_svg import to_svg
    from .query import to_dot, to_mermaid

    ws, pkg = open_workspace()
    loader = PackageLoader(ws)
    graph = load_graph(loader, resolve_patterns(loader, args.patterns, pkg))
    sys.stdout.write({"dot": to_dot, "mermaid": to_mermaid, "svg": to_svg}[args.format](graph))
    return 0


def cmd_explain(args) -> int:
    from .labels import parse_label

    ws, pkg = open_workspace()
    label = str(parse_label(args.target if args.target.startswith(("//", ":")) else ":" + args.target, pkg))
    last = [a for a in load_last_build(ws) if a["owner"] == label]
    if not last:
        raise ConfigError(f"the last build did not include `{label}`; build it first")
    history = load_history(ws)
    for entry in last:
        print(f"{entry['mnemonic']} {label}: {entry['status']}" + (f" (key {entry['key'][:16]})" if entry["key"] else ""))
        if entry["status"] == EXECUTED:
            h = history.get(entry["id"], {})
            for line in explain_change(h.get("previous"), h["current"]) if "current" in h else []:
                print(f"  {line}")
        elif entry["status"] == CACHED:
            print("  every input, argument and tool matched an earlier run: the result came from the cache")
        elif entry.get("error"):
            print("  " + entry["error"].splitlines()[0])
    return 0


def cmd_release(args) -> int:
    from .release import make_manifest, write_release

    started = time.monotonic()
    ws, pkg = open_workspace()
    p = plan(ws, args.patterns, pkg)
    wanted = _wanted(p, p.labels)
    report = run_build(args, p, wanted)
    if not report.ok:
        _print_summary(report, started)
        return 1
    print("release: re-running every action with the cache bypassed to check reproducibility ...", file=sys.stderr)
    with workspace_lock(ws):
        check = build(p, wanted, jobs=args.jobs, keep_going=True, use_cache=False, expected=dict(report.digests),
                      reporter=make_reporter("plain", False, True), timeout=args.action_timeout, record=False)
    if not check.ok:
        _print_summary(check, started, "Release verification")
        return 1
    manifest = make_manifest(p, report, args.patterns)
    write_release(Path(args.out), p, manifest)
    print(f"release: {len(manifest['artifacts'])} artifacts reproducible; manifest in {Path(args.out) / 'manifest.json'}",
          file=sys.stderr)
    _print_summary(check, started, "Release")
    return 0


def cmd_verify(args) -> int:
    from .release import check_manifest, load_manifest, make_manifest

    started = time.monotonic()
    manifest = load_manifest(Path(args.manifest))
    ws, _ = open_workspace()
    p = plan(ws, manifest["patterns"], "")
    with workspace_lock(ws):
        report = build(p, _wanted(p, p.labels), jobs=args.jobs, keep_going=True, use_cache=False,
                       reporter=make_reporter("plain", False, True), record=False)
    if not report.ok:
        _print_summary(report, started, "Verification build")
        return 1
    problems = check_manifest(manifest, make_manifest(p, report, manifest["patterns"]))
    for problem in problems:
        print(f"MISMATCH: {problem}", file=sys.stderr)
    if problems:
        print(f"verify FAILED: {len(problems)} difference(s) from {args.manifest}", file=sys.stderr)
        return 1
    print(f"verify OK: {len(manifest['artifacts'])} artifacts match {args.manifest}", file=sys.stderr)
    return 0


def _parse_size(text: str) -> int:
    units = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = text.strip().upper().rstrip("B"), ""
    if number and number[-1] in units:
        number, unit = number[:-1], number[-1]
    try:
        size = int(float(number) * units[unit])
    except (ValueError, OverflowError):  # not a number, or 1e400
        size = -1
    if size < 0:
        raise ConfigError(f"--max-size takes a size such as 500M or 2G, got `{text}`")
    return size


def cmd_cache(args) -> int:
    from .session import cache_lock

    ws, _ = open_workspace()
    store = Store(ws.cache_dir)
    with cache_lock(ws.cache_dir, exclusive=True):
        if args.action == "verify":
            counts = store.verify()
            print(f"cache verify: {counts['blobs']} blobs ({counts['bad_blobs']} damaged, removed), "
                  f"{counts['actions']} action entries ({counts['bad_actions']} damaged, "
                  f"{counts['incomplete_actions']} missing blobs; removed)")
            return 1 if counts["bad_blobs"] or counts["bad_actions"] else 0
        counts = store.gc(_parse_size(args.max_size))
        print(f"cache gc: evicted {counts['evicted_actions']} action entries, removed {counts['removed_blobs']} blobs; "
              f"{counts['kept_actions']} entries, {counts['bytes']} bytes kept")
    return 0


def cmd_watch(args) -> int:
    from .watch import watch

    ws, pkg = open_workspace()
    args.test_output, args.junit = "errors", None

    def rebuild() -> None:
        try:
            (cmd_test if args.test else cmd_build)(args)
        except WasmeltError as e:  # a broken BUILD.toml is reported, and watched for a fix
            print(f"ERROR: {e}", file=sys.stderr, flush=True)
        print("wasmelt watch: waiting for changes (Ctrl-C to stop)", file=sys.stderr, flush=True)

    watch(ws.root, rebuild, debounce_ms=args.debounce_ms)
    return 0


# -- wasmelt size ----------------------------------------------------------------

SIZE_EPILOG = """examples:
  wasmelt size //examples/app:firmware               table: sections, functions, components, stack
  wasmelt size //examples/app:firmware --format=json  the same rows as JSON (csv: one row per line)
  wasmelt size //examples/...                        every target that reports sizes
  wasmelt size //examples/app:firmware //examples/app:firmware_m0 --format=html -o size.html
                                                     flash treemap, RAM bar, budgets, side by side (svg: the same)

Each row shows bytes, the declared budget, how much of it is used and the
delta to the previous build whose sizes differed (kept in the cache's records).
"""


def _add_size_parser(sub) -> None:
    s = sub.add_parser("size", help="build targets and show their size table: bytes per section, function and "
                       "component, budgets and the delta to the previous build",
                       epilog=SIZE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_build_flags(s)
    s.add_argument("--format", choices=["table", "json", "csv", "svg", "html"], default="table",
                   help="output format (default: table; svg and html draw flash, RAM and budgets)")
    s.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")


def cmd_size(args) -> int:
    from . import sizes
    from .registry import rule_kinds

    started = time.monotonic()
    ws, pkg = open_workspace()
    p = plan(ws, args.patterns, pkg)
    kinds = sorted(k.name for k in rule_kinds().values() if sizes.FIELD in k.provides)
    accepted = f"`wasmelt size` takes targets of kind {', '.join(kinds) or '(none registered)'}"
    chosen = [l for l in p.labels if p.analysis.infos[l].get(sizes.FIELD) is not None]
    explicit = not any(t.endswith(("...", ":all", ":*")) for t in args.patterns)
    others = [l for l in p.labels if l not in chosen]
    if explicit and others:
        raise ConfigError(f"`{others[0]}` is a {p.graph.targets[others[0]].kind} target; {accepted}")
    if not chosen:
        raise ConfigError(f"no target matching {' '.join(args.patterns)} reports sizes; {accepted}")
    report = run_build(args, p, [p.analysis.infos[l][sizes.FIELD] for l in chosen], quiet=True)
    if not report.ok:
        _print_summary(report, started)
        return 1
    results = []
    for label in chosen:
        history = sizes.load_history(ws, label)
        artifact = p.analysis.infos[label][sizes.FIELD]
        try:
            data = (ws.root / artifact.path).read_bytes()
        except OSError as e:
            raise BuildFailed(f"{label}: the size table {artifact.path} was not written: {e.strerror}") from None
        table = sizes.parse_table(data, artifact.path)
        previous = history.get("previous") if history.get("current") == table else history.get("current")
        results.append((str(label), table, sizes.rows(table, previous), previous is not None))
    if args.format in ("svg", "html"):
        from wasmelt import size_map

        text = (size_map.render_svg if args.format == "svg" else size_map.render_html)(results)
    elif args.format == "json":
        text = sizes.render_json(results)
    elif args.format == "csv":
        text = sizes.render_csv(results)
    else:
        text = "\n".join([*(sizes.render_text(*r) for r in results), sizes.render_side_by_side(results)])
    if not args.output:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.output).write_text(text, encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"-o {args.output}: cannot write it ({e.strerror}); name a file in an existing, "
                          "writable directory") from None
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


COMPLETION_BASH = r"""
_wasmelt() {
    local cur=${COMP_WORDS[COMP_CWORD]}
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "%(commands)s" -- "$cur"))
    elif [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$(wasmelt "${COMP_WORDS[1]}" --help 2>/dev/null | grep -o -- '--[a-z_-]*' | sort -u)" -- "$cur"))
    else
        COMPREPLY=($(compgen -W "$(wasmelt query //... 2>/dev/null)" -- "$cur"))
    fi
}
complete -o default -F _wasmelt wasmelt
"""


def cmd_completion(args) -> int:
    script = COMPLETION_BASH % {"commands": " ".join(sorted(_parser_commands))}
    if args.shell == "zsh":
        script = "autoload -U +X bashcompinit && bashcompinit\n" + script
    print(script.strip())
    return 0


_parser_commands: list[str] = []


COMMANDS = {"build": cmd_build, "release": cmd_release, "verify": cmd_verify, "cache": cmd_cache, "watch": cmd_watch, "completion": cmd_completion, "test": cmd_test, "clean": cmd_clean, "query": cmd_query,
            "graph": cmd_graph, "explain": cmd_explain}
COMMANDS["size"] = cmd_size


def main(argv: list[str] | None = None, extra_parsers=None, extra_commands=None) -> int:
    parser = make_parser(extra_parsers)
    _parser_commands[:] = [a.dest for a in parser._subparsers._group_actions[0]._choices_actions]
    args = parser.parse_args(argv)
    commands = {**COMMANDS, **(extra_commands or {})}
    if not args.command:
        parser.print_help()
        return 2
    try:
        from .sandbox import configure

        configure(getattr(args, "sandbox", None), getattr(args, "sandbox_debug", False))
        return commands[args.command](args)
    except WasmeltError as e:
        print(f"ERROR: {e}", file=sys.stderr)
        return e.exit_code
    except OSError as e:  # the disk full, the cache read-only, a file where a directory belongs
        from .store import explain_os_error

        print(f"ERROR: {explain_os_error(e)}", file=sys.stderr)
        return 1
    except RecursionError:
        print(f"ERROR: `wasmelt {args.command}`: its input (a BUILD.toml table or key, a query expression) "
              "is nested too deeply; flatten it", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
