"""`wasmelt release`: build, re-run every action with the cache bypassed to prove
the bytes are reproducible, and write the artifacts with a manifest."""

from __future__ import annotations

from pathlib import Path

from wasmelt import report

from .build import run_build, wanted
from .flags import build_flags


def add_parser(sub) -> None:
    r = sub.add_parser("release", help="build, re-run every action with the cache bypassed to prove the bytes "
                       "are reproducible, and write the artifacts with a manifest",
                       epilog="example: wasmelt release //examples/app:firmware --out dist/")
    build_flags(r)
    r.add_argument("--out", default="wasmelt-release", help="directory for the artifacts, manifest.json and provenance")


def run(args) -> int:
    from wasmelt.engine.release import make_manifest, write_release
    from wasmelt.engine.locks import workspace_lock
    from wasmelt.engine.session import build

    p = args.plan
    artifacts = wanted(p, p.labels)
    result = run_build(args, p, artifacts)
    if not result.ok:
        report.summary(result, args.started)
        return 1
    report.note("release: re-running every action with the cache bypassed to check reproducibility ...")
    with workspace_lock(p.ws, report.note):
        check = build(p, artifacts, jobs=args.jobs, keep_going=True, use_cache=False, expected=dict(result.digests),
                      reporter=report.make_reporter("plain", False, True), timeout=args.action_timeout, record=False)
    if not check.ok:
        report.summary(check, args.started, "Release verification")
        return 1
    manifest = make_manifest(p, result, args.patterns)
    write_release(Path(args.out), p, manifest)
    report.note(f"release: {len(manifest['artifacts'])} artifacts reproducible; manifest in {Path(args.out) / 'manifest.json'}")
    report.summary(check, args.started, "Release")
    return 0
