"""Small bridges the rules share: tool requests (a toolchain's identities,
resolved into the engine's tool references before analysis) and settings."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Callable

from wasmelt.engine.actions import ToolRef
from wasmelt.engine.errors import ConfigError
from wasmelt.toolchains.identity import ToolIdentity, ToolNotFound


def tool_refs(identities: list[ToolIdentity]) -> tuple[ToolRef, ...]:
    return tuple(dict.fromkeys(ToolRef(t.name, t.path, t.version, t.digest) for t in identities))


@dataclass(frozen=True)
class ToolRequest:
    """What tools a target needs: a toolchain's identities() and its
    arguments (hashable), resolved once before analysis (engine.tools)."""

    identities: Callable[..., list[ToolIdentity]]
    args: tuple = ()

    def resolve(self) -> tuple[ToolRef, ...]:
        try:
            return tool_refs(self.identities(*self.args))
        except ToolNotFound as e:
            raise ConfigError(str(e)) from None


def _choices(annotation) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [a for a in typing.get_args(annotation) if isinstance(a, str)]
    return [c for arg in typing.get_args(annotation) for c in _choices(arg)]


def workspace_setting(name: str, schema, attr: str, default: str, doc: str) -> None:
    """Register the [workspace] key `name`, the default of `schema`'s attribute `attr`."""
    from wasmelt.engine.settings import register_setting

    choices = tuple(_choices(schema.model_fields[attr].annotation))
    register_setting(name, typing.Literal[choices], default, f"{doc}: {', '.join(choices)}")


def setting(ctx, name: str, attr: str, default: str) -> str:
    """A [workspace] setting that gives the default of the rule attribute
    `attr`, checked against what that attribute accepts (an unchecked one
    would reach the tool's command line, or fail there)."""
    value = ctx.settings.get(name, default)
    choices = _choices(type(ctx.attrs).model_fields[attr].annotation)
    if not isinstance(value, str) or value not in choices:
        raise ConfigError(f"BUILD.toml: [workspace] setting `{name}` = {value!r} must be one of "
                          f"{', '.join(map(repr, choices))}; it is the default `{attr}` of {ctx.target.kind} "
                          f"targets such as `{ctx.label}`")
    return value
