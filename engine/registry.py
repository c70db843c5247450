"""Where rule kinds register their attribute schema and analysis function.

The engine knows rule kinds only through this registry; `wasmelt.rules`
fills it when imported, so the engine never imports a rule.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum
from typing import Annotated, Any, Callable

from pydantic import BaseModel, ConfigDict


class AttrKind(Enum):
    LABEL = "label"  # a str or list[str] of target labels: dependencies
    SOURCE = "source"  # a str or list[str] of files in the package
    SOURCE_OR_LABEL = "source_or_label"  # files, or labels whose outputs are used


LabelAttr = Annotated[str, AttrKind.LABEL]
LabelListAttr = Annotated[list[str], AttrKind.LABEL]
SourceAttr = Annotated[str, AttrKind.SOURCE]
SourceListAttr = Annotated[list[str], AttrKind.SOURCE]
SourceOrLabelListAttr = Annotated[list[str], AttrKind.SOURCE_OR_LABEL]


MANUAL = "manual"


class RuleAttrs(BaseModel):
    """Base of every rule's attribute schema: unknown attributes are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)  # no "4096" -> 4096, "no" -> False
    name: str
    # Free-form words on a target; MANUAL keeps it out of wildcard patterns
    # (//..., //pkg/..., //pkg:all), as in Bazel: only naming it builds it.
    tags: list[str] = []


@dataclass(frozen=True)
class RuleKind:
    name: str
    schema: type[RuleAttrs]
    analyze: Callable[[Any], Any]  # (AnalysisContext) -> TargetInfo
    doc: str = ""
    is_test: bool = False
    # Provider types every target of this kind provides, for the commands
    # that look for them (e.g. SizeTableInfo for `wasmelt size`).
    provides: tuple[type, ...] = ()
    # (AnalysisContext) -> the tool requests of a target, from its attributes and
    # the settings alone; engine.tools resolves them before analysis (ctx.tools).
    tools: Callable[[Any], Any] | None = None


_RULES: dict[str, RuleKind] = {}


def register_rule(kind: RuleKind) -> RuleKind:
    _RULES[kind.name] = kind
    return kind


def rule_kinds() -> dict[str, RuleKind]:
    return dict(_RULES)


@functools.lru_cache(maxsize=None)
def attr_kinds(schema: type[RuleAttrs]) -> dict[str, AttrKind]:
    """Which attributes of a schema hold labels or source files (the same
    for every target of a kind: worked out once per schema)."""
    kinds = {}
    for name, field in schema.model_fields.items():
        for meta in field.metadata:
            if isinstance(meta, AttrKind):
                kinds[name] = meta
    return kinds


OptionalLabelAttr = Annotated[str | None, AttrKind.LABEL]
OptionalSourceAttr = Annotated[str | None, AttrKind.SOURCE]
