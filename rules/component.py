"""`component`: one WebAssembly component (or core module) from C, Rust
no_std, WAT or prebuilt sources, with the no-grow discipline checked."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from wasmelt.engine.analysis import AnalysisContext, TargetInfo
from wasmelt.engine.registry import AttrKind, RuleAttrs, RuleKind, SourceListAttr, register_rule
from wasmelt.toolchains import component as stage

from .common import resolve_tools, setting
from .providers import WasmInfo


class ComponentAttrs(RuleAttrs):
    srcs: SourceListAttr = Field(min_length=1)
    hdrs: SourceListAttr = []  # headers, or the other modules of a Rust crate
    # a WIT file, or the files of a WIT package directory (its own and those under deps/)
    wit: Annotated[str | list[str] | None, AttrKind.SOURCE] = None
    world: str | None = None
    no_grow: bool = True
    stack_size: int = Field(default=2048, ge=16, le=1 << 20)
    max_memory_pages: int = Field(default=1, ge=1, le=65536)
    exports: list[str] | None = None
    cc: Literal["zig", "clang"] | None = None
    copts: list[str] = []
    arena_bytes: int = Field(default=4096, ge=8, le=1 << 24)  # the generated cabi_realloc's static arena (C + wit)


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: ComponentAttrs = ctx.attrs
    if attrs.wit and not attrs.world:
        raise ctx.fail("`wit` needs `world`: the WIT world this component implements")
    srcs = [ctx.source(s) for s in attrs.srcs]
    wits = [ctx.source(w) for w in ([attrs.wit] if isinstance(attrs.wit, str) else attrs.wit or [])]
    extra = [ctx.source(s) for s in attrs.hdrs] + wits
    try:
        stage.source_kind([s.path for s in srcs])
    except stage.StageError as e:
        raise ctx.fail(str(e)) from None
    cc = attrs.cc or setting(ctx, "cc", "cc", "zig")
    wasm = ctx.declare(f"{ctx.label.name}.wasm")
    report = ctx.declare(f"{ctx.label.name}.report.json")
    header = ctx.declare(f"{attrs.world}.h") if attrs.wit and srcs[0].path.endswith(".c") else None
    tools = resolve_tools(ctx, lambda: stage.identities([s.path for s in srcs], cc, bool(wits)))
    ctx.action(
        mnemonic="Component", inputs=srcs + extra, outputs=[wasm, report] + ([header] if header else []), tools=tools,
        argv=stage.argv([s.path for s in srcs], wasm.path, report.path, label=str(ctx.label), cc=cc,
                        wit=[w.path for w in wits] or None, world=attrs.world, no_grow=attrs.no_grow,
                        stack_size=attrs.stack_size, max_memory_pages=attrs.max_memory_pages,
                        exports=attrs.exports, copts=attrs.copts, arena_bytes=attrs.arena_bytes,
                        bindings=header.path if header else None))
    return TargetInfo(files=(wasm,), providers=(WasmInfo(wasm, report, fuse_report=report),))  # its memory layout


register_rule(RuleKind("component", ComponentAttrs, analyze, doc="a wasm component from C, Rust, WAT or .wasm"))
