"""`wasmelt init [DIR]`: a minimal workspace that builds and tests as written,
one C component through fuse, dce and synth to a tested Cortex-M object."""

from __future__ import annotations

import json
import re
from pathlib import Path

from wasmelt.engine.errors import ConfigError

IGNORED = ("wasmelt-out/", ".wasmelt/")

ROOT_BUILD = """\
#:schema ./build.schema.json
# The workspace root: settings for every package below it. Packages are
# directories with a BUILD.toml; `wasmelt build //...` builds all of them.
[workspace]
name = "{name}"
"""

APP_BUILD = """\
#:schema ../build.schema.json
# app.c -> a WebAssembly component -> fused into one core module -> trimmed to
# the firmware's entry points -> a Cortex-M4 object, tested against its wasm.

[[component]]
name = "app"
srcs = ["app.c"]

# More components (C, Rust no_std, WAT, .wasm) join here and share one memory.
[[fuse]]
name = "fused"
components = [":app"]
memory = "shared"
address_rebase = true

[[dce]]
name = "lean"
src = ":fused"
roots = ["reset", "step"]

[[synth]]
name = "firmware"
src = ":lean"
cpu = "cortex-m4"
max_text_bytes = 1024

# Runs each case, from a fresh start, as Thumb code in an emulator and in
# wasmtime, and compares results, host calls and traps; host_stubs.toml says
# what the host answers. `expect` pins a result.
[[firmware_test]]
name = "firmware_test"
firmware = ":firmware"
imports = "host_stubs.toml"
cases = [
  { call = "reset" },
  { call = "step", args = [2], expect = [50] },
  { call = "step", args = [-1], expect = [-25] },
]
random_cases = 50
"""

APP_C = """\
/* The firmware's logic. Built as a WebAssembly component and lowered to a
 * Cortex-M object: your firmware calls its exports (`reset`, `step`) and
 * provides its imports (`read_sensor`, an undefined symbol in the object). */
#include <stdint.h>

#define IMPORT(module, name) __attribute__((import_module(module), import_name(name)))
#define EXPORT(name) __attribute__((export_name(name)))

IMPORT("hw", "read_sensor") int32_t read_sensor(void);

static int32_t level;

EXPORT("reset") void reset(void) { level = 0; }

/* One control step: a moving average of the sensor, scaled by `gain`. */
EXPORT("step") int32_t step(int32_t gain) {
    level += (read_sensor() * gain - level) / 4;
    return level;
}
"""

HOST_STUBS = """\
# What the host functions answer in firmware tests: each call takes the next
# value of `returns` (cycling); every call is recorded and compared.
[imports."hw.read_sensor"]
returns = [100, 200, 50, 400]
"""

FILES = {
    "BUILD.toml": ROOT_BUILD,
    "app/BUILD.toml": APP_BUILD,
    "app/app.c": APP_C,
    "app/host_stubs.toml": HOST_STUBS,
    "build.schema.json": None,  # `wasmelt schema`: what editors validate and complete BUILD.toml with
}


def add_parser(sub) -> None:
    p = sub.add_parser("init", help="write a minimal workspace (a C component to a tested Cortex-M object) to start from",
                       epilog="example: wasmelt init blinky && cd blinky && wasmelt test //...")
    p.add_argument("directory", nargs="?", default=".", help="where to write it (default: here; created if missing)")


def _workspace_name(directory: Path) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", directory.name).strip("_.-") or "firmware"


def run(args) -> int:
    directory = Path(args.directory).resolve()
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"wasmelt init: {args.directory} is a file, not a directory")
    existing = [rel for rel in FILES if (directory / rel).exists() or (directory / rel).is_symlink()]
    if existing:
        raise ConfigError(f"wasmelt init: {', '.join(str(directory / rel) for rel in existing)} already "
                          f"exist{'s' if len(existing) == 1 else ''}; nothing was written. Run it in an empty "
                          f"directory (`wasmelt init DIR`), or move those files away")
    for rel, text in FILES.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            from .schema import build_schema

            text = json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"
        path.write_text(text.format(name=_workspace_name(directory)) if rel == "BUILD.toml" else text)
    gitignore = directory / ".gitignore"
    have = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.exists() else []
    added = [line for line in IGNORED if line not in have and line.rstrip("/") not in have]
    if added:
        prefix = "\n" if have and not gitignore.read_text(encoding="utf-8").endswith("\n") else ""
        with gitignore.open("a", encoding="utf-8") as f:
            f.write(prefix + "".join(f"{line}\n" for line in added))
    where = args.directory if args.directory != "." else "this directory"
    print(f"wrote a wasmelt workspace in {where}:")
    print("  BUILD.toml           the workspace root ([workspace] settings)")
    print("  build.schema.json    BUILD.toml's JSON Schema, for editors (`#:schema` on each file's first line)")
    print("  app/BUILD.toml       app.c -> component -> fuse -> dce -> synth (cortex-m4) -> firmware_test")
    print("  app/app.c            the firmware logic")
    print("  app/host_stubs.toml  what the host function `read_sensor` answers in tests")
    if added:
        print(f"  .gitignore           {' and '.join(added)} (build outputs and the cache)")
    cd = f"cd {args.directory} && " if args.directory != "." else ""
    print(f"next: {cd}wasmelt test //...   (then `wasmelt size //app:firmware`)")
    return 0
