"""Reproducible releases: re-execution catches non-determinism, manifests
verify, and outputs do not depend on where or how the build ran."""

from __future__ import annotations

import json
import shutil

from conftest import Workspace

BUILD = """
[[genrule]]
name = "upper"
srcs = ["in.txt"]
outs = ["upper.txt"]
cmd = "tr a-z A-Z < $(SRCS) > $(OUT)"

[[genrule]]
name = "listing"
srcs = [":upper", "in.txt"]
outs = ["listing.txt"]
cmd = "ls $(SRCS) | sort > $(OUT); printf '%s\\n' b A a | sort >> $(OUT); date >> $(OUT)"
"""


def _ws(workspace):
    workspace.write("p/in.txt", "release me\n")
    # `date` prints the time in the fixed TZ with SOURCE_DATE_EPOCH untouched:
    # make the listing deterministic by formatting the epoch instead.
    workspace.write("p/BUILD.toml", BUILD.replace("date >>", "date -u -d @$$SOURCE_DATE_EPOCH >>"))
    return workspace


def test_release_writes_manifest_and_verify_detects_source_edit(workspace, tmp_path):
    ws = _ws(workspace)
    out = tmp_path / "dist"
    run = ws.run("release", "//p:all", "--out", str(out))
    assert run.code == 0, run.err
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["artifacts"]) == {"wasmelt-out/p/upper/upper.txt", "wasmelt-out/p/listing/listing.txt"}
    assert (out / "p/upper/upper.txt").read_text() == "RELEASE ME\n"
    action = next(a for a in manifest["actions"] if a["target"] == "//p:upper")
    assert action["tools"][0]["name"] == "sh" and len(action["tools"][0]["sha256"]) == 64
    assert action["inputs"] == {"p/in.txt": manifest["sources"]["p/in.txt"]}
    statement = json.loads((out / "provenance.intoto.json").read_text())
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    assert {s["name"] for s in statement["subject"]} == set(manifest["artifacts"])

    assert ws.run("verify", str(out / "manifest.json")).code == 0
    ws.write("p/in.txt", "edited\n")
    run = ws.run("verify", str(out / "manifest.json"))
    assert run.code == 1
    assert "source `p/in.txt` differs" in run.err
    assert "artifact `wasmelt-out/p/upper/upper.txt` differs" in run.err


def test_non_deterministic_action_fails_the_release(workspace, tmp_path):
    workspace.write("p/BUILD.toml", """
        [[genrule]]
        name = "stamp"
        outs = ["stamp.txt"]
        cmd = "echo built; date +%s%N > $(OUT)"
    """)
    run = workspace.run("release", "//p:stamp", "--out", str(tmp_path / "dist"))
    assert run.code == 1
    assert "Genrule //p:stamp is not deterministic" in run.err
    assert "wasmelt-out/p/stamp/stamp.txt" in run.err and "byte offset" in run.err
    assert not (tmp_path / "dist/manifest.json").exists()


def test_identical_bytes_across_checkouts_and_environments(workspace, tmp_path):
    ws = _ws(workspace)
    other = Workspace(tmp_path / "a/much/longer/path/ws", tmp_path / "other-cache")
    shutil.copytree(ws.root, other.root)
    first = ws.run("release", "//p:all", "--out", str(tmp_path / "r1"))
    second = other.run("release", "//p:all", "--out", str(tmp_path / "r2"),
                       env={"TZ": "Asia/Tokyo", "LANG": "de_DE.UTF-8", "LC_ALL": "de_DE.UTF-8"})
    assert first.code == 0 and second.code == 0, first.err + second.err
    m1 = json.loads((tmp_path / "r1/manifest.json").read_text())
    m2 = json.loads((tmp_path / "r2/manifest.json").read_text())
    assert m1["artifacts"] == m2["artifacts"]
    assert [a["key"] for a in m1["actions"]] == [a["key"] for a in m2["actions"]]


def test_tool_change_changes_keys_and_explain_names_it(workspace, tmp_path):
    tool = tmp_path / "bin" / "shout"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\ntr a-z A-Z\n")
    tool.chmod(0o755)
    workspace.write("p/in.txt", "x\n")
    workspace.write("p/BUILD.toml", f"""
        [[genrule]]
        name = "loud"
        srcs = ["in.txt"]
        outs = ["loud.txt"]
        host_tools = ["{tool}"]
        cmd = "{tool} < $(SRCS) > $(OUT)"
    """)
    assert workspace.run("build", "//p:loud").executed() == 1
    assert workspace.run("build", "//p:loud").executed() == 0
    tool.write_text("#!/bin/sh\ntr a-z A-Z\n# v2\n")
    assert workspace.run("build", "//p:loud").executed() == 1
    explain = workspace.run("explain", "//p:loud")
    assert "tool `shout` changed" in explain.out
