"""The component stage links the shadow stack at its static worst case when
that is known and below stack_size (component_stack.py), and keeps stack_size
where the depth is not bounded, the component imports functions, or it needs it all."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from wasm_harness import EXAMPLE, build_component
from wasmelt.toolchains.builtin.synth.shadow_stack import analyse
from wasmelt.toolchains.builtin.wasm.decode import decode_module

FRAMES_C = """
static unsigned char table[40] = {1, 2, 3};
__attribute__((noinline)) static unsigned leaf(unsigned i) {
  volatile unsigned char frame[100];
  frame[i % 100] = (unsigned char)i;
  return frame[(i + 1) % 100] + table[i % 40];
}
__attribute__((export_name("outer"))) unsigned outer(unsigned i) {
  volatile unsigned char frame[24];
  frame[i % 24] = (unsigned char)leaf(i);
  return frame[(i + 3) % 24];
}
"""

RECURSIVE_C = """
__attribute__((noinline)) static unsigned down(unsigned n) {
  volatile unsigned char frame[40];
  frame[n & 31] = (unsigned char)n;
  return n ? down(n - 1) + frame[n & 31] : 0;
}
__attribute__((export_name("recurse"))) unsigned recurse(unsigned n) { return down(n); }
"""

IMPORTS_C = """
extern unsigned host_read(unsigned char *buf);
__attribute__((export_name("poll"))) unsigned poll(void) {
  unsigned char buf[32];
  return host_read(buf) + buf[0];
}
"""


def _component(tmp_path, name: str, source: str, *extra: str) -> tuple[dict, bytes, str]:
    (tmp_path / f"{name}.c").write_text(source)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", f"//t:{name}",
                           "--out", "o.wasm", "--report", "r.json", "--no-grow", *extra, "--", f"{name}.c"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads((tmp_path / "r.json").read_text()), (tmp_path / "o.wasm").read_bytes(), proc.stdout


def test_a_bounded_stack_is_linked_at_its_worst_case(tmp_path):
    report, wasm, out = _component(tmp_path, "frames", FRAMES_C)
    module = decode_module(wasm)
    worst = analyse(module).worst
    assert worst is not None and 124 <= worst <= 160  # both frames, 100 + 24 B of arrays and their padding
    linked = -(-worst // 16) * 16
    assert report["stack"] == {"declared": 2048, "linked": linked, "worst": worst,
                               "reason": f"its static worst case ({worst} B), below stack_size"}
    # the stack fills [0, linked): the pointer starts there and the data follows it
    assert report["stack_pointer_init"] == linked
    assert min(d.offset[0].imm[0] for d in module.datas if d.mode == "active") >= linked
    assert report["data_end"] < 2048
    assert f"stack {linked} B of stack_size 2048 (its static worst case" in out


@pytest.mark.parametrize("name, source, extra, why", [
    ("recursive", RECURSIVE_C, (), "its depth is not bounded statically (recursion"),
    ("imports", IMPORTS_C, ("--host-import=host_read",), "it imports functions (env.host_read)"),
    ("frames", FRAMES_C, ("--stack-size", "64"), "needs it all"),
])
def test_stack_size_is_kept_where_the_worst_case_does_not_bound_it(tmp_path, name, source, extra, why):
    report, _, out = _component(tmp_path, name, source, *extra)
    declared = int(extra[1]) if "--stack-size" in extra else 2048
    assert report["stack"]["linked"] == report["stack"]["declared"] == declared
    assert report["stack_pointer_init"] == declared
    assert why in report["stack"]["reason"]
    assert "of stack_size" not in out


def test_a_rust_component_gets_the_same(tmp_path):
    build_component(tmp_path, "payload", EXAMPLE / "payload.rs")
    report = json.loads((tmp_path / "build-payload" / "report.json").read_text())
    worst = report["stack"]["worst"]
    assert worst is not None and worst < 2048
    assert report["stack"]["linked"] == report["stack_pointer_init"] == max(16, -(-worst // 16) * 16)


def test_linkopts_that_lay_out_the_stack_are_left_alone(tmp_path):
    report, _, out = _component(tmp_path, "frames", FRAMES_C, "--linkopt=-zstack-size=4096")
    assert report["stack"] == {"declared": 2048, "linked": None, "worst": None, "reason": "linkopts lay out the stack"}
    assert report["stack_pointer_init"] == 4096 and "of stack_size" not in out
