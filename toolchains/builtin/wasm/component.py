"""The component-model binary layer: embedded core modules, core instances,
aliases, canonical lift/lower with their options, imports and exports.

Enough of the index spaces is tracked to tell which core module is the
component's own code (the one its lifts come from) from wit-component's shims.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .decode import Reader
from .errors import DecodeError

COMPONENT_PREAMBLE = b"\0asm\x0d\0\x01\0"
STRING_ENCODINGS = {0x00: "utf8", 0x01: "utf16", 0x02: "latin1+utf16"}


@dataclass
class Canon:
    kind: str  # "lift" | "lower" | "resource.new" | ... | "builtin 0x.."
    func_index: int | None = None  # lift: core func; lower: component func
    type_index: int | None = None
    string_encoding: str = "utf8"
    memory: int | None = None
    realloc: int | None = None
    post_return: int | None = None


@dataclass
class ComponentInfo:
    core_modules: list[bytes] = field(default_factory=list)
    canons: list[Canon] = field(default_factory=list)
    imports: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    nested_components: int = 0
    # core instance -> ("instantiate", module index) | ("exports", None)
    core_instances: list[tuple[str, int | None]] = field(default_factory=list)
    # core func -> ("alias", core instance, export name) | ("canon", Canon index)
    core_funcs: list[tuple] = field(default_factory=list)

    def main_module(self) -> int | None:
        """Index of the core module the component's lifts call into (its own
        code); else the only core module; None when that is ambiguous."""
        for canon in self.canons:
            if canon.kind == "lift" and canon.func_index is not None and canon.func_index < len(self.core_funcs):
                origin = self.core_funcs[canon.func_index]
                if origin[0] == "alias" and origin[1] < len(self.core_instances):
                    how, module = self.core_instances[origin[1]]
                    if how == "instantiate" and module is not None and module < len(self.core_modules):
                        return module
        return 0 if len(self.core_modules) == 1 else None


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


def _canonopts(r: Reader, canon: Canon) -> None:
    for _ in range(r.count()):
        opt = r.byte()
        if opt in STRING_ENCODINGS:
            canon.string_encoding = STRING_ENCODINGS[opt]
        elif opt == 0x03:
            canon.memory = r.u32()
        elif opt == 0x04:
            canon.realloc = r.u32()
        elif opt == 0x05:
            canon.post_return = r.u32()
        elif opt == 0x06:  # async
            pass
        elif opt == 0x07:  # callback
            r.u32()
        else:
            raise r.fail(f"unknown canonical option {opt:#x}")


def _canon_section(r: Reader, info: ComponentInfo) -> None:
    for _ in range(r.count()):
        kind = r.byte()
        if kind == 0x00:
            if r.byte() != 0x00:
                raise r.fail("bad canon lift")
            canon = Canon("lift", r.u32())
            _canonopts(r, canon)
            canon.type_index = r.u32()
            info.canons.append(canon)  # a component func, not a core one
        elif kind == 0x01:
            if r.byte() != 0x00:
                raise r.fail("bad canon lower")
            canon = Canon("lower", r.u32())
            _canonopts(r, canon)
            info.canons.append(canon)
            info.core_funcs.append(("canon", len(info.canons) - 1))
        elif kind in (0x02, 0x03, 0x04):  # resource.new / drop / rep
            info.canons.append(Canon({2: "resource.new", 3: "resource.drop", 4: "resource.rep"}[kind],
                                     type_index=r.u32()))
            info.core_funcs.append(("canon", len(info.canons) - 1))
        else:
            # Async and thread built-ins: their layouts vary by version; stop
            # here rather than misread them.
            info.canons.append(Canon(f"builtin {kind:#x}"))
            r.pos = r.end
            return


def _core_instance_section(r: Reader, info: ComponentInfo) -> None:
    for _ in range(r.count()):
        form = r.byte()
        if form == 0x00:
            module = r.u32()
            for _ in range(r.count()):
                r.name()
                if r.byte() != 0x12:
                    raise r.fail("bad core instantiation argument")
                r.u32()
            info.core_instances.append(("instantiate", module))
        elif form == 0x01:
            for _ in range(r.count()):
                r.name()
                r.byte()
                r.u32()
            info.core_instances.append(("exports", None))
        else:
            raise r.fail(f"unknown core instance form {form:#x}")


def _alias_section(r: Reader, info: ComponentInfo) -> None:
    for _ in range(r.count()):
        sort = r.byte()
        core_sort = r.byte() if sort == 0x00 else None
        target = r.byte()
        if target in (0x00, 0x01):
            instance, name = r.u32(), r.name()
        elif target == 0x02:
            r.u32()
            r.u32()
            instance, name = None, None
        else:
            raise r.fail(f"unknown alias target {target:#x}")
        if core_sort == 0x00:
            info.core_funcs.append(("alias", instance, name) if target == 0x01 else ("outer",))
        elif core_sort == 0x12:
            info.core_instances.append(("alias", None))


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
        elif sid == 2:
            _core_instance_section(s, info)
        elif sid == 4:
            info.nested_components += 1
        elif sid == 6:
            _alias_section(s, info)
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


def main_core_module(data: bytes) -> bytes:
    """A component's own core module (not wit-component's shim and fixup
    modules), or the data itself for a core module."""
    if not is_component(data):
        return data
    info = read_component(data)
    index = info.main_module()
    if index is None:
        raise DecodeError(f"cannot tell which of its {len(info.core_modules)} core modules is the component's code", 0)
    return info.core_modules[index]
