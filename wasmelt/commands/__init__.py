"""Commands that live outside the engine: each module `wasmelt.commands.<name>`
has `add_parser(subparsers)` and `run(args) -> int`."""

from __future__ import annotations

import importlib

NAMES = ("init", "version", "info")


def load() -> dict:
    """{name: module} of every command here."""
    return {name: importlib.import_module(f"wasmelt.commands.{name}") for name in NAMES}
