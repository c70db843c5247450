"""The freestanding C library C components compile against (toolchains/libc):
where its headers and sources are, the compile flags a component adds, and the
messages for a header or function it does not provide."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).parent / "libc"
INCLUDE = ROOT / "include"
SRC = ROOT / "src"
SOURCES = ("ctype.c", "malloc.c", "stdlib.c", "string.c")

# Headers the compiler itself provides for a freestanding target (clang's resource directory).
COMPILER_HEADERS = ("float.h", "iso646.h", "limits.h", "stdalign.h", "stdarg.h", "stdbool.h", "stddef.h",
                    "stdint.h", "stdnoreturn.h")
# Hosted-C headers that a wasm component cannot have: no files, console, clock, signals or heap.
HOSTED_HEADERS = ("complex.h", "errno.h", "fenv.h", "locale.h", "malloc.h", "math.h", "setjmp.h", "signal.h",
                  "stdatomic.h", "stdio.h", "tgmath.h", "threads.h", "time.h", "uchar.h", "unistd.h", "wchar.h",
                  "wctype.h")
# What a hosted libc has and this one leaves out on purpose, and why.
MISSING_FUNCTIONS = {
    **dict.fromkeys(("malloc", "calloc", "realloc", "free"),
                    "a component has no heap unless it declares one: `heap_size = <bytes>` on the component "
                    "gives a grow-free arena above __heap_base (the synth's memory includes it); "
                    "or use static buffers"),
    **dict.fromkeys(("printf", "sprintf", "snprintf", "puts", "putchar", "fopen", "fprintf"),
                    "a component has no console or files: leave output to the host (`host_imports`)"),
}


HEAP_DEFINE = "WASMELT_HEAP_SIZE"  # internal: how the component's heap_size reaches the libc's malloc.c


def heap_define(defines: list[str]) -> str | None:
    """A define that would set the libc's heap by hand (the `heap_size` attribute does)."""
    return next((d for d in defines if d.partition("=")[0] == HEAP_DEFINE), None)


def headers() -> list[str]:
    """Every header a C component can include without its own `hdrs`."""
    return sorted([p.name for p in INCLUDE.glob("*.h")] + list(COMPILER_HEADERS))


@dataclass(frozen=True)
class CFlags:
    """What a C component adds to the compile and link: include directories,
    preprocessor defines, raw compiler options, linker options, and the
    functions it leaves undefined for the host."""

    includes: list[str] = field(default_factory=list)
    defines: list[str] = field(default_factory=list)
    copts: list[str] = field(default_factory=list)
    linkopts: list[str] = field(default_factory=list)
    host_imports: list[str] = field(default_factory=list)


_NOT_FOUND = re.compile(r"^(\S.*?):(\d+):\d+: fatal error: '([^']+)' file not found", re.M)


def missing_header_message(stderr: str, label: str) -> str | None:
    """A clear message when a compile failed on an #include that cannot be found."""
    m = _NOT_FOUND.search(stderr)
    if not m:
        return None
    where, header = f"{m.group(1)}:{m.group(2)}", m.group(3)
    if header in HOSTED_HEADERS or header.startswith("sys/"):
        return (f"component {label}: {where} includes <{header}>, which wasmelt's freestanding libc does not "
                f"provide: a wasm component has no files, console, clock, signals or heap. Available: "
                f"{', '.join(headers())}")
    return (f"component {label}: {where} includes \"{header}\", which is not among the component's inputs: "
            f"list it in `hdrs` (a file or a label) and its directory in `includes` if it is not next to the "
            f"source. The C library headers available are: {', '.join(headers())}")


def missing_function_hint(undefined) -> str:
    """Why a C library function the component calls is not provided."""
    notes = [f"`{name}`: {MISSING_FUNCTIONS[name]}" for name in sorted(undefined) if name in MISSING_FUNCTIONS]
    return (" (wasmelt's libc is freestanding; " + "; ".join(notes) + ")") if notes else ""
