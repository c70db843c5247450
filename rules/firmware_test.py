"""`firmware_test`: a cached test that runs a synth target's object in an
emulator of its CPU and checks it against the wasm it came from, case by case."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from wasmelt.engine.analysis import AnalysisContext, TargetInfo, TestInfo
from wasmelt.engine.registry import LabelAttr, OptionalLabelAttr, OptionalSourceAttr, RuleAttrs, RuleKind, register_rule
from wasmelt.toolchains import firmware_test as runner

from .common import ToolRequest
from .providers import ObjectInfo, WasmInfo


class Case(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    call: str
    args: list[Any] = []
    expect: list[Any] | None = None
    trap: str | None = None


class FirmwareTestAttrs(RuleAttrs):
    firmware: LabelAttr
    reference: OptionalLabelAttr = None  # default: the wasm the firmware was synthesized from
    imports: OptionalSourceAttr = None  # host_stubs.toml: what each import returns
    cases: list[Case] = []
    random_cases: int = Field(default=0, ge=0, le=100_000)
    seed: int = 0


def _display(ctx: AnalysisContext, source: str | None) -> str | None:
    """A source attribute as the user finds it: the path from the workspace root."""
    if not source:
        return None
    return f"{ctx.label.package}/{source}" if ctx.label.package else source


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: FirmwareTestAttrs = ctx.attrs
    fw = ctx.dep(attrs.firmware).get(ObjectInfo)
    if fw is None:
        raise ctx.fail(f"`firmware` = `{attrs.firmware}` is a {ctx.dep_kind(attrs.firmware)} target, not a synth target")
    if attrs.reference:
        ref = ctx.dep(attrs.reference).get(WasmInfo)
        if ref is None:
            raise ctx.fail(f"`reference` = `{attrs.reference}` is not a wasm target")
        reference = ref.wasm
    else:
        reference = fw.reference
    if not attrs.cases and not attrs.random_cases:
        raise ctx.fail("a firmware_test needs `cases` or `random_cases`")
    inputs = [fw.object, reference]
    stubs = ctx.source(attrs.imports) if attrs.imports else None
    if stubs:
        inputs.append(stubs)
    result = ctx.declare(f"{ctx.label.name}.result.json")
    cases = [c.model_dump(exclude_none=True) for c in attrs.cases]
    action = ctx.action(mnemonic="FirmwareTest", inputs=inputs, outputs=[result],
                        tools=ctx.tools,
                        argv=runner.argv(fw.object.path, reference.path, result.path, cpu=fw.cpu, cases=cases,
                                         random_cases=attrs.random_cases, seed=attrs.seed,
                                         imports=stubs.path if stubs else None,
                                         imports_name=_display(ctx, attrs.imports)))
    # `wasmelt build` builds what the test needs; `wasmelt test` also runs it.
    return TargetInfo(files=tuple(inputs), providers=(TestInfo(action),))


register_rule(RuleKind("firmware_test", FirmwareTestAttrs, analyze, doc="check a synthesized object against its wasm",
                       is_test=True, tools=lambda ctx: [ToolRequest(runner.identities)]))
