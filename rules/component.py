"""`component`: one WebAssembly component (or core module) from C, Rust
no_std, WAT or prebuilt sources, with the no-grow discipline checked."""

from __future__ import annotations

import posixpath
import re
from typing import Annotated, Literal

from pydantic import Field

from wasmelt.engine.analysis import AnalysisContext, TargetInfo
from wasmelt.engine.registry import AttrKind, RuleAttrs, RuleKind, SourceOrLabelListAttr, register_rule
from wasmelt.toolchains import component as stage
from wasmelt.toolchains import cstd

from .common import ToolRequest, setting
from .providers import WasmInfo

_IDENT = re.compile(r"[A-Za-z_]\w*")
_DEFINE = re.compile(r"[A-Za-z_]\w*(\([\w\s,.]*\))?(=.*)?", re.S)
_PATH_OPTS = ("-I", "-isystem", "-iquote", "-idirafter")  # copts whose directory is package-relative
C_ONLY = ("includes", "defines", "linkopts", "host_imports", "heap_size")


class ComponentAttrs(RuleAttrs):
    srcs: SourceOrLabelListAttr = Field(min_length=1)  # files, or targets (a genrule) whose outputs are sources
    hdrs: SourceOrLabelListAttr = []  # headers (files or generated), or the other modules of a Rust crate
    # a WIT file, or the files of a WIT package directory (its own and those under deps/)
    wit: Annotated[str | list[str] | None, AttrKind.SOURCE] = None
    world: str | None = None
    no_grow: bool = True
    stack_size: int = Field(default=2048, ge=16, le=1 << 20)
    max_memory_pages: int = Field(default=1, ge=1, le=65536)
    exports: list[str] | None = None
    cc: Literal["zig", "clang"] | None = None
    copts: list[str] = []  # compiler options; -I/-isystem/-iquote directories are package-relative
    includes: list[str] = []  # C include directories, relative to the package
    defines: list[str] = []  # C preprocessor defines: NAME or NAME=VALUE
    linkopts: list[str] = []  # wasm-ld options (C)
    host_imports: list[str] = []  # C functions left undefined, for the host (the firmware) to provide
    edition: Literal["2015", "2018", "2021", "2024"] = "2021"  # Rust
    arena_bytes: int = Field(default=4096, ge=8, le=1 << 24)  # the generated cabi_realloc's static arena (C + wit)
    # the libc's malloc arena from __heap_base (C); the component's report carries it to the synth's memory
    heap_size: int | None = Field(default=None, ge=1, le=1 << 24)


def _files(ctx: AnalysisContext, items: list[str]):
    """Each item as files: a source of the package, or a target's outputs."""
    files = []
    for item in items:
        if item.startswith(":") or item.startswith("//"):
            files += ctx.dep(item).files
        else:
            files.append(ctx.source(item))
    return files


def _in_package(ctx: AnalysisContext, path: str, attr: str) -> str:
    """A package-relative directory as a path from the workspace root."""
    if posixpath.isabs(path):
        if attr == "copts":
            return path
        raise ctx.fail(f"`{attr}` entry `{path}` is absolute; give a directory relative to the package")
    joined = posixpath.normpath(posixpath.join(ctx.label.package, path))
    if joined == ".." or joined.startswith("../"):
        raise ctx.fail(f"`{attr}` entry `{path}` leaves the workspace")
    return joined


def package_copts(ctx: AnalysisContext, copts: list[str]) -> list[str]:
    """copts with the directory of -I, -isystem, -iquote and -idirafter taken
    relative to the package (as `includes` is), not to the workspace root."""
    out, pending = [], None
    for opt in copts:
        if pending:
            out.append(_in_package(ctx, opt, "copts"))
            pending = None
        elif opt in _PATH_OPTS:
            out.append(opt)
            pending = opt
        else:
            flag = next((f for f in _PATH_OPTS if opt.startswith(f) and len(opt) > len(f)), None)
            out.append(flag + _in_package(ctx, opt[len(flag):], "copts") if flag else opt)
    if pending:
        raise ctx.fail(f"`copts` ends with `{pending}`, which needs a directory after it")
    return out


