"""The core module a `dce` or `synth` target reads from its `src`: the src's
own, or, for a component-model component, that of an implicit one-component fuse."""

from __future__ import annotations

from wasmelt.engine.analysis import AnalysisContext
from wasmelt.toolchains import fuse as fuse_stage

from .common import ToolRequest
from .providers import WasmInfo


def core_tool_requests() -> list[ToolRequest]:
    """What the implicit fuse needs; asked for by every target that calls
    core_module, since whether its src needs a fuse is known only in analysis."""
    return [ToolRequest(fuse_stage.identities, ("builtin",))]


def core_module(ctx: AnalysisContext, text: str) -> WasmInfo:
    """The WasmInfo of `src` = text, fused alone (with `fuse`'s defaults) when
    it is a component that may speak the component model, so that a library
    needs no one-component fuse target of its own."""
    src = ctx.dep(text).get(WasmInfo)
    if src is None:
        raise ctx.fail(f"`src` = `{text}` is a {ctx.dep_kind(text)} target, not a wasm module")
    if not src.needs_fuse:
        return src
    label = ctx.dep_label(text)
    stem = f"{ctx.label.name}.core"
    out, import_map = ctx.declare(f"{stem}.wasm"), ctx.declare(f"{stem}.imports.json")
    provenance, report = ctx.declare(f"{stem}.provenance.json"), ctx.declare(f"{stem}.report.json")
    ctx.action(mnemonic="Fuse", inputs=[src.wasm], outputs=[out, import_map, provenance, report],
               tools=ctx.tools,
               argv=fuse_stage.argv([(label.name, str(label), src.wasm.path)], out.path, import_map.path,
                                    provenance.path, report.path))
    return WasmInfo(out, report, fuse_report=report, import_map=import_map, provenance=provenance,
                    natural_alignment=src.natural_alignment)
