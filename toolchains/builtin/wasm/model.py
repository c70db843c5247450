"""The in-memory form of a WebAssembly core module shared by every builtin stage.

decode.py builds it from bytes, encode.py writes it back; fuse, dce and synth
read and rewrite it. Indices are module-wide (imports first), as in the binary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Value types are spelled as in the text format.
I32, I64, F32, F64, V128 = "i32", "i64", "f32", "f64", "v128"
FUNCREF, EXTERNREF = "funcref", "externref"

# Import/export kinds.
FUNC, TABLE, MEMORY, GLOBAL, TAG = "func", "table", "memory", "global", "tag"


@dataclass(frozen=True)
class FuncType:
    params: tuple[str, ...]
    results: tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    min: int
    max: int | None = None
    shared: bool = False
    is64: bool = False


@dataclass(frozen=True)
class TableType:
    elem: str  # FUNCREF or EXTERNREF
    limits: Limits


@dataclass(frozen=True)
class MemoryType:
    limits: Limits


@dataclass(frozen=True)
class GlobalType:
    valtype: str
    mutable: bool


@dataclass(frozen=True)
class BlockType:
    """A block signature: nothing, one result type, or a type index."""

    result: str | None = None
    type_index: int | None = None


@dataclass(frozen=True)
class MemArg:
    align: int
    offset: int
    memory: int = 0


@dataclass(frozen=True)
class Instr:
    """One instruction, in binary order (block/loop/if/else/end are markers).

    `op` is the text-format name ("i32.add", "call", "br_table", "memory.grow").
    `imm` holds the immediates, in the order the binary has them:
      block/loop/if: (BlockType,)      br/br_if: (depth,)
      br_table: (tuple_of_depths, default)   call: (funcidx,)
      call_indirect: (typeidx, tableidx)     local.*/global.*: (idx,)
      loads/stores: (MemArg,)           memory.size/grow: (memidx,)
      i32.const/i64.const: (int,) signed   f32.const/f64.const: (bytes,) raw LE bits
      memory.init: (dataidx, memidx)    data.drop: (dataidx,)
      memory.copy: (dst_mem, src_mem)   memory.fill: (memidx,)
      table.init: (elemidx, tableidx)   table.copy: (dst, src)  elem.drop: (elemidx,)
      table.get/set/size/grow/fill: (tableidx,)
      ref.null: (reftype,)  ref.func: (funcidx,)  select with types: (tuple_of_types,)
      v128.const: (bytes,)  other SIMD ops: their immediates as ints/MemArg
    """

    op: str
    imm: tuple = ()


Expr = list[Instr]  # a constant expression or body, ending with Instr("end")


@dataclass
class Import:
    module: str
    name: str
    kind: str  # FUNC (desc: type index) | TABLE | MEMORY | GLOBAL | TAG
    desc: int | TableType | MemoryType | GlobalType


@dataclass
class Function:
    type_index: int
    locals: list[tuple[int, str]] = field(default_factory=list)  # (count, valtype) runs
    body: Expr = field(default_factory=list)
    # Where each instruction of `body` started in the input's code section
    # payload (only after decoding; relocations point into these ranges).
    offsets: list[int] | None = field(default=None, compare=False, repr=False)


@dataclass
class Global:
    type: GlobalType
    init: Expr


@dataclass
class Export:
    name: str
    kind: str
    index: int


@dataclass
class Element:
    mode: str  # "active" | "passive" | "declarative"
    elem_type: str  # FUNCREF | EXTERNREF
    # Each item is a constant expression; a plain function index list is
    # stored as [Instr("ref.func", (i,)), Instr("end")] items with
    # uses_exprs=False so the encoder writes the compact form back.
    items: list[Expr]
    table: int = 0
    offset: Expr | None = None
    uses_exprs: bool = False


@dataclass
class Data:
    mode: str  # "active" | "passive"
    data: bytes
    memory: int = 0
    offset: Expr | None = None
    # Where `data` started in the input's data section payload (only after
    # decoding; reloc.DATA entries point into it).
    payload_offset: int | None = field(default=None, compare=False, repr=False)


@dataclass
class CustomSection:
    name: str
    data: bytes
    # Id of the standard section this one followed in the input (0 = before
    # all of them), so the encoder can put it back in the same place.
    after: int = 0


@dataclass
class Module:
    types: list[FuncType] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    functions: list[Function] = field(default_factory=list)  # defined only
    tables: list[TableType] = field(default_factory=list)  # defined only
    memories: list[MemoryType] = field(default_factory=list)  # defined only
    globals: list[Global] = field(default_factory=list)  # defined only
    exports: list[Export] = field(default_factory=list)
    start: int | None = None
    elements: list[Element] = field(default_factory=list)
    datas: list[Data] = field(default_factory=list)
    data_count: int | None = None  # whether (and what) the datacount section said
    tags: list[int] = field(default_factory=list)  # exception tags: type indices
    customs: list[CustomSection] = field(default_factory=list)

    def imported(self, kind: str) -> list[Import]:
        return [imp for imp in self.imports if imp.kind == kind]

    def func_type(self, func_index: int) -> FuncType:
        """The signature of a function by module-wide index (imports first)."""
        imported = self.imported(FUNC)
        if func_index < len(imported):
            return self.types[imported[func_index].desc]
        return self.types[self.functions[func_index - len(imported)].type_index]
