"""`make bench`: the wasmelt / ninja / Bazel comparison at modest sizes, sized to
finish in a few minutes on two cores; pass compare.py flags to change it.

    python bench/run_all.py     # 1k and 10k targets, 5 runs (1 cold build, 3 from the cache) per size
    python bench/run_all.py --cold-runs 5 --sizes 1000,10000,50000
    python bench/run_all.py --tools wasmelt,wasmelt-server,ninja   # without Bazel

Tools: wasmelt in-process, wasmelt through its server, ninja and Bazel. The
latest numbers, with date and machine, are in bench/README.md.

The stages themselves against their peers (fuse vs binaryen, dce vs wasm-opt,
synth vs wasm2c) are `make bench-stages` (bench/stages.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import compare  # noqa: E402

DEFAULTS = ["--sizes", "1000,10000", "--runs", "5", "--cold-runs", "1", "--cache-runs", "3"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    args = [a for i, a in enumerate(DEFAULTS) if not (a.startswith("--") and a in given)
            and not (i and DEFAULTS[i - 1] in given)]
    compare.main(args + argv)


if __name__ == "__main__":
    main()
