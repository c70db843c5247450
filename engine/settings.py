"""The keys of the root BUILD.toml's [workspace] table: the engine's own and those rules
register (defaults of their attributes), checked like every BUILD.toml key, with did-you-mean."""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, create_model, field_validator

from .errors import ConfigError, did_you_mean

DEFAULT_CACHE_MAX_SIZE = "5G"
# Binary units, as `du -h` and `--max-size 2G` mean them: K = KB = KiB = 1024 bytes.
_UNITS = {"": 1, "B": 1, **{f"{u}{b}": 1024 ** (i + 1) for i, u in enumerate("KMGT") for b in ("", "B", "IB")}}


def parse_size(value: Any, what: str = "a size") -> int:
    """Bytes of `5GB`, `512MiB`, `100k` or a plain number of bytes (units of 1024)."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{what} is a number of bytes or a string such as \"5GB\" or \"512MiB\"")
    if isinstance(value, int):
        number, unit = value, ""
    else:
        text = value.strip().replace(" ", "")
        digits = text.rstrip("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
        unit = text[len(digits):].upper()
        try:
            number = float(digits)
            if number != number or number in (float("inf"), float("-inf")):
                raise ValueError
        except ValueError:
            raise ValueError(f"{what} `{value}` is not a size such as \"5GB\", \"512MiB\" or \"100000\"") from None
        if unit not in _UNITS:
            raise ValueError(f"{what} `{value}`: unknown unit `{text[len(digits):]}` (K, M, G, T, with or without B or iB)")
    if number < 0:
        raise ValueError(f"{what} `{value}` is negative")
    return int(number * _UNITS[unit])


@dataclass(frozen=True)
class Setting:
    name: str
    annotation: Any
    default: Any
    doc: str


class EngineSettings(BaseModel):
    """What the engine itself reads from [workspace]."""

    model_config = ConfigDict(extra="forbid", strict=True)
    name: str = ""  # the workspace's name, written into release manifests
    server: bool = False  # start a build server for this workspace (docs: the server)
    cache_max_size: int | str = DEFAULT_CACHE_MAX_SIZE  # bytes the cache may hold after a build

    @field_validator("cache_max_size")
    @classmethod
    def _size(cls, value):
        parse_size(value, "cache_max_size")
        return value


DOCS = {"name": "the workspace's name, written into release manifests",
        "server": "keep a build server running for this workspace (true), so builds skip the start-up",
        "cache_max_size": "how much the cache may hold: after each build the least recently used entries go "
                          f"(default {DEFAULT_CACHE_MAX_SIZE}; `wasmelt cache gc` applies it too)"}

_REGISTERED: dict[str, Setting] = {}
_MODELS: dict[tuple, type[BaseModel]] = {}


def register_setting(name: str, annotation: Any, default: Any, doc: str) -> None:
    """A [workspace] key a rule reads (e.g. `cc`, the default `cc` of component targets)."""
    _REGISTERED[name] = Setting(name, annotation, default, doc)


def settings_model(typed: bool = True) -> type[BaseModel]:
    """The schema of the [workspace] table: the engine's keys and every registered one (of any
    type unless `typed`: a rule checks its own at analysis, naming a target that uses it)."""
    key = (typed, tuple(_REGISTERED))
    if key not in _MODELS:  # made once per process (the server checks every command's workspace)
        fields = {s.name: (s.annotation if typed else Any, s.default) for s in _REGISTERED.values()}
        _MODELS[key] = create_model("WorkspaceSettings", __base__=EngineSettings, **fields)
    return _MODELS[key]


def setting_docs() -> dict[str, str]:
    return {**DOCS, **{s.name: s.doc for s in _REGISTERED.values()}}


def check_settings(settings: dict, where: str = "BUILD.toml") -> None:
    """ConfigError naming each unknown or ill-typed [workspace] key."""
    model = settings_model(typed=False)
    try:
        model.model_validate(settings)
    except ValidationError as error:
        lines = []
        for err in error.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(table)"
            if err["type"] == "extra_forbidden":
                lines.append(f"unknown key `{key}`{did_you_mean(str(err['loc'][0]), model.model_fields)}")
            else:
                message = err["msg"].removeprefix("Value error, ")
                lines.append(f"key `{key}`: {message} (got {reprlib.repr(err.get('input'))})")
        known = ", ".join(sorted(model.model_fields))
        raise ConfigError(f"{where}: [workspace]: " + "; ".join(lines) + f". Keys of [workspace]: {known}") from None
