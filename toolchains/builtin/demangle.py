"""Rust's symbol names as people write them: `_ZN7payload6buffer4make17h…E`
(rustc's legacy mangling) reads `payload::buffer::make`; other names pass as they are."""

from __future__ import annotations

import re

_ESCAPES = {"SP": "@", "BP": "*", "RF": "&", "LT": "<", "GT": ">", "LP": "(", "RP": ")", "C": ","}
_HASH = re.compile(r"h[0-9a-f]{16}")


def _unescape(ident: str) -> str:
    def escape(m: re.Match) -> str:
        code = m.group(1)
        if code in _ESCAPES:
            return _ESCAPES[code]
        if code.startswith("u"):
            try:
                return chr(int(code[1:], 16))
            except ValueError:
                return m.group(0)
        return m.group(0)

    ident = re.sub(r"\$([A-Za-z0-9]+)\$", escape, ident)
    return ident.replace("..", "::")


def demangle(name: str) -> str:
    """`_ZN<len><ident>…E` (with or without a leading `_`) to `a::b::c`, the
    trailing `h<hash>` dropped; a name that is not legacy-mangled is returned
    unchanged."""
    text = name[1:] if name.startswith("__ZN") else name
    if not text.startswith("_ZN") or not text.endswith("E"):
        return name
    parts, i, end = [], 3, len(text) - 1
    while i < end:
        m = re.match(r"\d+", text[i:end])
        if not m:
            return name
        n = int(m.group(0))
        i += len(m.group(0))
        if n == 0 or i + n > end:
            return name
        parts.append(text[i:i + n])
        i += n
    if not parts:
        return name
    if len(parts) > 1 and _HASH.fullmatch(parts[-1]):
        parts.pop()
    return "::".join(_unescape(p.removeprefix("_") if p.startswith("_$") else p) for p in parts)
