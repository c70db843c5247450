"""The few error types the engine raises; each carries what a user needs to act.

The CLI prints `str(error)` as one message and exits with `exit_code`.
"""


class WasmeltError(Exception):
    """Base: a message for the user, no traceback."""

    exit_code = 2


class ConfigError(WasmeltError):
    """A BUILD.toml, label or pattern is wrong (analysis-time, exit 2)."""


class CycleError(ConfigError):
    """Targets depend on each other in a loop; the message prints the loop."""


class BuildFailed(WasmeltError):
    """One or more actions failed (execution-time, exit 1)."""

    exit_code = 1


class ActionError(WasmeltError):
    """One action failed: its command exited non-zero or broke the contract."""

    exit_code = 1


def did_you_mean(word: str, candidates) -> str:
    """' (did you mean `x`?)' for the closest candidate, or ''."""
    import difflib

    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{close[0]}`?)" if close else ""
