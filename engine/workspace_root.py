"""The workspace's root found without parsing: the nearest directory at or above a path whose
BUILD.toml mentions a [workspace] table. Builtin modules only: rc files, client and null build use it."""

import os

BUILD_FILE = "BUILD.toml"


def guess(cwd: str) -> str | None:
    """The nearest directory at or above `cwd` whose BUILD.toml holds the text
    `[workspace]`, or None. engine.workspace.locate parses the file and decides;
    this finds the socket, the rc file and the trace of a workspace before that."""
    directory = os.path.abspath(cwd)
    while True:
        try:
            with open(os.path.join(directory, BUILD_FILE), "rb") as f:
                if b"[workspace]" in f.read():
                    return directory
        except OSError:
            pass
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def package_of(root: str, cwd: str) -> str:
    """The package path of `cwd` inside the workspace at `root` ('' = the root's)."""
    package = os.path.relpath(cwd, root)
    return "" if package == "." else package.replace(os.sep, "/")
