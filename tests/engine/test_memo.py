"""What a long-lived process (the server) keeps between commands: loaded
packages and analysis results, reused only while nothing they read changed."""

from __future__ import annotations

import os
import time

import pytest

from test_uptodate import _age, _two_packages


@pytest.fixture
def memos(monkeypatch):
    from wasmelt import rules  # noqa: F401
    from wasmelt.engine.analysis import AnalysisMemo
    from wasmelt.engine.graph import PackageLoader, PackageMemo

    packages, analysis = PackageMemo(), AnalysisMemo()
    monkeypatch.setattr(PackageLoader, "memo", packages)
    monkeypatch.setattr(AnalysisMemo, "current", analysis)
    return packages, analysis


def _age_one(path, seconds: float = 10) -> None:
    then = time.time_ns() - int(seconds * 1e9)
    os.utime(path, ns=(then, then))


def _plan(workspace):
    from wasmelt.engine.session import plan
    from wasmelt.engine.workspace import find_workspace

    return plan(find_workspace(workspace.root), ["//..."])


def _cmd(p, owner: str) -> str:
    return next(a for a in p.analysis.all_actions if str(a.owner) == owner).argv[-1]


def test_an_edited_build_file_reloads_only_its_package(workspace, memos):
    packages, analysis = memos
    _two_packages(workspace)
    _age(workspace.root)
    first = _plan(workspace)
    assert packages.reused == 0 and analysis.reused == 0
    second = _plan(workspace)
    assert packages.reused == 3  # the root package, a and b
    assert analysis.reused == 2
    assert second.analysis.all_actions[0] is first.analysis.all_actions[0]
    build_file = workspace.root / "b/BUILD.toml"
    build_file.write_text(workspace.read("b/BUILD.toml").replace("echo ']'", "echo '>'"))
    _age_one(build_file)
    third = _plan(workspace)
    assert packages.reused == 3 + 2  # b was read again
    assert analysis.reused == 2 + 1  # //a:upper reused, //b:framed analysed again
    assert "echo '>'" in _cmd(third, "//b:framed")


def test_a_deleted_source_is_reported_even_when_its_package_is_kept(workspace, memos):
    from wasmelt.engine.errors import ConfigError

    _two_packages(workspace)
    _age(workspace.root)
    _plan(workspace)
    (workspace.root / "a/in.txt").unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        _plan(workspace)


def test_a_recently_written_build_file_is_not_kept(workspace, memos):
    packages, _ = memos
    _two_packages(workspace)  # just written: racily clean
    _plan(workspace)
    _plan(workspace)
    assert packages.reused == 0


def test_changed_settings_drop_the_analysis(workspace, memos):
    _, analysis = memos
    _two_packages(workspace)
    _age(workspace.root)
    _plan(workspace)
    _age_one(workspace.write("BUILD.toml", '[workspace]\nname = "renamed"\n'))
    _plan(workspace)
    assert analysis.reused == 0


def test_parsed_build_files_are_kept_and_an_edit_is_parsed_again(workspace, tmp_path, monkeypatch):
    from wasmelt.engine.graph import PackageLoader

    monkeypatch.setattr(PackageLoader, "memo", None)
    monkeypatch.setenv("WASMELT_CACHE", str(tmp_path / "cache"))
    _two_packages(workspace)
    _age(workspace.root)
    _plan(workspace)
    kept = list((tmp_path / "cache").rglob("parsed-build-files.bin"))
    assert kept and kept[0].stat().st_size > 0
    build_file = workspace.root / "b/BUILD.toml"
    build_file.write_text(workspace.read("b/BUILD.toml").replace("echo ']'", "echo '>'"))  # same size
    _age_one(build_file, seconds=5)
    assert "echo '>'" in _cmd(_plan(workspace), "//b:framed")


def test_last_build_writer_matches_save_build(tmp_path):
    """The server's incremental records (engine.records.LastBuild) write the
    same last_build.json as save_build would for the same statuses."""
    from wasmelt.engine.actions import Action, Artifact
    from wasmelt.engine.executor import CACHED, EXECUTED, ActionRecord, BuildReport
    from wasmelt.engine.labels import Label
    from wasmelt.engine.records import LastBuild, load_history, records_dir, save_build
    from wasmelt.engine.workspace import Workspace

    ws = Workspace(root=tmp_path / "ws", settings={}, cache_dir=tmp_path / "cache")
    records_dir(ws).mkdir(parents=True)

    def rec(i, status, key):
        action = Action(owner=Label("p", f"t{i}"), mnemonic="Genrule", argv=("true", key), inputs=(),
                        outputs=(Artifact(f"wasmelt-out/p/t{i}/o", False),))
        return ActionRecord(action, status, key, {"argv": [key]}, duration=0.5 if status == EXECUTED else 0.0)

    first = {r.action.id: r for r in (rec(i, EXECUTED if i < 2 else CACHED, f"k{i}") for i in range(5))}
    save_build(ws, BuildReport(dict(first)))
    writer = LastBuild(ws, first)
    ran = {r.action.id: r for r in (rec(3, EXECUTED, "k3b"),)}
    records = {**first, **ran}
    writer.save(records, ran)
    got = (records_dir(ws) / "last_build.json").read_bytes()
    expected = {i: (r if i in ran or r.status == CACHED else rec(int(i.split("/t")[1][0]), CACHED, r.key))
                for i, r in records.items()}
    save_build(ws, BuildReport(expected))
    assert got == (records_dir(ws) / "last_build.json").read_bytes()
    assert load_history(ws)[next(iter(ran))]["current"]["key"] == "k3b"
    # The next build: what ran last time shows as cached again.
    writer.save(records, {})
    got = (records_dir(ws) / "last_build.json").read_bytes()
    save_build(ws, BuildReport({i: r if r.status == CACHED else rec(int(i.split("/t")[1][0]), CACHED, r.key)
                                for i, r in records.items()}))
    assert got == (records_dir(ws) / "last_build.json").read_bytes()
