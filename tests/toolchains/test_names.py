"""Names in messages: Rust's legacy mangling read back as a path, and the
one-edit test that flags a misspelled import."""

from __future__ import annotations

import pytest

from wasmelt.toolchains.builtin.demangle import demangle
from wasmelt.toolchains.near_miss import near_misses, one_edit


@pytest.mark.parametrize("mangled, plain", [
    ("_ZN7payload6buffer4make17h0123456789abcdefE", "payload::buffer::make"),
    ("_ZN4core3ptr35drop_in_place$LT$$RF$mut$u20$u8$GT$17h2a0a0b5b5c1a6d4eE", "core::ptr::drop_in_place<&mut u8>"),
    ("_ZN3lib4main28_$u7b$$u7b$closure$u7d$$u7d$17h00000000000000aaE", "lib::main::{{closure}}"),
    ("__ZN3foo3barE", "foo::bar"),
    ("clamp", "clamp"),
    ("_ZN3foo", "_ZN3foo"),  # not terminated: left as it is
    ("_ZN99fooE", "_ZN99fooE"),  # a length past the end
    ("_Z3fooi", "_Z3fooi"),  # C++ is not Rust's: unchanged
])
def test_demangle(mangled, plain):
    assert demangle(mangled) == plain


@pytest.mark.parametrize("a, b, close", [
    ("clampp", "clamp", True), ("clmp", "clamp", True), ("clamq", "clamp", True), ("lcamp", "clamp", True),
    ("clamp", "clamp", False), ("clampxx", "clamp", False), ("cmalp", "clamp", False), ("", "a", True),
])
def test_one_edit(a, b, close):
    assert one_edit(a, b) is close and one_edit(b, a) is close


def test_near_misses_skip_exact_names_and_pick_the_first_candidate():
    assert near_misses(["clampp", "clamp", "tick"], ["clamp", "clamps", "tock"]) == [("clampp", "clamp"),
                                                                                  ("tick", "tock")]
