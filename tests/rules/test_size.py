"""`wasmelt size` on the example's Cortex-M4 firmware, through the CLI: the
sections, functions and components, json and csv, numbers as pyelftools reads
the object, budgets, the delta after an edit, and non-synth targets refused."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil

import pytest
from elftools.elf.elffile import ELFFile

from conftest import REPO, Workspace

TARGET = "//app:firmware"


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("size")
    ws = Workspace(root / "ws", root / "cache")
    shutil.copytree(REPO / "examples" / "app", ws.root / "app")
    shutil.copy(REPO / "BUILD.toml", ws.root / "BUILD.toml")
    return ws


def _elf(ws: Workspace) -> ELFFile:
    return ELFFile(io.BytesIO((ws.root / "wasmelt-out/app/firmware/firmware.o").read_bytes()))


def _size_json(ws: Workspace) -> dict:
    run = ws.run("size", TARGET, "--format=json")
    assert run.code == 0, run.err
    return json.loads(run.out)


def _row(doc: dict, group: str, name: str) -> dict:
    return next(r for r in doc["rows"] if r["group"] == group and r["name"] == name)


def test_table_shows_sections_functions_components_and_budgets(app):
    run = app.run("size", TARGET)
    assert run.code == 0, run.err
    out = run.out
    assert out.startswith(TARGET)
    for heading in ("sections", "functions", "components", "stack"):
        assert f"\n{heading} " in out
    for name in (".text", ".bss", "tick", "init", "app", "kernel", "payload"):
        assert f"\n  {name} " in out
    text_line = next(l for l in out.splitlines() if l.startswith("  .text "))
    assert text_line.split()[2] == "1024"  # the declared max_text_bytes
    bss_line = next(l for l in out.splitlines() if l.startswith("  .bss "))
    assert bss_line.split()[2] == "4096"


def test_numbers_match_the_object(app):
    doc = _size_json(app)
    elf = _elf(app)
    text = sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith(".text"))
    bss = sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith(".bss"))
    assert _row(doc, "sections", ".text")["bytes"] == text
    assert _row(doc, "sections", ".bss")["bytes"] == bss
    assert text < (app.root / "wasmelt-out/app/firmware/firmware.o").stat().st_size  # headers, not the file
    symbols = {s.name: s["st_size"] for s in elf.get_section_by_name(".symtab").iter_symbols()
               if s["st_info"]["type"] == "STT_FUNC" and s["st_shndx"] != "SHN_UNDEF"}
    functions = {r["name"]: r["bytes"] for r in doc["rows"] if r["group"] == "functions"}
    assert functions == symbols
    components = {r["name"]: r["bytes"] for r in doc["rows"] if r["group"] == "components"}
    assert sum(components.values()) == sum(symbols.values())
    assert components["app"] == symbols["tick"] + symbols["init"]
    assert {"kernel", "payload"} <= set(components)
    assert "kernel:log_value" in _row(doc, "functions", "tick")["detail"]  # inlined, and said so
    # the estimate with inlined code counted where it came from splits the same bytes
    estimates = {r["name"]: int(re.search(r"~(\d+) B", r["detail"]).group(1)) if "~" in r["detail"] else r["bytes"]
                 for r in doc["rows"] if r["group"] == "components"}
    assert abs(sum(estimates.values()) - sum(symbols.values())) <= len(estimates)
    assert estimates["kernel"] > 0 and estimates["payload"] > 0
    assert _row(doc, "sections", ".text")["budget"] == 1024


def test_csv_parses_with_the_same_rows(app):
    run = app.run("size", TARGET, "--format", "csv")
    assert run.code == 0, run.err
    rows = list(csv.DictReader(io.StringIO(run.out)))
    doc = _size_json(app)
    assert len(rows) == len(doc["rows"])
    text = next(r for r in rows if r["group"] == "sections" and r["name"] == ".text")
    assert int(text["bytes"]) == _row(doc, "sections", ".text")["bytes"] and text["budget"] == "1024"


def test_delta_after_an_edit_that_changes_code_size(app):
    before = _size_json(app)
    source = app.root / "app" / "app.c"
    original = source.read_text()
    try:
        source.write_text(original.replace("    return average;\n", "    return average * 3 + (input >> 2);\n"))
        after = _size_json(app)
        assert after["has_previous"]
        old, new = _row(before, "sections", ".text")["bytes"], _row(after, "sections", ".text")["bytes"]
        assert new != old
        row = _row(after, "sections", ".text")
        assert row["previous"] == old and row["delta"] == new - old
        assert _row(after, "functions", "tick")["delta"] != 0
        table = app.run("size", TARGET).out  # the same delta again: it is against the previous different build
        line = next(l for l in table.splitlines() if l.startswith("  .text "))
        assert f"{new - old:+d}" in line.split()
        svg = app.run("size", TARGET, "--format=svg").out  # the picture says it and outlines what changed
        assert f"delta vs previous build: .text {new - old:+d} B" in svg
        assert re.search(r'<title>tick: \d+ B in \.text \([+-]\d+ B\)', svg)
        assert 'stroke="#d9480f" stroke-width="2.5"' in svg or 'stroke="#2b8a3e" stroke-width="2.5"' in svg
    finally:
        source.write_text(original)


def test_non_synth_target_is_refused_naming_the_accepted_kinds(app):
    run = app.run("size", "//app:lean")
    assert run.code == 2
    assert "`//app:lean` is a dce target" in run.err and "synth" in run.err and "Traceback" not in run.err
    run = app.run("size", "//app/...")  # a pattern picks the targets that report sizes
    assert run.code == 0, run.err
    assert "//app:firmware " in run.out and "//app:firmware_m0 " in run.out


def test_help_has_examples_and_completion_knows_size(app):
    run = app.run("size", "--help")
    assert run.code == 0 and "wasmelt size //examples/app:firmware" in run.out and "--format" in run.out
    assert "size" in app.run("completion", "bash").out.split("compgen -W \"")[1].split('"')[0].split()


def test_arm_and_riscv_objects_side_by_side(app):
    run = app.run("size", "//app:firmware", "//app:firmware_rv")
    assert run.code == 0, run.err
    assert "//app:firmware_rv  (rv32imac, builtin toolchain, zig)" in run.out
    block = run.out.split("side by side: the rows every table has")[1]
    heads = [l.split() for l in block.strip().splitlines()[:2]]
    assert heads == [["//app:firmware", "//app:firmware_rv"], ["cortex-m4", "rv32imac"]]
    texts = []
    for target in ("firmware", "firmware_rv"):
        elf = ELFFile(io.BytesIO((app.root / f"wasmelt-out/app/{target}/{target}.o").read_bytes()))
        texts.append(sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith(".text")))
    assert texts[0] != texts[1]
    text_row = next(l for l in block.splitlines() if l.startswith("  .text "))
    assert text_row.split()[1:] == [str(t) for t in texts]
    assert any(l.split()[0] == "tick" for l in block.splitlines() if l.startswith("  "))
    single = app.run("size", "//app:firmware")
    assert "side by side" not in single.out


def test_ram_group_lays_out_bss_and_data_with_the_fuse_layout(app):
    doc = _size_json(app)
    ram = [r for r in doc["rows"] if r["group"] == "ram"]
    sections = {r["name"]: r["bytes"] for r in doc["rows"] if r["group"] == "sections"}
    assert sum(r["bytes"] for r in ram) == sections[".bss"] + sections[".data"]
    fused = json.loads((app.root / "wasmelt-out/app/fused/fused.report.json").read_text())
    stack = _row(doc, "ram", "shadow stack")
    low = json.loads((app.root / "wasmelt-out/app/firmware/firmware.size.json").read_text())["memory"]["low"]
    assert 0 < low < fused["memory"]["shared_stack_top"]  # the object keeps the stack's static worst case
    assert stack["bytes"] == fused["memory"]["shared_stack_top"] - low and f"[{low}, " in stack["detail"]
    for part in fused["layout"]:
        row = _row(doc, "ram", part["component"])
        assert row["bytes"] == part["size"]
        assert f"[{part['start']}, {part['start'] + part['size']})" in row["detail"]
    table = json.loads((app.root / "wasmelt-out/app/firmware/firmware.size_table.json").read_text())
    rows = {r["name"]: r for g in table["groups"] for r in g["rows"] if g["name"] == "functions"}
    tick = rows["tick"]
    assert tick["component"] == "app" and tick["section"] == ".text"
    inlined = {p["name"]: p for p in tick["parts"] if p["inlined"]}
    assert "kernel:log_value" in inlined and inlined["kernel:log_value"]["component"] == "kernel"
    assert abs(sum(p["estimated_bytes"] for p in tick["parts"]) - tick["bytes"]) < 1
    # .rodata images of data segments belong to the component whose region they fill
    regions = {p["component"]: (p["start"], p["start"] + p["size"]) for p in fused["layout"]}
    images = [r for g in table["groups"] if g["name"] == "objects" for r in g["rows"] if r["name"].startswith("wasmelt_data")]
    assert images and all(r["section"] == ".rodata" for r in images)
    for r in images:
        start, end = map(int, re.search(r"\[(\d+), (\d+)\)", r["detail"]).groups())
        low, high = regions[r["component"]]
        assert low <= start < end <= high and end - start == r["bytes"]


def test_svg_draws_components_functions_ram_and_budgets(app):
    import xml.etree.ElementTree as ET

    run = app.run("size", TARGET, "--format=svg")
    assert run.code == 0, run.err
    root = ET.fromstring(run.out)
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    titles = " ".join(t.text for t in root.iter("{http://www.w3.org/2000/svg}title"))
    doc = _size_json(app)
    for r in doc["rows"]:
        if r["group"] in ("functions", "ram") and r["bytes"]:
            assert f"{r['name']}: {r['bytes']} B" in titles  # every function and RAM piece, with its bytes
    for r in doc["rows"]:
        if r["group"] == "components":  # each in the legend, kernel and payload (all inlined) too
            assert any(t.startswith(f"{r['name']}: {r['bytes']} B in its own symbols") for t in texts), r["name"]
    assert "max_text_bytes 1024 B" in texts and "max_bss_bytes 4096 B" in texts
    assert "kernel:log_value: ~" in titles and "estimated" in titles  # inlined code, marked as an estimate
    assert TARGET in texts


def test_html_is_one_offline_file_for_targets_side_by_side(app, tmp_path):
    out = tmp_path / "size.html"
    run = app.run("size", TARGET, "//app:firmware_m0", "--format=html", "-o", str(out))
    assert run.code == 0, run.err
    assert run.out == "" and f"wrote {out}" in run.err
    html = out.read_text()
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html
    assert "cortex-m4" in html and "cortex-m0" in html and html.count('class="target"') == 2
    assert "<script" not in html and "<link" not in html and "@import" not in html and " src=" not in html
    assert re.findall(r"https?://[^\"' ]+", html) == ["http://www.w3.org/2000/svg"]  # the SVG namespace only
    run = app.run("size", TARGET, "--format=svg", "-o", str(tmp_path / "no" / "such" / "dir.svg"))
    assert run.code == 2 and "ERROR: -o " in run.err and "cannot write it" in run.err and "Traceback" not in run.err
