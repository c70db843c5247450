"""The canonical ABI's layout rules for WIT types: alignment, size, field
offsets, discriminant widths and the flattening of a function's signature."""

from __future__ import annotations

from .wit import FuncSig, Type

MAX_FLAT_PARAMS = 16
MAX_FLAT_RESULTS = 1

_SCALAR = {"bool": (1, "i32"), "s8": (1, "i32"), "u8": (1, "i32"), "s16": (2, "i32"), "u16": (2, "i32"),
           "s32": (4, "i32"), "u32": (4, "i32"), "char": (4, "i32"), "f32": (4, "f32"),
           "s64": (8, "i64"), "u64": (8, "i64"), "f64": (8, "f64")}


def cases(t: Type) -> list[Type | None]:
    """The payload types of a variant-like type (option, result, enum, variant)."""
    if t.kind == "variant":
        return [c for _, c in t.items]
    if t.kind == "option":
        return [None, t.items[0]]
    if t.kind == "result":
        return list(t.items)
    if t.kind == "enum":
        return [None] * len(t.items)
    raise ValueError(t.kind)


def fields(t: Type) -> list[Type]:
    return [f for _, f in t.items] if t.kind == "record" else list(t.items)


def is_variant(t: Type) -> bool:
    return t.kind in ("variant", "option", "result", "enum")


def disc_size(n: int) -> int:
    return 1 if n <= 1 << 8 else 2 if n <= 1 << 16 else 4


def align_to(n: int, a: int) -> int:
    return (n + a - 1) // a * a


def alignment(t: Type) -> int:
    if t.kind in _SCALAR:
        return _SCALAR[t.kind][0]
    if t.kind in ("string", "list", "own", "borrow"):
        return 4
    if t.kind in ("record", "tuple"):
        return max((alignment(f) for f in fields(t)), default=1)
    if is_variant(t):
        return max([disc_size(len(cases(t)))] + [alignment(c) for c in cases(t) if c is not None])
    if t.kind == "flags":
        return disc_size_flags(len(t.items))
    raise ValueError(t.kind)


def disc_size_flags(n: int) -> int:
    return 1 if n <= 8 else 2 if n <= 16 else 4


def max_case_alignment(t: Type) -> int:
    return max((alignment(c) for c in cases(t) if c is not None), default=1)


def size(t: Type) -> int:
    if t.kind in _SCALAR:
        return _SCALAR[t.kind][0]
    if t.kind in ("string", "list"):
        return 8
    if t.kind in ("own", "borrow"):
        return 4
    if t.kind in ("record", "tuple"):
        s = 0
        for f in fields(t):
            s = align_to(s, alignment(f)) + size(f)
        return align_to(s, alignment(t))
    if is_variant(t):
        s = align_to(disc_size(len(cases(t))), max_case_alignment(t))
        s += max((size(c) for c in cases(t) if c is not None), default=0)
        return align_to(s, alignment(t))
    if t.kind == "flags":
        n = len(t.items)
        return disc_size_flags(n) if n <= 32 else 4 * -(-n // 32)
    raise ValueError(t.kind)


def field_offsets(t: Type) -> list[int]:
    offsets, s = [], 0
    for f in fields(t):
        s = align_to(s, alignment(f))
        offsets.append(s)
        s += size(f)
    return offsets


def payload_offset(t: Type) -> int:
    return align_to(disc_size(len(cases(t))), max_case_alignment(t))


def _join(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"i32", "f32"}:
        return "i32"
    return "i64"


def flatten(t: Type) -> list[str]:
    if t.kind in _SCALAR:
        return [_SCALAR[t.kind][1]]
    if t.kind in ("string", "list"):
        return ["i32", "i32"]
    if t.kind in ("own", "borrow", "enum"):
        return ["i32"]
    if t.kind == "flags":
        return ["i32"] * max(1, -(-len(t.items) // 32))
    if t.kind in ("record", "tuple"):
        return [v for f in fields(t) for v in flatten(f)]
    if is_variant(t):
        flat: list[str] = []
        for c in cases(t):
            if c is None:
                continue
            for i, v in enumerate(flatten(c)):
                if i < len(flat):
                    flat[i] = _join(flat[i], v)
                else:
                    flat.append(v)
        return ["i32"] + flat
    raise ValueError(t.kind)


def has_pointers(t: Type | None) -> bool:
    """Whether a value of this type refers to memory (needs copying)."""
    if t is None:
        return False
    if t.kind in ("string", "list"):
        return True
    if t.kind in ("record", "tuple"):
        return any(has_pointers(f) for f in fields(t))
    if is_variant(t):
        return any(has_pointers(c) for c in cases(t))
    return False


def has_strings(t: Type | None) -> bool:
    if t is None:
        return False
    if t.kind == "string":
        return True
    if t.kind == "list":
        return has_strings(t.items[0])
    if t.kind in ("record", "tuple"):
        return any(has_strings(f) for f in fields(t))
    if is_variant(t):
        return any(has_strings(c) for c in cases(t))
    return False


def has_handles(t: Type | None) -> bool:
    if t is None:
        return False
    if t.kind in ("own", "borrow"):
        return True
    if t.kind == "list":
        return has_handles(t.items[0])
    if t.kind in ("record", "tuple"):
        return any(has_handles(f) for f in fields(t))
    if is_variant(t):
        return any(has_handles(c) for c in cases(t))
    return False


def params_tuple(sig: FuncSig) -> Type:
    return Type("tuple", tuple(t for _, t in sig.params))


def flat_params(sig: FuncSig) -> list[str]:
    return [v for _, t in sig.params for v in flatten(t)]


def flat_results(sig: FuncSig) -> list[str]:
    return flatten(sig.result) if sig.result else []


def core_signature(sig: FuncSig, lower: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The core function type of a lifted export (lower=False) or a lowered
    import (lower=True)."""
    params, results = flat_params(sig), flat_results(sig)
    if len(params) > MAX_FLAT_PARAMS:
        params = ["i32"]
    if len(results) > MAX_FLAT_RESULTS:
        if lower:
            params, results = params + ["i32"], []
        else:
            results = ["i32"]
    return tuple(params), tuple(results)


def is_direct(sig: FuncSig) -> bool:
    """A seam that is a plain call: nothing in memory, nothing to copy, no
    borrowed handle to turn into its representation. (An owned handle stays
    the same number: the fused core has one handle table per resource type.)"""
    return (not any(has_pointers(t) or t.kind == "borrow" for _, t in sig.params)
            and not has_pointers(sig.result)
            and len(flat_params(sig)) <= MAX_FLAT_PARAMS and len(flat_results(sig)) <= MAX_FLAT_RESULTS)


def nested_borrows(sig: FuncSig) -> bool:
    """Borrowed handles inside lists, records or variants (not yet adapted;
    owned handles anywhere keep their number, so they need nothing)."""
    def inner(t: Type | None) -> bool:
        if t is None or t.kind in ("own", "borrow"):
            return False
        if t.kind == "list":
            return t.items[0].kind == "borrow" or inner(t.items[0])
        members = (fields(t) if t.kind in ("record", "tuple") else [c for c in cases(t) if c is not None]
                   if is_variant(t) else [])
        return any(m.kind == "borrow" or inner(m) for m in members)
    return any(inner(t) for _, t in sig.params)
