"""Release builds: build, then run every action again with the cache bypassed
and compare the bytes; write a manifest of exactly what went in and came out,
and verify a manifest by rebuilding from the sources."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from .errors import BuildFailed, ConfigError
from .executor import BuildReport
from .session import Plan

MANIFEST_VERSION = 1


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def make_manifest(p: Plan, report: BuildReport, patterns: list[str]) -> dict:
    root = p.ws.root
    artifacts = {}
    for label in p.labels:
        for f in p.analysis.infos[label].files:
            path = root / f.path
            if path.is_file():
                artifacts[f.path] = {"sha256": sha256_file(path), "size": path.stat().st_size, "target": str(label)}
    sources: dict[str, str] = {}
    actions = []
    for action_id, rec in sorted(report.records.items()):
        action = rec.action
        inputs = {}
        for art in sorted(action.inputs, key=lambda a: a.path):
            inputs[art.path] = sha256_file(root / art.path)
            if art.is_source:
                sources[art.path] = inputs[art.path]
        actions.append({
            "id": action_id, "target": str(action.owner), "mnemonic": action.mnemonic, "key": rec.key,
            "argv": list(action.argv), "env": dict(action.env),
            "tools": [{"name": t.name, "version": t.version, "sha256": t.digest} for t in sorted(action.tools, key=lambda t: t.name)],
            "inputs": inputs,
            "outputs": {o.path: sha256_file(root / o.path) for o in action.outputs if (root / o.path).is_file()},
        })
    tree = hashlib.sha256("".join(f"{path}\0{digest}\n" for path, digest in sorted(sources.items())).encode()).hexdigest()
    return {
        "manifest_version": MANIFEST_VERSION,
        "workspace": p.ws.settings.get("name", ""),
        "patterns": patterns,
        "source_date_epoch": os.environ.get("SOURCE_DATE_EPOCH", "0"),
        "source_tree_sha256": tree,
        "sources": dict(sorted(sources.items())),
        "artifacts": dict(sorted(artifacts.items())),
        "actions": actions,
    }


def provenance_statement(manifest: dict) -> dict:
    """An in-toto v1 statement with a SLSA provenance v1 predicate."""
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": path, "digest": {"sha256": a["sha256"]}} for path, a in manifest["artifacts"].items()],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://wasmelt.dev/release/v1",
                "externalParameters": {"patterns": manifest["patterns"], "source_date_epoch": manifest["source_date_epoch"]},
                "resolvedDependencies": [{"name": path, "digest": {"sha256": d}} for path, d in manifest["sources"].items()]
                + [{"name": f"tool:{t['name']}", "annotations": {"version": t["version"]}, "digest": {"sha256": t["sha256"]}}
                   for t in {t["name"] + t["sha256"]: t for a in manifest["actions"] for t in a["tools"]}.values()],
            },
            "runDetails": {"builder": {"id": "https://wasmelt.dev/builder/local"}},
        },
    }


def write_release(out_dir: Path, p: Plan, manifest: dict) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for path in manifest["artifacts"]:
        dest = out_dir / path.split("/", 1)[1]  # drop the wasmelt-out/ prefix
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(p.ws.root / path, dest)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (out_dir / "provenance.intoto.json").write_text(json.dumps(provenance_statement(manifest), indent=2, sort_keys=True) + "\n")


def check_manifest(manifest: dict, rebuilt: dict) -> list[str]:
    """Every way the rebuilt tree differs from the manifest, for a user."""
    problems = []
    for path, digest in manifest["sources"].items():
        now = rebuilt["sources"].get(path)
        if now != digest:
            problems.append(f"source `{path}` " + ("is missing" if now is None else "differs from the release"))
    for path, art in manifest["artifacts"].items():
        now = rebuilt["artifacts"].get(path)
        if now is None:
            problems.append(f"artifact `{path}` was not rebuilt")
        elif now["sha256"] != art["sha256"]:
            problems.append(f"artifact `{path}` differs: release sha256 {art['sha256'][:16]}…, rebuilt {now['sha256'][:16]}…")
    if manifest["source_tree_sha256"] != rebuilt["source_tree_sha256"] and not problems:
        problems.append("the source tree digest differs")
    return problems


def load_manifest(path: Path) -> dict:
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no manifest at {path}") from None
    except ValueError as e:
        raise ConfigError(f"{path}: not a wasmelt release manifest ({e})") from None
    if not isinstance(manifest, dict):
        raise ConfigError(f"{path}: not a wasmelt release manifest (a JSON {type(manifest).__name__}, not an object)")
    if manifest.get("manifest_version") != MANIFEST_VERSION:
        raise ConfigError(f"{path}: unsupported manifest version {manifest.get('manifest_version')!r}")
    shapes = {"patterns": list, "artifacts": dict, "sources": dict}
    for key, kind in shapes.items():
        if not isinstance(manifest.get(key), kind):
            raise ConfigError(f"{path}: `{key}` must be a JSON {'array' if kind is list else 'object'}; "
                              "the manifest is damaged: take it from the release again")
    if not all(isinstance(p, str) for p in manifest["patterns"]):
        raise ConfigError(f"{path}: `patterns` must list target patterns as strings")
    return manifest


class ReleaseFailed(BuildFailed):
    pass