def _check_c_attrs(ctx: AnalysisContext, attrs: ComponentAttrs, kind: str) -> None:
    given = [a for a in C_ONLY if getattr(attrs, a)]
    if given and kind != "c":
        raise ctx.fail(f"`{given[0]}` is for C components; this one is built from {kind} sources")
    if "edition" in attrs.model_fields_set and kind != "rust":
        raise ctx.fail(f"`edition` is for Rust components; this one is built from {kind} sources")
    for name in attrs.host_imports:
        if not _IDENT.fullmatch(name):
            raise ctx.fail(f"`host_imports` entry `{name}` is not a C function name")
    for define in attrs.defines:
        if not _DEFINE.fullmatch(define):
            raise ctx.fail(f"`defines` entry `{define}` is not NAME or NAME=VALUE")
    heap = cstd.heap_define(attrs.defines)
    if heap:
        raise ctx.fail(f"`defines` entry `{heap}`: the heap is the `heap_size` attribute (bytes), which also "
                       "sizes the synth's memory; write `heap_size = <bytes>` instead")


def _cc(ctx) -> str:
    return ctx.attrs.cc or setting(ctx, "cc", "cc", "zig")


def _kind_sources(srcs) -> list[str]:
    """The sources that name the component's kind before analysis: its files;
    sources that are all targets' outputs (a genrule's .c) are taken as C."""
    files = [s for s in srcs if not (s.startswith(":") or s.startswith("//"))]
    return files or ["generated.c"]


def tools(ctx) -> list[ToolRequest]:
    try:
        stage.source_kind(_kind_sources(ctx.attrs.srcs))
    except stage.StageError:
        return []  # analyze says what is wrong with them
    return [ToolRequest(stage.identities, (tuple(_kind_sources(ctx.attrs.srcs)), _cc(ctx), bool(ctx.attrs.wit)))]


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: ComponentAttrs = ctx.attrs
    if attrs.wit and not attrs.world:
        raise ctx.fail("`wit` needs `world`: the WIT world this component implements")
    srcs = _files(ctx, attrs.srcs)
    hdrs = _files(ctx, attrs.hdrs)
    wits = [ctx.source(w) for w in ([attrs.wit] if isinstance(attrs.wit, str) else attrs.wit or [])]
    try:
        kind = stage.source_kind([s.path for s in srcs])
    except stage.StageError as e:
        raise ctx.fail(str(e)) from None
    _check_c_attrs(ctx, attrs, kind)
    if stage.source_kind(_kind_sources(attrs.srcs)) != kind:
        raise ctx.fail(f"the sources are {kind} but every file listed is generated by a target: such sources are "
                       "compiled as C; list one of the component's own files in `srcs` to name its kind")
    includes = [_in_package(ctx, d, "includes") for d in attrs.includes]
    # a generated header is found from its own directory, as a header next to the source is
    includes += dict.fromkeys(posixpath.dirname(h.path) for h in hdrs if not h.is_source)
    cc = _cc(ctx)
    wasm = ctx.declare(f"{ctx.label.name}.wasm")
    report = ctx.declare(f"{ctx.label.name}.report.json")
    header = ctx.declare(f"{attrs.world}.h") if attrs.wit and kind == "c" else None
    ctx.action(
        mnemonic="Component", inputs=srcs + hdrs + wits, outputs=[wasm, report] + ([header] if header else []),
        tools=ctx.tools,
        argv=stage.argv([s.path for s in srcs], wasm.path, report.path, label=str(ctx.label), cc=cc,
                        wit=[w.path for w in wits] or None, world=attrs.world, no_grow=attrs.no_grow,
                        stack_size=attrs.stack_size, max_memory_pages=attrs.max_memory_pages,
                        exports=attrs.exports, copts=package_copts(ctx, attrs.copts), arena_bytes=attrs.arena_bytes,
                        bindings=header.path if header else None, includes=includes, defines=attrs.defines,
                        linkopts=attrs.linkopts, host_imports=attrs.host_imports,
                        edition=attrs.edition if kind == "rust" else None, heap_size=attrs.heap_size))
    return TargetInfo(files=(wasm,), providers=(WasmInfo(wasm, report, needs_fuse=bool(wits) or kind == "wasm",
                                                          fuse_report=report,  # its memory layout
                                                          natural_alignment=kind in ("c", "rust")),))


register_rule(RuleKind("component", ComponentAttrs, analyze, doc="a wasm component from C, Rust, WAT or .wasm",
                       tools=tools))
