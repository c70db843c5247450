"""Seeded random modules from `wasm-tools smith`, limited to the features the
builtin stages support, for property tests."""

from __future__ import annotations

import random

from wasm_harness import wasm_tools

FEATURES = {"exceptions": "false", "gc": "false", "simd": "false", "relaxed-simd": "false", "threads": "false",
            "shared-everything-threads": "false", "wide-arithmetic": "false", "custom-descriptors": "false",
            "custom-page-sizes": "false", "memory64": "false", "compact-imports": "false",
            "extended-const": "false", "tail-call": "true", "bulk-memory": "true", "reference-types": "true",
            "multi-value": "true"}


def smith_modules(count: int, seed: int, *extra: str, entropy: int = 1500, **features: bool) -> list[bytes]:
    """`count` modules from `entropy` seeded random bytes each; `features`
    override FEATURES (reference_types=False), `extra` are further smith flags."""
    chosen = dict(FEATURES) | {k.replace("_", "-"): str(v).lower() for k, v in features.items()}
    flags = [arg for name, value in chosen.items() for arg in (f"--{name}-enabled", value)]
    rng = random.Random(seed)
    modules = []
    for _ in range(count * 3):
        data = bytes(rng.getrandbits(8) for _ in range(entropy))
        proc = wasm_tools("smith", *flags, *extra, data=data)
        if proc.returncode == 0:
            modules.append(proc.stdout)
            if len(modules) == count:
                return modules
        elif b"cannot be used multiple times" in proc.stderr or b"Usage:" in proc.stderr:
            raise AssertionError(proc.stderr.decode())
    raise AssertionError(f"wasm-tools smith produced only {len(modules)} of {count} modules")
