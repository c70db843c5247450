"""What the wasm rules provide each other, by type: a core module (WasmInfo)
and a Cortex-M object (ObjectInfo); the engine knows neither."""

from __future__ import annotations

from dataclasses import dataclass

from wasmelt.engine.actions import Artifact


@dataclass(frozen=True)
class WasmInfo:
    wasm: Artifact  # the module (or component)
    report: Artifact | None = None  # the stage's JSON report
    fuse_report: Artifact | None = None  # the fuse's (or a component's) report, where the memory lies; through dce
    roots: tuple[str, ...] | None = None  # exports kept by dce: synth's default roots
    import_map: Artifact | None = None  # fuse only
    provenance: Artifact | None = None  # fuse only
    # a component target that is (or may be) a component-model component: dce and
    # synth put it through a one-component fuse first (rules/core.py)
    needs_fuse: bool = False
    # compiled from C or Rust by the component stage (all of a fuse's components
    # were): every access's alignment hint holds unless the program's behaviour is
    # undefined, so synth may rely on it (ARMv6-M: one instruction per access)
    natural_alignment: bool = False


@dataclass(frozen=True)
class ObjectInfo:
    object: Artifact
    header: Artifact
    size_report: Artifact
    reference: Artifact  # the wasm it was lowered from: firmware_test's default reference
    cpu: str
    roots: tuple[str, ...] | None = None
