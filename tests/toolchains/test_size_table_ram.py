"""The size table's `ram` group: the linear memory split by the fuse layout
only when that layout is known and fits; otherwise the object as it is."""

from __future__ import annotations

import pytest

from wasmelt.toolchains.size_table import ram_rows

REPORT = {"objects": {"wasmelt_memory": 4096, "wasmelt_data0": 8, "wasmelt_flag": 4},
          "object_sections": {"wasmelt_memory": "bss", "wasmelt_data0": "rodata", "wasmelt_flag": "data"}}


def _fuse(layout, share_stack=True, top=1024, mode="shared"):
    return {"memory": {"mode": mode, "pack": True, "share_stack": share_stack, "shared_stack_top": top},
            "layout": layout}


def test_layout_splits_the_memory_and_names_what_no_region_covers():
    rows = ram_rows(REPORT, _fuse([{"component": "a", "start": 1024, "size": 64},
                                   {"component": "b", "start": 1088, "size": 100}]))
    assert [(r["name"], r["bytes"], r["section"]) for r in rows] == [
        ("shadow stack", 1024, ".bss"), ("a", 64, ".bss"), ("b", 100, ".bss"),
        ("(linear memory, no region)", 4096 - 1188, ".bss"), ("wasmelt_flag", 4, ".data")]
    assert rows[1]["component"] == "a" and "[1024, 1088)" in rows[1]["detail"]
    assert "wasmelt_data0" not in [r["name"] for r in rows]  # .rodata is flash


def test_unknown_overlapping_or_oversized_layout_keeps_the_memory_whole():
    whole = [("wasmelt_memory", 4096), ("wasmelt_flag", 4)]
    for fuse in (None,
                 _fuse([{"component": "a", "size": 64, "base": 0}]),                     # no start: older report
                 _fuse([{"component": "a", "start": 1000, "size": 64}]),                 # overlaps the stack
                 _fuse([{"component": "a", "start": 4000, "size": 200}]),                # beyond the array
                 _fuse([{"component": "a", "start": 1024, "size": 64}], mode="multi")):  # one memory each
        assert [(r["name"], r["bytes"]) for r in ram_rows(REPORT, fuse)] == whole, fuse


@pytest.fixture(scope="module")
def components(tmp_path_factory):
    from wasm_harness import example_components

    return example_components(tmp_path_factory.mktemp("components"))


@pytest.mark.parametrize("options", [{}, {"pack": True}, {"share_stack": True}, {"pack": True, "share_stack": True}])
def test_fuse_report_start_is_where_each_components_data_lies(components, options):
    from wasmelt.toolchains.builtin.discipline import const_value
    from wasmelt.toolchains.builtin.fuse import FuseOptions, fuse
    from wasmelt.toolchains.builtin.wasm.decode import decode_module

    result = fuse([(n, f"//examples/app:{n}", d) for n, d in components], FuseOptions(memory="shared", **options))
    memory = result.report["memory"]
    regions = sorted((p["start"], p["start"] + p["size"], p["component"]) for p in result.report["layout"] if p["size"])
    assert all(a[1] <= b[0] for a, b in zip(regions, regions[1:]))
    assert regions[0][0] >= (memory["shared_stack_top"] or 0)
    assert regions[-1][1] <= memory["used_bytes"]
    segments = [(const_value(d.offset), len(d.data)) for d in decode_module(result.wasm).datas if d.mode == "active"]
    assert segments
    for offset, length in segments:  # every initialised byte lies in one component's region
        assert any(s <= offset and offset + length <= e for s, e, _ in regions), (offset, length, regions)
    rows = ram_rows({"objects": {"wasmelt_memory": memory["used_bytes"]}, "object_sections": {"wasmelt_memory": "bss"}}, result.report)
    assert {c for _, _, c in regions} <= {r["name"] for r in rows}  # the layout splits the memory
    assert sum(r["bytes"] for r in rows) == memory["used_bytes"]
    if options.get("share_stack"):
        assert rows[0]["name"] == "shadow stack" and rows[0]["bytes"] == memory["shared_stack_top"]


def test_a_window_of_the_memory_is_split_from_its_low_address():
    report = {"objects": {"wasmelt_memory": 1188 - 960}, "object_sections": {"wasmelt_memory": "bss"},
              "memory": {"low": 960, "end": 1188, "declared": 65536, "reason": "used: ..."}}
    rows = ram_rows(report, _fuse([{"component": "a", "start": 1024, "size": 64},
                                   {"component": "b", "start": 1088, "size": 100}]))
    assert [(r["name"], r["bytes"]) for r in rows] == [("shadow stack", 64), ("a", 64), ("b", 100)]
    whole = ram_rows(report, None)
    assert whole[0]["bytes"] == 228 and "addresses [960, 1188) of 65536 declared: used: ..." in whole[0]["detail"]
