"""Which wasm function an object symbol came from: exports by name, the
others `f<index>`, and `f32_`/`f64_` where the C float types take the name."""

from __future__ import annotations

from wasmelt.toolchains.size_table import symbol_function


def test_symbols_name_their_wasm_function():
    assert symbol_function("tick", {"tick": 3}) == 3
    assert symbol_function("f7", {}) == 7
    assert symbol_function("f32_", {}) == 32 and symbol_function("f64_", {}) == 64
    assert symbol_function("wasmelt_init", {}) is None and symbol_function("f3x", {}) is None
