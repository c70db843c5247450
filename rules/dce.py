"""`dce`: remove what the firmware's root exports cannot reach."""

from __future__ import annotations

from typing import Literal

from wasmelt.engine.analysis import AnalysisContext, TargetInfo
from wasmelt.engine.registry import LabelAttr, RuleAttrs, RuleKind, register_rule
from wasmelt.toolchains import dce as stage

from .common import ToolRequest, setting
from .core import core_module, core_tool_requests
from .providers import WasmInfo


class DceAttrs(RuleAttrs):
    src: LabelAttr
    roots: list[str] | None = None  # exports kept; default: all exports of src
    toolchain: Literal["builtin", "loom", "wasm-opt"] | None = None
    optimize: bool = False  # wasm-opt/loom -Oz
    strip: bool = False  # drop custom sections other than `name`


def _toolchain(ctx) -> str:
    return ctx.attrs.toolchain or setting(ctx, "dce_toolchain", "toolchain", "builtin")


def tools(ctx) -> list[ToolRequest]:
    return [ToolRequest(stage.identities, (_toolchain(ctx),)), *core_tool_requests()]


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: DceAttrs = ctx.attrs
    src = core_module(ctx, attrs.src)
    if attrs.roots is not None and not attrs.roots:
        raise ctx.fail("`roots` is empty: name the exports the firmware calls")
    toolchain = _toolchain(ctx)
    out, report = ctx.declare(f"{ctx.label.name}.wasm"), ctx.declare(f"{ctx.label.name}.report.json")
    ctx.action(mnemonic="Dce", inputs=[src.wasm], outputs=[out, report],
               tools=ctx.tools,
               argv=stage.argv(src.wasm.path, out.path, report.path, toolchain=toolchain, roots=attrs.roots,
                               optimize=attrs.optimize, strip=attrs.strip))
    return TargetInfo(files=(out,), providers=(WasmInfo(out, report, fuse_report=src.fuse_report,
                                                        roots=tuple(attrs.roots) if attrs.roots else None,
                                                        natural_alignment=src.natural_alignment),))


register_rule(RuleKind("dce", DceAttrs, analyze, doc="dead-code elimination of a core module", tools=tools))
