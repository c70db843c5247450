"""How big the component stage links a component's shadow stack: its static
worst case (rounded to 16) when that is known and below `stack_size`, else `stack_size`.

The stack lies first ([0, stack) with `--stack-first`), so a stack of its worst
case leaves no unused bottom: the synth's memory window then starts at 0, where
a bounds check is one compare (a window from a higher address needs two), and
the RAM is what the window held before. The depth counts only the component's
own frames, so a component that imports functions keeps `stack_size`: in a
fused build those calls run other components' frames on the same stack.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .builtin.synth.shadow_stack import analyse
from .builtin.wasm.model import FUNC, Module

ALIGN = 16  # wasm-ld's stack alignment; also the least it links, so no data lies at address 0 (NULL)


@dataclass(frozen=True)
class StackFit:
    declared: int  # the component's stack_size
    linked: int | None  # the stack the module is linked with (None: as the component's linkopts say)
    worst: int | None  # the static worst case over its exports (None: not bounded)
    reason: str  # why `linked` is what it is

    def facts(self) -> dict:
        """For the component's report."""
        return asdict(self)


def fit(module: Module, stack_size: int) -> StackFit:
    """The stack to link `module` (linked with `stack_size`) with."""
    imported = [f"{i.module}.{i.name}" for i in module.imports if i.kind == FUNC]
    worst = analyse(module).worst
    if imported:
        shown = ", ".join(imported[:3]) + (", ..." if len(imported) > 3 else "")
        return StackFit(stack_size, stack_size, worst, f"stack_size: it imports functions ({shown}), whose "
                        "frames the static worst case cannot see")
    if worst is None:
        return StackFit(stack_size, stack_size, None, "stack_size: its depth is not bounded statically (recursion, "
                        "a frame of run-time size, or the stack pointer set from elsewhere)")
    linked = max(ALIGN, -(-worst // ALIGN) * ALIGN)
    if linked >= stack_size:
        return StackFit(stack_size, stack_size, worst, f"stack_size: its static worst case ({worst} B) needs it all")
    return StackFit(stack_size, linked, worst, f"its static worst case ({worst} B), below stack_size")
