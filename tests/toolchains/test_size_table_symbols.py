"""Which wasm function an object symbol came from: exports by name, the
others by the lowering's own `wasmelt_fn<index>`."""

from __future__ import annotations

from wasmelt.toolchains.size_table import symbol_function


def test_symbols_name_their_wasm_function():
    assert symbol_function("tick", {"tick": 3}) == 3
    assert symbol_function("wasmelt_fn7", {}) == 7
    assert symbol_function("wasmelt_fn32", {}) == 32 and symbol_function("wasmelt_fn64", {}) == 64
    assert symbol_function("wasmelt_init", {}) is None and symbol_function("f7", {}) is None
