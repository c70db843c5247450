"""examples/libos through the CLI: C components from a WIT world, fused with
canonical-ABI adapters, trimmed, lowered and firmware-tested; the fused core
behaves like the same components composed and run in wasmtime's component API."""

from __future__ import annotations

import json
import shutil

import pytest
import wasmtime
import wasmtime.component as wc

from conftest import REPO, Workspace
from wasm_harness import validate, wasm_tools
from wasmelt.toolchains.builtin.wasm.decode import decode_module

MMIO = "kernel:hal/mmio@0.1.0"


@pytest.fixture(scope="module")
def libos(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("libos")
    ws = Workspace(root / "ws", root / "cache")
    shutil.copytree(REPO / "examples" / "libos", ws.root / "libos")
    shutil.copy(REPO / "BUILD.toml", ws.root / "BUILD.toml")
    run = ws.run("build", "//libos/...")
    assert run.code == 0, run.err
    return ws


def _out(ws: Workspace, rel: str) -> bytes:
    return (ws.root / "wasmelt-out" / "libos" / rel).read_bytes()


def test_seams_pass_data_through_adapters_and_scalars_directly(libos):
    for rel in ("app/app.wasm", "kernel/kernel.wasm", "fused/fused.wasm", "lean/lean.wasm"):
        validate(_out(libos, rel))
    report = json.loads(_out(libos, "fused/fused.report.json"))
    assert [s["function"] for s in report["seams"]] == [
        "kernel:os/log#write", "kernel:os/channel#send", "kernel:os/channel#recv", "kernel:os/tasks#[method]task.run"]
    assert all(0 < s["adapter_bytes"] < 100 for s in report["seams"])
    assert [(t["resource"], t["slots"]) for t in report["handle_tables"]] == [("kernel:os/tasks#task", 4)]
    links = json.loads(_out(libos, "fused/fused.imports.json"))["links"]
    assert {l["import"]: l["seam"] for l in links if "sem@" in l["import"]} == {
        "kernel:os/sem@0.1.0.acquire": "direct", "kernel:os/sem@0.1.0.release": "direct"}
    assert report["imports"] == [f"{MMIO}.read", f"{MMIO}.write"]
    lean = decode_module(_out(libos, "lean/lean.wasm"))
    assert sorted(e.name for e in lean.exports) == ["init", "tick"]
    header = (libos.root / "wasmelt-out" / "libos" / "app" / "app.h").read_text()
    assert "wit_result_list_u8_channel_error_code_t channel_recv(uint32_t max)" in header
    assert "uint32_t task_new(uint32_t prio)" in header and "void task_drop(uint32_t handle);" in header


def test_firmware_tests_pass_on_both_cpus(libos):
    run = libos.run("test", "//libos/...")
    assert run.code == 0, run.err + run.out
    assert "2 passed, 0 failed" in run.out + run.err


def test_size_table_has_a_row_per_adapter(libos):
    run = libos.run("size", "//libos:firmware")
    assert run.code == 0, run.err
    for seam in ("adapter app->log#write", "adapter app->channel#send", "adapter app->channel#recv"):
        assert seam in run.out


SCENARIO = [("init",)] + [("tick", n) for n in (0, 1, 2, 3, 4, 9, 13, 64, 255, 1000, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7)]
ANSWERS = [7, 300, 65535, 0]


def _composed(ws, tmp_path):
    for name in ("app", "kernel"):
        (tmp_path / f"{name}.wasm").write_bytes(_out(ws, f"{name}/{name}.wasm"))
    proc = wasm_tools("compose", str(tmp_path / "app.wasm"), "-d", str(tmp_path / "kernel.wasm"),
                      "-o", str(tmp_path / "composed.wasm"))
    assert proc.returncode == 0, proc.stderr.decode()
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    calls = []
    linker = wc.Linker(engine)
    with linker.root() as root:
        with root.add_instance(MMIO) as mmio:
            mmio.add_func("read", lambda _s, addr: (calls.append(("read", addr)), ANSWERS[sum(
                1 for c in calls if c[0] == "read") % 4 - 1])[1])
            mmio.add_func("write", lambda _s, addr, value: calls.append(("write", addr, value)))
    instance = linker.instantiate(store, wc.Component.from_file(engine, str(tmp_path / "composed.wasm")))
    results = []
    for name, *args in SCENARIO:
        f = instance.get_func(store, name)
        results.append(f(store, *args))
        f.post_return(store)
    return results, calls


def _fused(wasm: bytes):
    engine = wasmtime.Engine()
    store = wasmtime.Store(engine)
    module = wasmtime.Module(engine, wasm)
    calls = []

    def read(addr):
        calls.append(("read", addr & 0xFFFFFFFF))
        return ANSWERS[sum(1 for c in calls if c[0] == "read") % 4 - 1]

    def write(addr, value):
        calls.append(("write", addr & 0xFFFFFFFF, value & 0xFFFFFFFF))

    imports = [wasmtime.Func(store, i.type, read if i.name == "read" else write) for i in module.imports]
    instance = wasmtime.Instance(store, module, imports)
    return [instance.exports(store)[name](store, *args) & 0xFFFFFFFF for name, *args in SCENARIO], calls


@pytest.mark.parametrize("stage", ["fused/fused.wasm", "lean/lean.wasm"])
def test_fused_core_behaves_like_the_composition(libos, tmp_path, stage):
    expected = _composed(libos, tmp_path)
    assert any(c[0] == "write" and c[1] == 0x40001000 for c in expected[1])  # the log reached the UART
    assert len({r for r in expected[0]}) > 3
    assert _fused(_out(libos, stage)) == expected


def test_a_bad_seam_is_one_error_naming_the_target_and_nothing_is_cached(tmp_path):
    from component_harness import REALLOC

    ws = Workspace(tmp_path / "ws", tmp_path / "cache")
    ws.write("BUILD.toml", '[workspace]\nname = "test"\n')
    wit = ("package kernel:os@0.1.0;\ninterface log {{ write: func(msg: {t}) -> u32; }}\n"
           "world kernel {{ export log; }}\nworld app {{ import log; export run: func() -> u32; }}\n")
    ws.write("os/kernel.wit", wit.format(t="list<u8>"))
    ws.write("os/app.wit", wit.format(t="string"))
    ws.write("os/kernel.wat", f'(module (memory (export "memory") 1) {REALLOC.format(start=1024)} '
             '(func (export "kernel:os/log@0.1.0#write") (param i32 i32) (result i32) local.get 1))')
    ws.write("os/app.wat", '(module (import "kernel:os/log@0.1.0" "write" (func $w (param i32 i32) (result i32))) '
             '(memory (export "memory") 1) (func (export "run") (result i32) i32.const 0 i32.const 0 call $w))')
    ws.write("os/BUILD.toml", """
        [[component]]
        name = "app"
        srcs = ["app.wat"]
        wit = "app.wit"
        world = "app"

        [[component]]
        name = "kernel"
        srcs = ["kernel.wat"]
        wit = "kernel.wit"
        world = "kernel"

        [[fuse]]
        name = "fused"
        components = [":app", ":kernel"]
        """)
    for _ in range(2):
        run = ws.run("build", "//os:fused")
        assert run.code == 1
        assert "ERROR" in run.err and "//os:fused" in run.err and "Traceback" not in run.err
        assert ("//os:app imports `kernel:os/log#write` as func(msg: string) -> u32 but //os:kernel exports it as "
                "func(msg: list<u8>) -> u32") in run.err
    # The second build took the components from the cache and ran the fuse again: no failure is cached.
    assert run.counts["cached"] == 2 and run.counts["failed"] == 1


def test_resource_seam_in_thumb_code_keeps_results_and_traps(tmp_path):
    """WAT components with a resource through the whole pipeline: the object,
    run as Thumb code, gives the wasm's results and traps on a dropped handle."""
    from component_harness import TASKS_APP, TASKS_KERNEL, TASKS_WIT

    ws = Workspace(tmp_path / "ws", tmp_path / "cache")
    ws.write("BUILD.toml", '[workspace]\nname = "test"\n')
    ws.write("os/tasks.wit", TASKS_WIT)
    ws.write("os/app.wat", TASKS_APP)
    ws.write("os/kernel.wat", TASKS_KERNEL)
    ws.write("os/BUILD.toml", """
        [[component]]
        name = "app"
        srcs = ["app.wat"]
        wit = "tasks.wit"
        world = "app"

        [[component]]
        name = "kernel"
        srcs = ["kernel.wat"]
        wit = "tasks.wit"
        world = "kernel"

        [[fuse]]
        name = "fused"
        components = [":app", ":kernel"]
        handles = 2

        [[dce]]
        name = "lean"
        src = ":fused"
        roots = ["run", "stale"]

        [[synth]]
        name = "fw"
        src = ":lean"
        cpu = "cortex-m0"

        [[firmware_test]]
        name = "fw_test"
        firmware = ":fw"
        random_cases = 20
        cases = [
          { call = "run", args = [7], expect = [11412] },
          { call = "stale", trap = "unreachable" },
        ]
        """)
    run = ws.run("test", "//os:fw_test")
    assert run.code == 0, run.err + run.out
    assert "1 passed, 0 failed" in run.out + run.err
