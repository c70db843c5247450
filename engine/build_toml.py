"""A target written back as the BUILD.toml table that declares it (the attributes
it was given, in schema order), for `wasmelt query --output=build`."""

from __future__ import annotations

import json

from .loader import Target


def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def target_table(target: Target) -> str:
    attrs = target.attrs.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    lines = [f"# {target.label} ({target.build_file})", f"[[{target.kind}]]"]
    lines += [f"{name} = {toml_value(value)}" for name, value in attrs.items()]
    return "\n".join(lines) + "\n"
