"""Names one edit apart: a host import spelled like an export or a stub
(`clampp` for `clamp`) is most likely a typo, which a build should say."""

from __future__ import annotations


def one_edit(a: str, b: str) -> bool:
    """a and b differ by one inserted, deleted or replaced character, or two
    swapped neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1
                                  and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])
    short, long = sorted((a, b), key=len)
    i = next((k for k in range(len(short)) if short[k] != long[k]), len(short))
    return short[i:] == long[i + 1:]


def near_misses(names, candidates) -> list[tuple[str, str]]:
    """(name, candidate) for each name not among the candidates but one edit
    from one of them (the first in sorted order)."""
    pool = sorted(set(candidates))
    found = []
    for name in names:
        if name in pool:
            continue
        close = next((c for c in pool if one_edit(name, c)), None)
        if close:
            found.append((name, close))
    return found
