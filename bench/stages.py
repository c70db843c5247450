"""`make bench-stages`: the per-stage comparisons one after the other —
fusion against binaryen, DCE against wasm-opt, synth against wasm2c — each
printing its table and writing bench/results/stages/<stage>.json.

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
import synth_bench  # noqa: E402

STAGES = {"fuse": fuse_bench, "dce": dce_bench, "synth": synth_bench}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=sorted(STAGES), action="append")
    args = ap.parse_args(argv)
    for name in args.only or STAGES:
        start = time.perf_counter()
        print(f"\n######## {name} ########")
        STAGES[name].main(["--runs", str(args.runs)] + (["--quick"] if args.quick else []))
        print(f"({name} bench took {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
