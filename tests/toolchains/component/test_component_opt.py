"""The component stage's optimisation policy: -Os with -Oz's inlining, so a small
helper called from several places stays one function (as gcc -Os keeps it), and
loop rotation only for loops whose exit test is a compare and branch; copts that
choose an -O level or one of the knobs get the compiler's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wasm.model import FUNC
from wasmelt.toolchains.component import INLINE, ROTATION, optimisation

# put() is what clang's -Os inlines into each of its four call sites.
HELPER_C = """
static unsigned put(unsigned char *out, unsigned o, unsigned char b) {
  if (b == 0x7e || b == 0x7d) { out[o++] = 0x7d; b ^= 0x20; }
  out[o++] = b;
  return o;
}
__attribute__((export_name("frame"))) unsigned frame(unsigned char *out, unsigned char a, unsigned char n,
                                                     unsigned char c) {
  unsigned o = 0;
  out[o++] = 0x7e;
  o = put(out, o, a);
  o = put(out, o, n);
  o = put(out, o, c);
  return put(out, o, (unsigned char)(a ^ n ^ c));
}
"""


def _functions(tmp_path, *copts: str) -> tuple[int, int]:
    """(defined functions, calls in the export) of the component built with copts."""
    (tmp_path / "h.c").write_text(HELPER_C)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:h", "--out",
                           "o.wasm", "--report", "r.json", "--no-grow", *(f"--copt={c}" for c in copts), "--", "h.c"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    m = decode_module((tmp_path / "o.wasm").read_bytes())
    export = next(e.index for e in m.exports if e.kind == FUNC and e.name == "frame") - len(m.imported(FUNC))
    return len(m.functions), sum(i.op == "call" for i in m.functions[export].body)


def test_a_helper_called_from_four_places_stays_a_call(tmp_path):
    functions, calls = _functions(tmp_path)
    assert functions == 2 and calls >= 3  # one call site may still be inlined where a constant makes it cheap


@pytest.mark.parametrize("copts", [("-mllvm", "-inline-threshold=50"), ("-O2",)])
def test_copts_that_choose_the_inlining_get_it(tmp_path, copts):
    functions, calls = _functions(tmp_path, *copts)
    assert (functions, calls) == (1, 0)  # put() inlined four times, as clang's -Os and -O2 do


def test_the_knobs_are_left_to_copts_that_set_an_optimisation_level_or_the_knob():
    assert optimisation([]) == ["-Os", *INLINE, *ROTATION]
    assert optimisation(["-Wextra", "-DX=1"]) == ["-Os", *INLINE, *ROTATION]
    for copts in (["-O2"], ["-Xclang", "-Oz"]):
        assert optimisation(copts) == ["-Os"]
    assert optimisation(["-mllvm", "-inline-threshold=100"]) == ["-Os", *ROTATION]
    assert optimisation(["-mllvm", "-rotation-max-header-size=16"]) == ["-Os", *INLINE]


def test_a_helper_the_source_marks_inline_is_still_inlined(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "HELPER_C", HELPER_C.replace("static unsigned put",
                                                                           "static inline unsigned put"))
    assert _functions(tmp_path) == (1, 0)


# The loop's exit test is one compare and branch: rotated, each iteration takes one
# branch (a `br_if` back to the loop's top); unrotated, a `br_if` out and a `br` back.
LOOP_C = """
__attribute__((export_name("sum"))) unsigned sum(const unsigned char *p, unsigned n) {
  unsigned s = 0;
  while (n) { s += *p++; n--; }
  return s;
}
"""


def _back_branches(tmp_path, *copts: str) -> int:
    """Unconditional `br`s in the export: one per loop left unrotated."""
    (tmp_path / "l.c").write_text(LOOP_C)
    proc = subprocess.run([sys.executable, "-m", "wasmelt.toolchains.component", "--label", "//t:l", "--out",
                           "o.wasm", "--report", "r.json", "--no-grow", *(f"--copt={c}" for c in copts), "--", "l.c"],
                          cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    m = decode_module((tmp_path / "o.wasm").read_bytes())
    export = next(e.index for e in m.exports if e.kind == FUNC and e.name == "sum") - len(m.imported(FUNC))
    return sum(i.op == "br" for i in m.functions[export].body)


def test_a_loop_with_a_one_compare_exit_test_is_rotated(tmp_path):
    assert _back_branches(tmp_path) == 0


@pytest.mark.parametrize("copts", [("-Xclang", "-Oz"), ("-mllvm", "-rotation-max-header-size=0")])
def test_copts_that_choose_the_rotation_get_it(tmp_path, copts):
    assert _back_branches(tmp_path, *copts) == 1  # -Oz never rotates: a branch out and a branch back


# crc8() is a helper LLVM prices just below 0: at -inline-threshold=0 one of
# its three calls is still inlined (a copy of its loop), at the default none.
CRC_C = """
static unsigned char crc8(unsigned char crc, unsigned char byte) {
  crc ^= byte;
  for (int i = 0; i < 8; i++) crc = (crc & 0x80) ? (unsigned char)((crc << 1) ^ 0x07) : (unsigned char)(crc << 1);
  return crc;
}
__attribute__((export_name("frame"))) unsigned frame(const unsigned char *p, unsigned char a, unsigned char b) {
  return crc8(crc8(crc8(0, a), b), p[0]);
}
"""


def test_a_helper_priced_just_below_zero_stays_a_call_at_every_site(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "HELPER_C", CRC_C)
    for name in ("default", "zero"):
        (tmp_path / name).mkdir()
    assert _functions(tmp_path / "default") == (2, 3)
    assert _functions(tmp_path / "zero", "-mllvm", "-inline-threshold=0") == (2, 2)
