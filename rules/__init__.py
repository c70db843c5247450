"""The rule kinds: importing this package registers each with the engine."""

from . import component, dce, firmware_test, fuse, genrule, synth  # noqa: F401
from .common import workspace_setting  # noqa: E402

# The [workspace] keys that give rule attributes their default (engine.settings checks the table).
workspace_setting("cc", component.ComponentAttrs, "cc", "zig", "the C compiler of components (their `cc` default)")
workspace_setting("fuse_toolchain", fuse.FuseAttrs, "toolchain", "builtin", "the default `toolchain` of fuse targets")
workspace_setting("dce_toolchain", dce.DceAttrs, "toolchain", "builtin", "the default `toolchain` of dce targets")
workspace_setting("synth_toolchain", synth.SynthAttrs, "toolchain", "builtin", "the default `toolchain` of synth targets")
workspace_setting("synth_cc", synth.SynthAttrs, "cc", "zig", "the cross compiler of synth targets (their `cc` default)")
