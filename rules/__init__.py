"""The rule kinds: importing this package registers each with the engine."""

from . import component, dce, firmware_test, fuse, genrule, synth  # noqa: F401
