"""The rule kinds: importing this package registers each with the engine."""

from . import component, dce, fuse, genrule, synth  # noqa: F401
