"""`wasmelt version` (and `wasmelt --version`): the installed wasmelt's version."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version


def wasmelt_version() -> str:
    try:
        return version("wasmelt")
    except PackageNotFoundError:  # run from sources that were never installed
        return "unknown (not installed)"


def add_parser(sub) -> None:
    sub.add_parser("version", help="print wasmelt's version (also: wasmelt --version)",
                   epilog="examples:\n  wasmelt version\n  wasmelt --version",
                   formatter_class=argparse.RawDescriptionHelpFormatter)


def run(args) -> int:
    print(f"wasmelt {wasmelt_version()}")
    return 0
