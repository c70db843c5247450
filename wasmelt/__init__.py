"""wasmelt: a Bazel-style build tool for MCU firmware made of WebAssembly components."""

# wasmelt.engine, wasmelt.rules and wasmelt.toolchains live in the checkout's
# top-level engine/, rules/ and toolchains/ (pyproject.toml's package-dir); a
# regular install puts them inside this package. The editable install
# (scripts/setup) only adds the checkout to sys.path, with no import hook to
# load at every start (~9 ms), so here they are found beside this directory.
import os as _os

if not _os.path.isdir(_os.path.join(__path__[0], "engine")):
    # A new list: the module's spec keeps naming wasmelt/ alone (engine.sandbox binds what specs name).
    __path__ = [*__path__, _os.path.dirname(__path__[0])]
del _os
