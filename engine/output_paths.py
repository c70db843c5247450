"""Outputs' paths: a declared output in canonical form, and the check that no
output lies inside another."""

from __future__ import annotations


def normalise_output(name: str) -> str:
    """An output's path inside its target's directory in canonical form
    (`./x` and `a//b` become `x` and `a/b`); ValueError for one that cannot be
    a plain file there."""
    if not isinstance(name, str) or not name or "\0" in name:
        raise ValueError(f"output {name!r} must be a non-empty path without NUL bytes")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if name.startswith("/") or ".." in parts:
        raise ValueError(f"output `{name}` must stay inside the target's output directory")
    if not parts or name.endswith("/"):
        raise ValueError(f"output `{name}` must name a file, not a directory")
    return "/".join(parts)


def output_collision(producers: dict) -> str | None:
    """The first pair of outputs where one is a directory of the other (a file
    `x` of one target and `x/y` of another), as an error message; or None."""
    for path in sorted(producers):
        parts = path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            if parent in producers:
                return (f"output `{path}` of {producers[path].owner} lies inside `{parent}`, a file that "
                        f"{producers[parent].owner} produces; rename one of them")
    return None
