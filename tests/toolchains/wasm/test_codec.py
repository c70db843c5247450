"""The builtin codec: decode -> encode round trips on our examples and on
random modules, every output validates, and hostile bytes only ever raise
DecodeError."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smith import smith_modules
from wasm_harness import example_components, validate, wasm_tools, wat
from wasmelt.toolchains.builtin.wasm import leb128
from wasmelt.toolchains.builtin.wasm.component import core_modules, read_component
from wasmelt.toolchains.builtin.wasm.decode import decode_module
from wasmelt.toolchains.builtin.wasm.encode import encode_module
from wasmelt.toolchains.builtin.wasm.errors import DecodeError
from wasmelt.toolchains.builtin.wasm.names import function_names
from wasmelt.toolchains.builtin.wasm.relocs import linking, relocations

CORPUS = Path(__file__).parent / "corpus"
SMITH = smith_modules(150, seed=2026)


def test_smith_modules_round_trip_and_validate():
    identical = 0
    for data in SMITH:
        module = decode_module(data)
        out = encode_module(module)
        assert decode_module(out) == module  # instruction for instruction
        validate(out)
        identical += out == data
    # Byte-identical except where smith wrote empty sections, which we omit.
    assert identical > len(SMITH) // 3


def test_examples_round_trip_byte_for_byte_where_canonical(tmp_path):
    for name, data in example_components(tmp_path):
        module = decode_module(data)
        out = encode_module(module)
        assert decode_module(out) == module
        validate(out)
        assert function_names(module)  # the name section is read


def test_relocations_and_linking_of_a_c_component(tmp_path):
    [(_, app)] = [c for c in example_components(tmp_path) if c[0] == "app"]
    module = decode_module(app)
    code = relocations(module)["CODE"]
    assert code and all(r.offset >= 0 for r in code)
    symbols = {s.name for s in linking(module).symbols}
    assert {"tick", "init", "samples"} <= symbols


def test_component_layer_finds_core_module_and_names(tmp_path):
    core = wat('(module (func (export "tick") (param i32) (result i32) local.get 0) (memory (export "memory") 1))')
    (tmp_path / "core.wasm").write_bytes(core)
    (tmp_path / "world.wit").write_text("package t:app;\nworld app {\n  export tick: func(x: s32) -> s32;\n}\n")
    assert wasm_tools("component", "embed", str(tmp_path / "world.wit"), str(tmp_path / "core.wasm"),
                      "-o", str(tmp_path / "embedded.wasm")).returncode == 0
    assert wasm_tools("component", "new", str(tmp_path / "embedded.wasm"), "-o", str(tmp_path / "c.wasm")).returncode == 0
    data = (tmp_path / "c.wasm").read_bytes()
    info = read_component(data)
    assert info.exports == ["tick"] and [c.kind for c in info.canons] == ["lift"]
    [inner] = core_modules(data)
    assert [e.name for e in decode_module(inner).exports] == ["tick", "memory"]


@pytest.mark.parametrize("value", [0, 1, 63, 64, 127, 128, 624485, 2**32 - 1])
def test_leb128_unsigned(value):
    encoded = leb128.unsigned(value)
    assert leb128.read_unsigned(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize("value", [0, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31)])
def test_leb128_signed(value):
    encoded = leb128.signed(value)
    assert leb128.read_signed(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize("raw, why", [
    (b"\x80\x80\x80\x80\x80\x00", "longer than"), (b"\x80\x80\x80\x80\x70", "too large"), (b"\x80", "end of data"),
])
def test_bad_leb128(raw, why):
    with pytest.raises(DecodeError, match=why):
        leb128.read_unsigned(raw, 0)


def test_regression_corpus_is_rejected_cleanly():
    files = sorted(CORPUS.glob("*.wasm"))
    assert files
    for path in files:
        with pytest.raises(DecodeError):
            decode_module(path.read_bytes())


HEADER = b"\0asm\x01\0\0\0"


@pytest.mark.parametrize("body, why", [
    (b"\x01\x04\x7f\x60\x00\x00", "larger than"),  # type count 127 in a 5-byte section
    (b"\x01\xff\xff\xff\xff\x0f", "past the end"),  # section longer than the file
    (b"\x02\x08\x01\x02\xff\xfe\x01a\x00\x00", "UTF-8"),  # invalid name
    (b"\x0a\x04\x01\x02\x00\x0b", "function"),  # code without functions
    (b"\x05\x02\x01\x09", "limits"),
    (b"\x07\x09\x02\x01a\x00\x00\x01a\x00\x00", "duplicate export name 'a'"),  # invalid wasm
])
def test_hostile_sections(body, why):
    with pytest.raises(DecodeError, match=why):
        decode_module(HEADER + body)


def test_deep_nesting_is_bounded():
    depth = 20_000
    body = b"\x00" + b"\x02\x40" * depth + b"\x0b" * depth + b"\x0b"
    code = b"\x01" + leb128.unsigned(len(body)) + body
    module = (HEADER + b"\x01\x04\x01\x60\x00\x00" + b"\x03\x02\x01\x00"
              + b"\x0a" + leb128.unsigned(len(code)) + code)
    with pytest.raises(DecodeError, match="nested deeper"):
        decode_module(module)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, len(SMITH) - 1), flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)),
                                                             min_size=1, max_size=4),
       cut=st.integers(0, 10**6))
def test_mutated_modules_decode_or_raise_decode_error(index, flips, cut):
    data = bytearray(SMITH[index])
    for position, value in flips:
        data[position % len(data)] = value
    data = bytes(data[: max(8, cut % (len(data) + 1))])
    try:
        module = decode_module(data)
    except DecodeError:
        return
    encode_module(module)  # whatever decodes must encode again
