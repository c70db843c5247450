"""The whole pipeline through the CLI, the way a user works: the example app
in a temporary workspace, its bytes, what ran, incremental rebuilds, early
cutoff, budgets, the grow error and `wasmelt test`."""

from __future__ import annotations

import io
import json
import shutil

import pytest
from elftools.elf.elffile import ELFFile

from conftest import REPO, Workspace
from wasm_harness import validate
from wasmelt.toolchains.builtin.wasm.decode import decode_module


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Workspace:
    """A workspace holding a copy of examples/app, built once."""
    root = tmp_path_factory.mktemp("pipeline")
    ws = Workspace(root / "ws", root / "cache")
    shutil.copytree(REPO / "examples" / "app", ws.root / "app")
    shutil.copy(REPO / "BUILD.toml", ws.root / "BUILD.toml")
    run = ws.run("build", "//app/...")
    assert run.code == 0, run.err
    return ws


def _out(ws: Workspace, rel: str) -> bytes:
    return (ws.root / "wasmelt-out" / "app" / rel).read_bytes()


def test_every_stage_output_is_valid(app):
    for rel in ("app/app.wasm", "kernel/kernel.wasm", "payload/payload.wasm", "fused/fused.wasm", "lean/lean.wasm"):
        validate(_out(app, rel))
    fused = decode_module(_out(app, "fused/fused.wasm"))
    assert len(fused.memories) == 1
    assert [f"{i.module}.{i.name}" for i in fused.imports] == ["hw.read_timer", "hw.uart_write"]
    report = json.loads(_out(app, "fused/fused.report.json"))
    assert report["adapter_bytes"] == 0
    lean = decode_module(_out(app, "lean/lean.wasm"))
    assert sorted(e.name for e in lean.exports) == ["init", "tick"]
    assert len(lean.functions) < len(fused.functions)


@pytest.mark.parametrize("target, cpu", [("firmware", "cortex-m4"), ("firmware_m0", "cortex-m0")])
def test_objects_are_arm_relocatables_with_the_exports(app, target, cpu):
    elf = ELFFile(io.BytesIO(_out(app, f"{target}/{target}.o")))
    assert elf.elfclass == 32 and elf["e_machine"] == "EM_ARM" and elf["e_type"] == "ET_REL"
    symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for export in ("init", "tick"):
        sym = symbols[export]
        assert sym["st_info"]["type"] == "STT_FUNC" and sym["st_value"] & 1  # a Thumb function
    undefined = {s.name for s in symbols.values() if s["st_shndx"] == "SHN_UNDEF" and s.name}
    assert {"read_timer", "uart_write"} <= undefined
    size = json.loads(_out(app, f"{target}/{target}.size.json"))
    assert size["cpu"] == cpu
    assert 0 < size["sections"]["text"] <= 1024  # hundreds of bytes, not tens of KB
    assert size["sections"]["bss"] <= 4096
    header = _out(app, f"{target}/{target}.h").decode()
    assert '__asm__("tick")' in header and '__asm__("read_timer")' in header


def test_rv32_object_from_the_same_graph_is_a_riscv_relocatable(app):
    obj = _out(app, "firmware_rv/firmware_rv.o")
    elf = ELFFile(io.BytesIO(obj))
    assert elf.elfclass == 32 and elf["e_machine"] == "EM_RISCV" and elf["e_type"] == "ET_REL"
    assert elf["e_flags"] == 0x1  # EF_RISCV_RVC, soft-float (ilp32) ABI
    symbols = {s.name: s for s in elf.get_section_by_name(".symtab").iter_symbols()}
    for export in ("init", "tick"):
        sym = symbols[export]
        assert sym["st_info"]["type"] == "STT_FUNC" and sym["st_info"]["bind"] == "STB_GLOBAL"
        assert elf.get_section(sym["st_shndx"]).name == f".text.{export}"
    undefined = {s.name for s in symbols.values() if s["st_shndx"] == "SHN_UNDEF" and s.name}
    assert {"read_timer", "uart_write"} <= undefined
    relocations = {r["r_info_type"] for sec in elf.iter_sections() if sec.name.startswith(".rela.text")
                   for r in sec.iter_relocations()}
    assert 19 in relocations  # R_RISCV_CALL_PLT: the import calls
    size = json.loads(_out(app, "firmware_rv/firmware_rv.size.json"))
    assert size["cpu"] == "rv32imac" and 0 < size["sections"]["text"] <= 1024
    table = json.loads(_out(app, "firmware_rv/firmware_rv.size_table.json"))
    assert table["title"] == "rv32imac, builtin toolchain, zig"
    text = sum(s["sh_size"] for s in elf.iter_sections() if s.name.startswith(".text"))
    assert table["groups"][0]["rows"][0] == {"name": ".text", "bytes": text, "budget": 1024,
                                             "budget_attr": "max_text_bytes",
                                             "detail": "sum of the .text* section headers (code)"}
    # The Arm and RISC-V objects come from the same lean module and declare the same symbols.
    assert _out(app, "firmware_rv/firmware_rv.h") == _out(app, "firmware/firmware.h")


def test_second_build_executes_nothing(app):
    run = app.run("build", "//app/...")
    assert run.code == 0 and run.counts["executed"] == 0


