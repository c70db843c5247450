"""Reading BUILD.toml files into validated targets.

Each top-level key is a rule kind holding an array of tables; every table is
validated against the rule's schema, and its source files are checked to be
real files inside the package.
"""

from __future__ import annotations

import os
import reprlib
import stat
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from .errors import ConfigError, did_you_mean
from .labels import Label, check_name, parse_label
from .rebuild import stat_of
from .registry import AttrKind, RuleAttrs, attr_kinds, rule_kinds
from .workspace import BUILD_FILE, SKIPPED_DIRS, Workspace, parse_toml


MAX_BUILD_FILE_BYTES = 8 << 20


@dataclass(frozen=True)
class Target:
    label: Label
    kind: str
    attrs: RuleAttrs
    build_file: str  # workspace-relative path of the BUILD.toml that declares it
    deps: tuple[Label, ...]  # every label-valued attribute, in order
    sources: tuple[str, ...]  # workspace-relative paths of source files


@dataclass(frozen=True)
class Package:
    name: str
    build_file: str
    targets: dict[str, Target]
    # (size, mtime_ns, inode) of the BUILD.toml, taken before it was read
    stat: tuple[int, int, int] | None = None


def _format_validation_error(where: str, kind: str, raw: dict, error: ValidationError, schema) -> str:
    lines = []
    for err in error.errors():
        attr = ".".join(str(p) for p in err["loc"]) or "(table)"
        if err["type"] == "extra_forbidden":
            hint = did_you_mean(str(err["loc"][0]), schema.model_fields)
            lines.append(f"unknown attribute `{attr}`{hint}")
        elif err["type"] == "missing":
            lines.append(f"missing required attribute `{attr}`")
        else:
            lines.append(f"attribute `{attr}`: {err['msg']} (got {reprlib.repr(err.get('input'))})")
    known = ", ".join(sorted(schema.model_fields))
    return f"{where}: [[{kind}]] {raw.get('name', '?')!r}: " + "; ".join(lines) + f". Attributes of {kind}: {known}"


def check_source_path(ws: Workspace, package: str, path: str, where: str) -> str:
    """A workspace-relative path for a file of `package`, or ConfigError."""
    if isinstance(path, str) and "\0" in path:
        raise ConfigError(f"{where}: source {path!r} contains a NUL byte")
    if not isinstance(path, str) or not path or os.path.isabs(path) or path.startswith("~"):
        raise ConfigError(f"{where}: source `{path}` must be a path relative to the package directory")
    if "/" not in path and path not in (".", ".."):
        # The common case, one syscall: a regular file (not a symlink) directly
        # in the package directory cannot resolve outside it.
        try:
            st = os.lstat(os.path.join(ws.root, package, path))
        except OSError:
            st = None
        if st is not None and stat.S_ISREG(st.st_mode):
            return f"{package}/{path}" if package else path
    parts = Path(path).parts
    if ".." in parts:
        raise ConfigError(f"{where}: source `{path}` leaves its package; depend on a target of the other package instead")
    package_dir = (ws.root / package).resolve()
    full = ws.root / package / path
    try:
        if not full.is_file():
            if full.exists():
                raise ConfigError(f"{where}: source `{path}` is not a regular file")
            siblings = [p.name for p in full.parent.iterdir()] if full.parent.is_dir() else []
            raise ConfigError(f"{where}: source file `{path}` does not exist{did_you_mean(full.name, siblings)}")
        real = full.resolve()
    except OSError as e:  # a name too long, a symlink loop, no permission
        raise ConfigError(f"{where}: source `{path[:80]}{'...' if len(path) > 80 else ''}` cannot be used: "
                          f"{e.strerror or e}") from None
    if package_dir != real and package_dir not in real.parents:
        raise ConfigError(f"{where}: source `{path}` resolves outside its package (a symlink to {real}); copy it into the package")
    return "/".join(p for p in (package, *parts) if p)


