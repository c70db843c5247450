"""`genrule`: run a shell command over declared sources to produce declared
outputs; the generic rule that needs no wasm knowledge."""

from __future__ import annotations

import re
import shlex

from wasmelt.engine.analysis import AnalysisContext, TargetInfo
from wasmelt.engine.registry import LabelListAttr, RuleAttrs, RuleKind, SourceOrLabelListAttr, register_rule
from wasmelt.toolchains.identity import external_tool

from .common import ToolRequest


class GenruleAttrs(RuleAttrs):
    srcs: SourceOrLabelListAttr = []
    outs: list[str]
    cmd: str
    deps: LabelListAttr = []  # targets whose outputs the command reads
    tools: SourceOrLabelListAttr = []  # scripts or built tools the command runs
    host_tools: list[str] = []  # programs from PATH whose identity enters the key
    env: dict[str, str] = {}
    network: bool = False  # let the command reach the network (the sandbox cuts it off by default)


_SUBST = re.compile(r"\$\$|\$\(([^)]*)\)?")


def _files_of(ctx: AnalysisContext, item: str):
    if item.startswith(":") or item.startswith("//"):
        return list(ctx.dep(item).files)
    return [ctx.source(item)]


def _programs(*names: str):
    return [external_tool(name) for name in names]


def tools(ctx) -> list[ToolRequest]:
    return [ToolRequest(_programs, ("/bin/sh", *ctx.attrs.host_tools))]


def analyze(ctx: AnalysisContext) -> TargetInfo:
    attrs: GenruleAttrs = ctx.attrs
    if not attrs.outs:
        raise ctx.fail("`outs` must name at least one output file")
    srcs = [f for item in attrs.srcs for f in _files_of(ctx, item)]
    deps = [f for item in attrs.deps for f in _files_of(ctx, item)]
    tools = [f for item in attrs.tools for f in _files_of(ctx, item)]
    outs = [ctx.declare(o) for o in attrs.outs]
    if len({o.path for o in outs}) != len(outs):
        raise ctx.fail("`outs` lists the same file twice")

    def location(item: str) -> str:
        item = item.strip()
        known = attrs.srcs + attrs.deps + attrs.tools
        if item not in known:
            raise ctx.fail(f"$(location {item}): `{item}` must be listed in srcs, deps or tools")
        return " ".join(shlex.quote(f.path) for f in _files_of(ctx, item))

    def substitute(m: re.Match) -> str:
        token = m.group(0)
        if token == "$$":
            return "$"
        word = m.group(1)
        if word == "SRCS":
            return " ".join(shlex.quote(f.path) for f in srcs)
        if word == "OUTS":
            return " ".join(shlex.quote(f.path) for f in outs)
        if word == "OUT":
            if len(outs) != 1:
                raise ctx.fail("$(OUT) needs exactly one output; use $(OUTS)")
            return shlex.quote(outs[0].path)
        if word == "@D":
            return shlex.quote(outs[0].path.rsplit("/", 1)[0])
        if word.split(None, 1)[:1] in (["location"], ["locations"]) and " " in word:
            return location(word.split(None, 1)[1])
        raise ctx.fail(f"unknown substitution `{token}` in cmd; use $(SRCS), $(OUTS), $(OUT), $(@D), "
                       "$(location x), or $$ for a literal $")

    command = _SUBST.sub(substitute, attrs.cmd)
    ctx.action(mnemonic="Genrule", argv=["sh", "-c", command], inputs=srcs + deps + tools, outputs=outs,
               tools=ctx.tools, env=attrs.env, network=attrs.network)
    return TargetInfo(files=tuple(outs))


register_rule(RuleKind("genrule", GenruleAttrs, analyze, doc="run a shell command to make files", tools=tools))
