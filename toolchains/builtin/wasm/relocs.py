"""The `linking` and `reloc.*` custom sections of relocatable or
`--emit-relocs` modules: symbols, data segment info and relocation entries.

Relocation offsets are relative to the start of the target section's payload
(after its id and size), which is also how decode.py records the offset of
each instruction in `Function.offsets`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .decode import Reader
from .errors import DecodeError
from .model import Module

# Relocation types (tool-conventions/Linking.md).
FUNCTION_INDEX_LEB, TABLE_INDEX_SLEB, TABLE_INDEX_I32 = 0, 1, 2
MEMORY_ADDR_LEB, MEMORY_ADDR_SLEB, MEMORY_ADDR_I32 = 3, 4, 5
TYPE_INDEX_LEB, GLOBAL_INDEX_LEB, FUNCTION_OFFSET_I32, SECTION_OFFSET_I32 = 6, 7, 8, 9
TAG_INDEX_LEB, MEMORY_ADDR_REL_SLEB, TABLE_INDEX_REL_SLEB, GLOBAL_INDEX_I32 = 10, 11, 12, 13
MEMORY_ADDR_LEB64, MEMORY_ADDR_SLEB64, MEMORY_ADDR_I64, MEMORY_ADDR_REL_SLEB64 = 14, 15, 16, 17
TABLE_INDEX_SLEB64, TABLE_INDEX_I64, TABLE_NUMBER_LEB, MEMORY_ADDR_TLS_SLEB = 18, 19, 20, 21
FUNCTION_OFFSET_I64, MEMORY_ADDR_LOCREL_I32, TABLE_INDEX_REL_SLEB64, MEMORY_ADDR_TLS_SLEB64 = 22, 23, 24, 25
FUNCTION_INDEX_I32 = 26

WITH_ADDEND = {3, 4, 5, 8, 9, 11, 14, 15, 16, 17, 21, 22, 23, 25}
MEMORY_ADDRESS = {3, 4, 5, 11, 14, 15, 16, 17, 21, 23, 25}

SYMBOL_FUNCTION, SYMBOL_DATA, SYMBOL_GLOBAL, SYMBOL_SECTION, SYMBOL_TAG, SYMBOL_TABLE = range(6)
FLAG_UNDEFINED, FLAG_EXPLICIT_NAME = 0x10, 0x40


@dataclass(frozen=True)
class Relocation:
    type: int
    offset: int  # within the target section's payload
    index: int  # symbol (or type) index
    addend: int = 0

    @property
    def is_memory_address(self) -> bool:
        return self.type in MEMORY_ADDRESS


@dataclass(frozen=True)
class Symbol:
    kind: int
    flags: int
    name: str | None
    index: int | None = None  # function/global/table/tag index, or data segment
    offset: int = 0  # data: offset within the segment
    size: int = 0


@dataclass
class Linking:
    version: int = 2
    symbols: list[Symbol] = field(default_factory=list)
    segments: list[tuple[str, int, int]] = field(default_factory=list)  # (name, alignment log2, flags)


def parse_linking(payload: bytes) -> Linking:
    r = Reader(payload)
    linking = Linking(version=r.u32())
    while r.pos < r.end:
        sub = r.byte()
        size = r.u32()
        end = r.pos + size
        if end > r.end:
            raise r.fail("linking subsection runs past the end")
        s = Reader(payload, r.pos, end)
        if sub == 8:
            for _ in range(s.count(2)):
                kind, flags = s.byte(), s.u32()
                if kind in (SYMBOL_FUNCTION, SYMBOL_GLOBAL, SYMBOL_TAG, SYMBOL_TABLE):
                    index = s.u32()
                    name = s.name() if not flags & FLAG_UNDEFINED or flags & FLAG_EXPLICIT_NAME else None
                    linking.symbols.append(Symbol(kind, flags, name, index))
                elif kind == SYMBOL_DATA:
                    name = s.name()
                    if flags & FLAG_UNDEFINED:
                        linking.symbols.append(Symbol(kind, flags, name))
                    else:
                        linking.symbols.append(Symbol(kind, flags, name, s.u32(), s.u32(), s.u32()))
                elif kind == SYMBOL_SECTION:
                    linking.symbols.append(Symbol(kind, flags, None, s.u32()))
                else:
                    raise s.fail(f"unknown symbol kind {kind}")
        elif sub == 5:
            linking.segments = [(s.name(), s.u32(), s.u32()) for _ in range(s.count(3))]
        r.pos = end
    return linking


def parse_relocs(payload: bytes) -> tuple[int, list[Relocation]]:
    """(index of the target section among all sections, entries)."""
    r = Reader(payload)
    section = r.u32()
    entries = []
    for _ in range(r.count(3)):
        rtype = r.byte()
        if rtype > FUNCTION_INDEX_I32:
            raise r.fail(f"unknown relocation type {rtype}")
        offset, index = r.u32(), r.u32()
        addend = r.s64() if rtype in WITH_ADDEND else 0
        entries.append(Relocation(rtype, offset, index, addend))
    return section, entries


def relocations(module: Module) -> dict[str, list[Relocation]]:
    """{"CODE": [...], "DATA": [...]} from `reloc.CODE` / `reloc.DATA`."""
    found: dict[str, list[Relocation]] = {}
    for custom in module.customs:
        if custom.name.startswith("reloc."):
            try:
                found[custom.name[len("reloc."):]] = parse_relocs(custom.data)[1]
            except DecodeError as e:
                raise DecodeError(f"malformed {custom.name} section: {e}") from None
    return found


def linking(module: Module) -> Linking | None:
    for custom in module.customs:
        if custom.name == "linking":
            return parse_linking(custom.data)
    return None


def instruction_at(offsets: list[int], offset: int) -> int:
    """The index of the instruction whose encoding contains `offset`."""
    import bisect

    i = bisect.bisect_right(offsets, offset) - 1
    if i < 0:
        raise DecodeError(f"relocation offset {offset} precedes the function body")
    return i
