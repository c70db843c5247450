"""Finding the workspace: the nearest ancestor directory whose BUILD.toml
has a `[workspace]` table, and where its cache and outputs live."""

from __future__ import annotations

import marshal
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .client import BUILD_FILE, records_path
from .errors import ConfigError

OUTPUT_DIR = "wasmelt-out"
# Directories never searched for packages.
SKIPPED_DIRS = {OUTPUT_DIR, ".wasmelt", ".git", ".venv", "venv", "node_modules", "__pycache__"}


@dataclass(frozen=True)
class Workspace:
    root: Path
    settings: dict
    cache_dir: Path  # CAS, action cache, sandboxes, build records

    @property
    def output_dir(self) -> Path:
        return self.root / OUTPUT_DIR

    def package_of(self, directory: Path) -> str:
        """The package path of a directory inside the workspace ('' = root)."""
        rel = os.path.relpath(directory.resolve(), self.root)
        return "" if rel == "." else rel.replace(os.sep, "/")


def parse_toml(text: str, where: str) -> dict:
    """A BUILD.toml's data, or one ConfigError naming the file."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: invalid TOML: {e}") from None
    except RecursionError:  # the parser recurses once per level of [ or {
        raise ConfigError(f"{where}: arrays or inline tables nested too deeply for a BUILD.toml") from None


def records_dir(ws: Workspace) -> Path:
    """Where a workspace's build records live in its cache."""
    return Path(records_path(str(ws.cache_dir), str(ws.root)))


_tables: dict[str, bytes] = {}  # a long-lived process (the server): root BUILD.toml text -> its table, marshalled


def _workspace_table(build_file: Path) -> dict | None:
    """The `[workspace]` table of a BUILD.toml, or None. Parsed once per text in
    a process (a fresh copy each time): every command of the server finds its workspace."""
    try:
        text = build_file.read_text(encoding="utf-8")
    except OSError:
        return None
    if "[workspace]" not in text:
        return None
    kept = _tables.get(text)
    if kept is not None:
        return marshal.loads(kept)
    data = parse_toml(text, str(build_file))
    table = data.get("workspace")
    if not isinstance(table, dict):
        return None
    try:
        if len(_tables) < 16:
            _tables[text] = marshal.dumps(table)
    except ValueError:  # a TOML date or time: not kept
        pass
    return table


def find_workspace(start: Path) -> Workspace:
    start = start.resolve()
    for directory in (start, *start.parents):
        settings = _workspace_table(directory / BUILD_FILE)
        if settings is not None:
            cache = os.environ.get("WASMELT_CACHE")
            cache_dir = Path(cache).resolve() if cache else directory / ".wasmelt"
            return Workspace(root=directory, settings=settings, cache_dir=cache_dir)
    raise ConfigError(
        f"no workspace found from {start}: create a BUILD.toml with a [workspace] "
        "table at the repository root, or start one with `wasmelt init`"
    )


def locate(cwd=None) -> tuple[Workspace, str] | None:
    """(workspace, command package) for the current directory, or None."""
    try:
        start = Path(cwd) if cwd else Path.cwd()
        ws = find_workspace(start)
        return ws, ws.package_of(start)
    except (ConfigError, OSError):
        return None
