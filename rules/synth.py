"""`synth`: one core module to an Arm Cortex-M or RV32 RISC-V relocatable
object, with a header, a size and stack report, and budgets that fail the build."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from wasmelt.engine.analysis import AnalysisContext, SizeTableInfo, TargetInfo
from wasmelt.engine.registry import LabelAttr, RuleAttrs, RuleKind, register_rule
from wasmelt.toolchains import synth as stage

from .common import ToolRequest, setting
from .core import core_module, core_tool_requests
from .providers import ObjectInfo, WasmInfo

Cpu = Literal[stage.CPUS]  # toolchains/cpus.py


class SynthAttrs(RuleAttrs):
    src: LabelAttr
    cpu: Cpu = "cortex-m4"
    float_abi: Literal["soft", "hard"] | None = None  # FPU parts: soft for an eabi firmware; default: the cpu's
    opt: Literal["size", "speed"] = "size"
    bounds: Literal["none", "check", "mask"] = "check"  # docs/object-contract.md: what each mode means
    roots: list[str] | None = None  # exports that must be in the object; default: the src's roots or all
    max_text_bytes: int | None = Field(default=None, ge=0)
    max_data_bytes: int | None = Field(default=None, ge=0)
    max_bss_bytes: int | None = Field(default=None, ge=0)
    max_stack_bytes: int | None = Field(default=None, ge=0)
    memory_bytes: int | None = Field(default=None, ge=1)  # the linear memory's size; default: what the module uses
    # bytes above __heap_base for a module whose component declares no heap (a prebuilt .wasm's allocator, the
    # firmware's buffers); a C component's own `heap_size` reaches the memory through its report
    heap_size: int = Field(default=0, ge=0, le=1 << 24)
    toolchain: Literal["builtin", "synth", "wasm2c"] | None = None
    cc: Literal["zig", "gcc", "clang"] | None = None


def _toolchain(ctx) -> tuple[str, str]:
    return (ctx.attrs.toolchain or setting(ctx, "synth_toolchain", "toolchain", "builtin"),
            ctx.attrs.cc or setting(ctx, "synth_cc", "cc", "zig"))


def tools(ctx) -> list[ToolRequest]:
    return [ToolRequest(stage.identities, (*_toolchain(ctx), ctx.attrs.cpu)), *core_tool_requests()]


def _cpu(ctx) -> str:
    try:
        return stage.with_float_abi(ctx.attrs.cpu, ctx.attrs.float_abi)
    except ValueError as e:
        raise ctx.fail(str(e)) from None


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: SynthAttrs = ctx.attrs
    src = core_module(ctx, attrs.src)
    toolchain, cc = _toolchain(ctx)
    cpu = _cpu(ctx)
    n = ctx.label.name
    obj, header, report = ctx.declare(f"{n}.o"), ctx.declare(f"{n}.h"), ctx.declare(f"{n}.size.json")
    table = ctx.declare(f"{n}.size_table.json")
    inputs = [src.wasm]
    fuse_report = src.fuse_report
    if fuse_report:
        inputs.append(fuse_report)
    budgets = {name: getattr(attrs, name) for name in stage.BUDGETS}
    ctx.action(mnemonic="Synth", inputs=inputs, outputs=[obj, header, report, table],
               tools=ctx.tools,
               argv=stage.argv(src.wasm.path, obj.path, header.path, report.path, toolchain=toolchain,
                               cpu=cpu, opt=attrs.opt, bounds=attrs.bounds, cc=cc,
                               memory_bytes=attrs.memory_bytes, heap_size=attrs.heap_size,
                               roots=attrs.roots or src.roots,
                               fuse_report=fuse_report.path if fuse_report else None, budgets=budgets,
                               natural_alignment=src.natural_alignment and toolchain == "builtin",
                               size_table=table.path))
    roots = tuple(attrs.roots) if attrs.roots else src.roots
    return TargetInfo(files=(obj, header, report), providers=(
        ObjectInfo(obj, header, report, reference=src.wasm, cpu=cpu, roots=roots), SizeTableInfo(table)))


register_rule(RuleKind("synth", SynthAttrs, analyze, doc="lower a core module to an Arm Cortex-M or RISC-V object",
                       provides=(SizeTableInfo,), tools=tools))
