"""The rule kinds: importing this package registers each with the engine."""

from . import component, genrule  # noqa: F401