def test_editing_c_rebuilds_only_its_component_and_downstream(app):
    source = app.root / "app" / "app.c"
    original = source.read_text()
    try:
        source.write_text(original.replace("static int32_t threshold = 64;", "static int32_t threshold = 65;"))
        run = app.run("build", "//app/...", "--build_event_json_file", str(app.root / "events.jsonl"))
        assert run.code == 0, run.err
        events = [json.loads(l) for l in (app.root / "events.jsonl").read_text().splitlines()]
        executed = sorted(e["label"] for e in events if e["event"] == "action_finished" and e["status"] == "executed")
        assert "//app:app" in executed and "//app:fused" in executed
        assert "//app:kernel" not in executed and "//app:payload" not in executed
    finally:
        source.write_text(original)
        assert app.run("build", "//app/...").code == 0


def test_change_to_unreachable_code_stops_at_dce(app):
    source = app.root / "app" / "app.c"
    original = source.read_text()
    try:
        source.write_text(original.replace("acc = acc * 31 + checksum(i);", "acc = acc * 37 + checksum(i);"))
        run = app.run("build", "//app:firmware", "--build_event_json_file", str(app.root / "events.jsonl"))
        assert run.code == 0, run.err
        events = {e["label"]: e["status"] for e in map(json.loads, (app.root / "events.jsonl").read_text().splitlines())
                  if e["event"] == "action_finished"}
        assert events["//app:app"] == "executed" and events["//app:fused"] == "executed"
        assert events["//app:lean"] == "executed"
        assert events["//app:firmware"] == "cached"  # DCE output byte-identical: early cutoff
    finally:
        source.write_text(original)


def test_firmware_tests_pass_and_are_cached(app):
    run = app.run("test", "//app/...", "--junit", str(app.root / "junit.xml"))
    assert run.code == 0, run.out + run.err
    assert "3 passed, 0 failed" in run.out and "PASSED: //app:firmware_rv_test" in run.out
    assert "<testsuites" in (app.root / "junit.xml").read_text()
    again = app.run("test", "//app/...")
    assert again.out.count("(cached)") == 3


@pytest.mark.parametrize("test", ["firmware_test", "firmware_rv_test"])
def test_wrong_expectation_fails_with_a_readable_diff(app, test):
    build = app.root / "app" / "BUILD.toml"
    original = build.read_text()
    try:
        build.write_text(original.replace("expect = [-1169127647]", "expect = [42]"))
        run = app.run("test", f"//app:{test}")
        assert run.code == 1
        assert "expected results [42], firmware gave results [-1169127647]" in run.out
        assert "0 passed, 1 failed" in run.out
    finally:
        build.write_text(original)


def test_text_budget_exceeded_fails_naming_the_biggest_functions(app):
    build = app.root / "app" / "BUILD.toml"
    original = build.read_text()
    try:
        build.write_text(original.replace("max_text_bytes = 1024\nmax_bss_bytes = 4096\n\n[[synth]]",
                                          "max_text_bytes = 100\nmax_bss_bytes = 4096\n\n[[synth]]", 1))
        run = app.run("build", "//app:firmware")
        assert run.code == 1
        assert "size budget exceeded: text is" in run.err and "over the budget of 100 B" in run.err
        assert "Biggest: tick" in run.err or "Biggest: init" in run.err
        assert app.run("cache", "verify").code == 0
    finally:
        build.write_text(original)


def test_growing_component_fails_at_the_component(tmp_path):
    ws = Workspace(tmp_path / "ws", tmp_path / "cache")
    shutil.copytree(REPO / "examples" / "grow", ws.root / "grow")
    shutil.copy(REPO / "BUILD.toml", ws.root / "BUILD.toml")
    run = ws.run("build", "//grow")
    assert run.code == 1
    assert "component //grow:grow grows its memory: memory.grow in `make_buffer` (1x)" in run.err
    assert "static or bump allocator that never grows" in run.err


def test_wrong_dependency_kinds_are_named(tmp_path):
    ws = Workspace(tmp_path / "ws", tmp_path / "cache")
    ws.write("BUILD.toml", "[workspace]\n")
    ws.write("p/a.wat", "(module)")
    ws.write("p/BUILD.toml", """
        [[component]]
        name = "a"
        srcs = ["a.wat"]

        [[synth]]
        name = "fw"
        src = ":a"
        cpu = "cortex-m5"
    """)
    run = ws.run("build", "//p:fw")
    assert run.code == 2 and "attribute `cpu`" in run.err and "cortex-m4" in run.err


@pytest.mark.parametrize("test", ["firmware_test", "firmware_rv_test"])
def test_a_host_import_without_a_stub_fails_naming_it_and_the_file(app, test):
    stubs = app.root / "app" / "host_stubs.toml"
    original = stubs.read_text()
    try:
        stubs.write_text(original.replace('[imports."hw.read_timer"]\nreturns = [100, 250, 4096, 7]\n', ""))
        run = app.run("test", f"//app:{test}")
        assert run.code == 1
        text = run.out + run.err
        assert "calls host import(s) `hw.read_timer` with no stub" in text
        assert "add it to app/host_stubs.toml" in text and '[imports."hw.read_timer"]' in text
    finally:
        stubs.write_text(original)
