"""The component stage's optimisation policy: -Os with -Oz's inliner, so a small
helper called from several places stays one function (as gcc -Os keeps it);
copts that choose an -O level or a threshold get the compiler's own."""

from __future__ import annotations

import subprocess
import sys

import pytest

from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wasm.model import FUNC
from wasmelt.toolchains.component import INLINE, optimisation

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


def test_the_threshold_is_left_to_copts_that_set_an_optimisation_level():
    assert optimisation([]) == ["-Os", *INLINE]
    assert optimisation(["-Wextra", "-DX=1"]) == ["-Os", *INLINE]
    for copts in (["-O2"], ["-Xclang", "-Oz"], ["-mllvm", "-inline-threshold=100"]):
        assert optimisation(copts) == ["-Os"]


def test_a_helper_the_source_marks_inline_is_still_inlined(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "HELPER_C", HELPER_C.replace("static unsigned put",
                                                                           "static inline unsigned put"))
    assert _functions(tmp_path) == (1, 0)
