"""`make bench-stages`: the per-stage comparisons one after the other —
fusion against binaryen, DCE against wasm-opt, synth against wasm2c, and the
corpus's flash against native (size_bench.py) — each printing its table and
writing its JSON under bench/results/.

    python bench/stages.py                 # example app + generated app, 5 runs each
    python bench/stages.py --quick         # example only, 1 run
    python bench/stages.py --only synth    # one stage
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import dce_bench  # noqa: E402
import fuse_bench  # noqa: E402
import size_bench  # noqa: E402
import synth_bench  # noqa: E402


def _runs(module):
    return lambda runs, quick: module.main(["--runs", str(runs)] + (["--quick"] if quick else []))


# Sizes do not vary between runs: the size bench measures once.
QUICK_SIZE = ["--libs", "aes,checksum", "--cpus", "cortex-m4", "--cycle-cpus", "cortex-m4"]
STAGES = {"fuse": _runs(fuse_bench), "dce": _runs(dce_bench), "synth": _runs(synth_bench),
          "size": lambda runs, quick: size_bench.main(QUICK_SIZE if quick else [])}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=sorted(STAGES), action="append")
    args = ap.parse_args(argv)
    for name in args.only or STAGES:
        start = time.perf_counter()
        print(f"\n######## {name} ########")
        STAGES[name](args.runs, args.quick)
        print(f"({name} bench took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
