"""Which of a module's functions tail-call each other in a cycle: the strongly
connected components of the `return_call` / `return_call_indirect` graph.

wasm promises a chain of tail calls constant stack. A chain can only grow
without bound around a cycle, so the lowering puts each cycle's functions in one
C function where those tail calls are jumps (lower.py); a tail call out of its
cycle stays an ordinary call, which a chain takes at most once per component.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..wasm.model import FUNC, Module

TAIL_POOL = ("u32", "u64", "f32", "f64")  # the C types a group's parameters come in


@dataclass(frozen=True)
class TailGroup:
    """Functions whose tail calls form a cycle (`cycles`), lowered by lower.py as one
    C function: each member's body a block entered at `Ltail<index>`, a tail call
    among them the arguments moved into the group's parameters and a goto."""
    members: tuple[int, ...]
    name: str  # the C function: the member's own for one, else wasmelt_tail<first> with a `which` first
    params: dict[int, tuple[str, ...]]  # member -> the group parameter each of its parameters arrives in
    pool: tuple[tuple[str, str], ...]  # (C type, name) of the group's parameters, after `which`


def tail_edges(m: Module, indirect_targets: Callable[[int, int], list[int]]) -> dict[int, set[int]]:
    """Defined function -> the defined functions its tail calls may enter;
    `indirect_targets(type_index, table)` is what a `return_call_indirect` can
    reach (the lowering's own dispatch cases)."""
    base = len(m.imported(FUNC))
    edges: dict[int, set[int]] = {}
    for d, func in enumerate(m.functions):
        found = set()
        for ins in func.body:
            if ins.op == "return_call":
                found.add(ins.imm[0])
            elif ins.op == "return_call_indirect":
                found.update(indirect_targets(*ins.imm))
        edges[base + d] = {f for f in found if f >= base}
    return edges


def cycles(edges: dict[int, set[int]]) -> list[tuple[int, ...]]:
    """The components (sorted function indices, in order of their first member)
    through which tail calls can come back: more than one function, or one that
    tail-calls itself (Tarjan's algorithm, iterative)."""
    index: dict[int, int] = {}
    low: dict[int, int] = {}
    stack: list[int] = []
    on_stack: set[int] = set()
    found: list[tuple[int, ...]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            advanced = False
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(edges.get(nxt, ())))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges.get(node, ()):
                    found.append(tuple(sorted(component)))
    return sorted(found)
