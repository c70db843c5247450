"""`fuse`: several components become one core module with one shared,
address-rebased linear memory (or one memory each with memory = "multi")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wasmelt.engine.analysis import AnalysisContext, TargetInfo
from wasmelt.engine.registry import LabelListAttr, RuleAttrs, RuleKind, register_rule
from wasmelt.toolchains import fuse as stage

from .common import ToolRequest, setting
from .providers import WasmInfo


class FuseAttrs(RuleAttrs):
    components: LabelListAttr = Field(min_length=1)
    memory: Literal["shared", "multi"] = "shared"
    address_rebase: bool = True
    pack: bool = False
    share_stack: bool = False
    exports: list[str] | None = None
    links: dict[str, str] = {}  # "component:module.field" = "component:export"
    handles: int = Field(default=16, ge=1, le=4096)  # slots in each resource type's handle table
    strict_imports: bool = False  # a host import one edit from a component's export fails the fuse
    toolchain: Literal["builtin", "meld", "binaryen"] | None = None


def _toolchain(ctx) -> str:
    return ctx.attrs.toolchain or setting(ctx, "fuse_toolchain", "toolchain", "builtin")


def tools(ctx) -> list[ToolRequest]:
    return [ToolRequest(stage.identities, (_toolchain(ctx),))]


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: FuseAttrs = ctx.attrs
    inputs, components, natural = [], [], True
    for text in attrs.components:
        dep, label = ctx.dep(text).get(WasmInfo), ctx.dep_label(text)
        if dep is None:
            raise ctx.fail(f"`{text}` is a {ctx.dep_kind(text)} target; `components` takes component targets")
        inputs.append(dep.wasm)
        natural = natural and dep.natural_alignment
        components.append((label.name, str(label), dep.wasm.path))
    names = [c[0] for c in components]
    if len(set(names)) != len(names):
        raise ctx.fail(f"two components have the same name ({', '.join(names)}); imports resolve by name")
    toolchain = _toolchain(ctx)
    n = ctx.label.name
    out, import_map = ctx.declare(f"{n}.wasm"), ctx.declare(f"{n}.imports.json")
    provenance, report = ctx.declare(f"{n}.provenance.json"), ctx.declare(f"{n}.report.json")
    ctx.action(mnemonic="Fuse", inputs=inputs, outputs=[out, import_map, provenance, report],
               tools=ctx.tools,
               argv=stage.argv(components, out.path, import_map.path, provenance.path, report.path,
                               toolchain=toolchain, memory=attrs.memory, address_rebase=attrs.address_rebase,
                               pack=attrs.pack, share_stack=attrs.share_stack, exports=attrs.exports,
                               links=attrs.links, handles=attrs.handles, strict_imports=attrs.strict_imports))
    return TargetInfo(files=(out,), providers=(WasmInfo(out, report, fuse_report=report, import_map=import_map,
                                                        provenance=provenance,
                                                        # the builtin fuse rebases by multiples of 16: hints hold
                                                        natural_alignment=natural and toolchain == "builtin"),))


register_rule(RuleKind("fuse", FuseAttrs, analyze, doc="fuse components into one core module", tools=tools))
