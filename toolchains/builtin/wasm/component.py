"""The component-model binary layer, read far enough to find the embedded
core modules, the canonical lift/lower entries and the component's import
and export names."""

from __future__ import annotations

from dataclasses import dataclass, field

from .decode import Reader
from .errors import DecodeError

COMPONENT_PREAMBLE = b"\0asm\x0d\0\x01\0"


@dataclass
class Canon:
    kind: str  # "lift" | "lower" | other canonical built-ins by name
    func_index: int | None = None
    type_index: int | None = None


@dataclass
class ComponentInfo:
    core_modules: list[bytes] = field(default_factory=list)
    canons: list[Canon] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    nested_components: int = 0


def is_component(data: bytes) -> bool:
    return data[:8] == COMPONENT_PREAMBLE


def _extern_name(r: Reader) -> str:
    tag = r.byte()
    if tag not in (0x00, 0x01):
        raise r.fail(f"unknown extern name form {tag:#x}")
    name = r.name()
    if tag == 0x01:  # a version suffix follows in some encodings
        r.name()
    return name


def _extern_desc(r: Reader) -> None:
    sort = r.byte()
    if sort == 0x00:
        if r.byte() != 0x11:
            raise r.fail("bad core module type")
        r.u32()
    elif sort in (0x01, 0x04, 0x05):
        r.u32()
    elif sort in (0x02, 0x03):
        bound = r.byte()
        if bound == 0x00:
            r.u32()
        elif bound != 0x01 or sort == 0x02:
            if sort == 0x02 and bound == 0x01:
                _skip_valtype(r)
            else:
                raise r.fail("bad type bound")
    else:
        raise r.fail(f"unknown extern sort {sort:#x}")


def _skip_valtype(r: Reader) -> None:
    b = r.data[r.pos] if r.pos < r.end else None
    if b is not None and 0x64 <= b <= 0x7F:
        r.pos += 1
    else:
        r.s33()


def _canonopts(r: Reader) -> None:
    for _ in range(r.count()):
        opt = r.byte()
        if opt in (0x03, 0x04, 0x05):  # memory, realloc, post-return
            r.u32()
        elif opt > 0x07:
            if opt == 0x06:
                pass
            else:
                raise r.fail(f"unknown canonical option {opt:#x}")


def _canon_section(r: Reader, info: ComponentInfo) -> None:
    for _ in range(r.count()):
        kind = r.byte()
        if kind == 0x00:
            if r.byte() != 0x00:
                raise r.fail("bad canon lift")
            func = r.u32()
            _canonopts(r)
            info.canons.append(Canon("lift", func, r.u32()))
        elif kind == 0x01:
            if r.byte() != 0x00:
                raise r.fail("bad canon lower")
            func = r.u32()
            _canonopts(r)
            info.canons.append(Canon("lower", func))
        elif kind in (0x02, 0x03, 0x04):  # resource.new / drop / rep
            r.u32()
            info.canons.append(Canon({2: "resource.new", 3: "resource.drop", 4: "resource.rep"}[kind]))
        else:
            # Async and thread built-ins: their layouts vary by version; stop
            # here rather than misread them.
            info.canons.append(Canon(f"builtin {kind:#x}"))
            r.pos = r.end
            return


def read_component(data: bytes) -> ComponentInfo:
    if not is_component(data):
        raise DecodeError("not a component (bad preamble)", 0)
    info = ComponentInfo()
    r = Reader(data, 8)
    while r.pos < len(data):
        start = r.pos
        sid = r.byte()
        size = r.u32()
        end = r.pos + size
        if end > len(data):
            raise DecodeError(f"component section {sid} runs past the end", start)
        s = Reader(data, r.pos, end)
        if sid == 1:
            info.core_modules.append(data[s.pos:end])
        elif sid == 4:
            info.nested_components += 1
        elif sid == 8:
            _canon_section(s, info)
        elif sid == 10:
            for _ in range(s.count()):
                info.imports.append(_extern_name(s))
                _extern_desc(s)
        elif sid == 11:
            for _ in range(s.count()):
                info.exports.append(_extern_name(s))
                sort = s.byte()
                if sort == 0x00:
                    s.byte()
                s.u32()
                if s.byte() == 0x01:
                    _extern_desc(s)
        elif sid > 11 and sid != 0:
            raise DecodeError(f"unknown component section id {sid}", start)
        r.pos = end
    return info


def core_modules(data: bytes) -> list[bytes]:
    """The core modules inside a component, or [data] for a core module."""
    return read_component(data).core_modules if is_component(data) else [data]
