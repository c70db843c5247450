"""`wasmelt build`: build the named targets; also how test, watch, release and
size run a build (run_build: the reporters, event log, profile and remote the flags ask for)."""

from __future__ import annotations

import argparse

from .flags import build_flags, remote


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="build targets", epilog="example: wasmelt build //examples/... -j 2",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    build_flags(p)


def plain(args) -> bool:
    """A build whose result the trace can answer next time by a stat pass
    (engine.rebuild.null_build): nothing asked beyond its targets and how it runs."""
    return (args.command == "build" and not (args.build_event_json_file or args.profile or args.verbose)
            and not (args.remote_cache or args.remote_executor))


def wanted(p, labels):
    return p.files(labels)


def named_targets(p) -> list[tuple[str, list[str]]]:
    """What `Target ... up-to-date:` lists: the named targets, when at most 10."""
    return [(str(l), [f.path for f in p.analysis.infos[l].files]) for l in p.labels] if len(p.labels) <= 10 else []


def built_targets(p, result) -> set[str]:
    """The named targets whose every output was built (or reused) by `result`."""
    from wasmelt.engine.results import CACHED, EXECUTED

    built = set()
    for label in p.labels:
        ok = True
        for f in p.analysis.infos[label].files:
            action = p.analysis.actions.get(f.path)
            record = result.records.get(action.id) if action is not None else None
            if action is not None and (record is None or record.status not in (EXECUTED, CACHED)):
                ok = False
                break
        if ok:
            built.add(str(label))
    return built


def run_build(args, p, artifacts, *, quiet: bool | None = None, keep_going: bool | None = None,
              on_events=None, reported_elsewhere: set[str] = frozenset(), named=None,
              uncached: set[str] = frozenset()):
    """Build `artifacts` with the reporters the flags ask for (`named`: see engine.session.build)."""
    from wasmelt import report
    from pathlib import Path

    from wasmelt.engine.events import EventLog, write_profile
    from wasmelt.engine.executor import Reporters
    from wasmelt.engine.locks import workspace_lock
    from wasmelt.engine.sandbox import printable
    from wasmelt.engine.session import build
    from wasmelt.engine.store import check_writable_file

    check_writable_file("--profile", args.profile)
    check_writable_file("--build_event_json_file", args.build_event_json_file)
    check_writable_file("--junit", getattr(args, "junit", None))
    events = EventLog(Path(args.build_event_json_file), args.command, args.patterns) if args.build_event_json_file else None
    if events:
        for label in p.labels:
            info = p.analysis.infos[label]
            events.target_configured(str(label), p.graph.targets[label].kind, [f.path for f in info.files])
    printer = report.make_reporter(args.progress, args.verbose, args.quiet if quiet is None else quiet)
    printer.reported_elsewhere = set(reported_elsewhere)
    backend = remote(args)
    try:
        with workspace_lock(p.ws, report.note):
            result = build(p, artifacts, jobs=args.jobs, keep_going=args.keep_going if keep_going is None else keep_going,
                           reporter=Reporters(printer, events), timeout=args.action_timeout, remote=backend,
                           named=named, uncached=frozenset(uncached))
        if on_events and events:
            on_events(events, result)
    finally:
        if events:
            events.close()
        for warning in backend.warnings if backend is not None else ():
            report.warning(f"remote: {printable(warning)}")
    if args.profile:
        write_profile(Path(args.profile), result)
    keep_cache_size(p.ws, result)
    return result


def keep_cache_size(ws, result) -> None:
    """The cache back under the workspace's cache_max_size when a build took it over."""
    import os

    from wasmelt import report
    from wasmelt.engine.settings import DEFAULT_CACHE_MAX_SIZE, parse_size
    from wasmelt.engine.blobs import disk_bytes
    from wasmelt.engine.cache_limits import limit_cache

    added = 0
    for record in result.records.decided.values():  # (the reused ones added nothing)
        # New in the store: its outputs, its entry and its logs (a block each); a remote cache's hit too.
        if record.status == "executed" or (record.status == "cached" and record.remote):
            added += 3 * 4096
            for path in record.outputs or ():
                try:
                    added += disk_bytes(os.stat(os.path.join(ws.root, path)))
                except OSError:
                    pass
    if not added:
        return
    limit = ws.settings.get("cache_max_size", DEFAULT_CACHE_MAX_SIZE)
    counts = limit_cache(ws.cache_dir, parse_size(limit, "cache_max_size"), added)
    if counts and (counts["evicted_actions"] or counts["removed_blobs"]):
        report.note(f"cache over cache_max_size = {limit!r}: evicted {counts['evicted_actions']} least recently "
                    f"used action entries and {counts['removed_blobs']} blobs; {counts['bytes']} bytes kept")


def run(args) -> int:
    from wasmelt import report

    p = args.plan
    result = run_build(args, p, wanted(p, p.labels), named=named_targets(p) if plain(args) else None)
    if result.ok and not args.quiet:
        report.targets(named_targets(p))
    elif args.keep_going and not args.quiet:
        built = built_targets(p, result)
        report.targets([t for t in named_targets(p) if t[0] in built])
        report.partial(built, [str(l) for l in p.labels if str(l) not in built])
    report.summary(result, args.started)
    return 0 if result.ok else 1