def load_package(ws: Workspace, package: str, parsed=None) -> Package:
    """`parsed`: where parsed BUILD.toml tables are kept by stat (engine.trace)."""
    build_path = ws.root / package / BUILD_FILE
    where = "/".join(p for p in (package, BUILD_FILE) if p)
    try:
        st = build_path.stat()
        if st.st_size > MAX_BUILD_FILE_BYTES:
            raise ConfigError(f"{where}: {st.st_size} bytes is too large for a BUILD.toml "
                              f"(limit {MAX_BUILD_FILE_BYTES >> 20} MiB); split the package")
        data = parsed.get(where, st) if parsed is not None else None
        text = build_path.read_text(encoding="utf-8") if data is None else None
    except FileNotFoundError:
        raise ConfigError(f"no package `//{package}`: {where} does not exist") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None
    except OSError as e:  # a directory, a symlink loop, no permission
        raise ConfigError(f"{where}: cannot be read ({e.strerror or e}); it must be a regular file") from None
    if data is None:
        data = parse_toml(text, where)
        if parsed is not None:
            parsed.put(where, st, data)
    kinds = rule_kinds()
    targets: dict[str, Target] = {}
    for kind, tables in data.items():
        if kind == "workspace":
            if package != "":
                raise ConfigError(f"{where}: [workspace] belongs only in the root BUILD.toml")
            continue
        if kind not in kinds:
            raise ConfigError(f"{where}: unknown rule kind `{kind}`{did_you_mean(kind, kinds)}; known kinds: {', '.join(sorted(kinds))}")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError(f"{where}: `{kind}` must be an array of tables: write [[{kind}]]")
        rule = kinds[kind]
        for raw in tables:
            try:
                attrs = rule.schema.model_validate(raw)
            except ValidationError as e:
                raise ConfigError(_format_validation_error(where, kind, raw, e, rule.schema)) from None
            try:
                check_name(attrs.name)
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
            if attrs.name in targets:
                raise ConfigError(f"{where}: duplicate target name `{attrs.name}` ({targets[attrs.name].kind} and {kind}); rename one")
            label = Label(package, attrs.name)
            target_where = f"{where}: target `{attrs.name}`"
            deps: list[Label] = []
            sources: list[str] = []
            for attr, attr_kind in attr_kinds(rule.schema).items():
                value = getattr(attrs, attr)
                values = value if isinstance(value, list) else [value] if value is not None else []
                for item in values:
                    is_label = attr_kind is AttrKind.LABEL or (
                        attr_kind is AttrKind.SOURCE_OR_LABEL and (item.startswith(":") or item.startswith("//")))
                    if is_label:
                        try:
                            deps.append(parse_label(item, package))
                        except ConfigError as e:
                            raise ConfigError(f"{target_where}: attribute `{attr}`: {e}") from None
                    else:
                        sources.append(check_source_path(ws, package, item, f"{target_where}: attribute `{attr}`"))
            targets[attrs.name] = Target(label, kind, attrs, where, tuple(deps), tuple(sources))
    return Package(package, where, targets, (st.st_size, st.st_mtime_ns, st.st_ino))


def find_packages(ws: Workspace, under: str, walked: dict | None = None) -> list[str]:
    """Every package at or below `under`, sorted; each directory is stat'ed
    before it is listed into `walked` (a later change shows in its mtime: the
    trace's build record keeps them for the null build's stat pass)."""
    base = os.path.join(ws.root, under) if under else str(ws.root)
    root = str(ws.root)
    found = []
    stack = [base]
    while stack:
        directory = stack.pop()
        if walked is not None:
            walked[directory] = stat_of(directory)
        try:
            entries = list(os.scandir(directory))
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            if entry.name == BUILD_FILE and not entry.is_dir():
                rel = os.path.relpath(directory, root)
                found.append("" if rel == "." else rel.replace(os.sep, "/"))
            elif entry.is_dir(follow_symlinks=False) and entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                subdirs.append(entry.path)
        stack.extend(sorted(subdirs, reverse=True))
    return sorted(found)
