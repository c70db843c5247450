"""The rule kinds: importing this package registers each with the engine."""

from . import genrule  # noqa: F401
