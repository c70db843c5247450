"""Small bridges the rules share: turning toolchain identities into the
engine's tool references, and the `python` tool every builtin stage runs."""

from __future__ import annotations

from wasmelt.engine.actions import ToolRef
from wasmelt.engine.errors import ConfigError
from wasmelt.toolchains.identity import ToolIdentity, ToolNotFound


def tool_refs(identities: list[ToolIdentity]) -> tuple[ToolRef, ...]:
    return tuple(dict.fromkeys(ToolRef(t.name, t.path, t.version, t.digest) for t in identities))


def resolve_tools(ctx, resolve) -> tuple[ToolRef, ...]:
    """Call a toolchain's identities() and turn a missing tool into an error
    that names the target."""
    try:
        return tool_refs(resolve())
    except ToolNotFound as e:
        raise ConfigError(f"{ctx.where}: {e}") from None
