"""The `name` custom section: function, local, global and data names read
into maps and written back, so stages can rename and renumber."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..demangle import demangle
from .decode import Reader
from .errors import DecodeError
from .leb128 import unsigned
from .model import CustomSection, Module

MODULE, FUNCTIONS, LOCALS, GLOBALS, DATA = 0, 1, 2, 7, 9


@dataclass
class Names:
    module: str | None = None
    functions: dict[int, str] = field(default_factory=dict)
    locals: dict[int, dict[int, str]] = field(default_factory=dict)
    globals: dict[int, str] = field(default_factory=dict)
    data: dict[int, str] = field(default_factory=dict)
    other: list[tuple[int, bytes]] = field(default_factory=list)  # subsections kept as they are


def _namemap(r: Reader) -> dict[int, str]:
    return {r.u32(): r.name() for _ in range(r.count(2))}


def parse_names(payload: bytes) -> Names:
    names = Names()
    r = Reader(payload)
    while r.pos < r.end:
        sub = r.byte()
        size = r.u32()
        end = r.pos + size
        if end > r.end:
            raise r.fail("name subsection runs past the end")
        s = Reader(payload, r.pos, end)
        if sub == MODULE:
            names.module = s.name()
        elif sub == FUNCTIONS:
            names.functions = _namemap(s)
        elif sub == LOCALS:
            names.locals = {s.u32(): _namemap(s) for _ in range(s.count(2))}
        elif sub == GLOBALS:
            names.globals = _namemap(s)
        elif sub == DATA:
            names.data = _namemap(s)
        else:
            names.other.append((sub, payload[r.pos:end]))
        r.pos = end
    return names


def _encode_namemap(m: dict[int, str]) -> bytes:
    out = bytearray(unsigned(len(m)))
    for index in sorted(m):
        raw = m[index].encode("utf-8")
        out += unsigned(index) + unsigned(len(raw)) + raw
    return bytes(out)


def encode_names(names: Names) -> bytes:
    subs: list[tuple[int, bytes]] = []
    if names.module is not None:
        raw = names.module.encode("utf-8")
        subs.append((MODULE, unsigned(len(raw)) + raw))
    if names.functions:
        subs.append((FUNCTIONS, _encode_namemap(names.functions)))
    if names.locals:
        body = bytearray(unsigned(len(names.locals)))
        for f in sorted(names.locals):
            body += unsigned(f) + _encode_namemap(names.locals[f])
        subs.append((LOCALS, bytes(body)))
    subs += names.other
    if names.globals:
        subs.append((GLOBALS, _encode_namemap(names.globals)))
    if names.data:
        subs.append((DATA, _encode_namemap(names.data)))
    subs.sort(key=lambda s: s[0])
    return b"".join(bytes([sid]) + unsigned(len(body)) + body for sid, body in subs)


def get_names(module: Module) -> Names:
    """The module's names; a malformed name section counts as none (it is
    debug information, never a reason to fail a build)."""
    for custom in module.customs:
        if custom.name == "name":
            try:
                return parse_names(custom.data)
            except DecodeError:
                return Names()
    return Names()


def set_names(module: Module, names: Names) -> None:
    payload = encode_names(names)
    for custom in module.customs:
        if custom.name == "name":
            custom.data = payload
            return
    module.customs.append(CustomSection("name", payload, after=11))


def function_names(module: Module) -> dict[int, str]:
    return get_names(module).functions


def function_label(module: Module, index: int) -> str:
    """A function's name for messages: its debug name (a Rust one demangled),
    else its export name, else `func[N]`."""
    name = function_names(module).get(index)
    if name:
        return demangle(name)
    for export in module.exports:
        if export.kind == "func" and export.index == index:
            return export.name
    return f"func[{index}]"
