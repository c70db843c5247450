"""`wasmelt verify`: rebuild from the sources with the cache bypassed and check
every digest of a release manifest."""

from __future__ import annotations

from pathlib import Path

from wasmelt import report

from .build import wanted


def add_parser(sub) -> None:
    v = sub.add_parser("verify", help="rebuild from the sources and check every digest of a release manifest",
                       epilog="example: wasmelt verify dist/manifest.json")
    v.add_argument("manifest")
    v.add_argument("-j", "--jobs", type=int, default=None)


def run(args) -> int:
    from wasmelt.engine.release import check_manifest, load_manifest, make_manifest
    from wasmelt.engine.locks import workspace_lock
    from wasmelt.engine.session import build, plan

    manifest = load_manifest(Path(args.manifest))
    p = plan(args.ws, manifest["patterns"], "")
    with workspace_lock(args.ws, report.note):
        result = build(p, wanted(p, p.labels), jobs=args.jobs, keep_going=True, use_cache=False,
                       reporter=report.make_reporter("plain", False, True), record=False)
    if not result.ok:
        report.summary(result, args.started, "Verification build")
        return 1
    problems = check_manifest(manifest, make_manifest(p, result, manifest["patterns"]))
    for problem in problems:
        report.note(f"MISMATCH: {problem}")
    if problems:
        report.note(f"verify FAILED: {len(problems)} difference(s) from {args.manifest}")
        return 1
    report.note(f"verify OK: {len(manifest['artifacts'])} artifacts match {args.manifest}")
    return 0
