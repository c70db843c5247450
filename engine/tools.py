"""Tool identities, resolved before analysis: a rule kind declares the tool
requests of a target (RuleKind.tools, from its attributes and the settings
alone), and this table resolves each distinct request once per process (the
server keeps it) so that analysis itself runs no program and reads no tool.

A request is any hashable object with `resolve() -> iterable of ToolRef`
(rules.common.ToolRequest); a resolved request is re-checked once per command
by the stat of the tools it resolved to, and by PATH.
"""

from __future__ import annotations

import os

from .errors import ConfigError
from .rebuild import stat_of


class ToolTable:
    def __init__(self):
        self._known: dict[tuple, tuple[tuple, list]] = {}  # (request, PATH) -> (refs, [(path, stat)])
        self._checked: set[tuple] = set()  # keys re-checked by this command
        self.resolved = 0  # requests resolved (not taken from the table)

    def begin(self) -> None:
        """A new command: every request is re-checked on its first use."""
        self._checked = set()

    def resolve(self, request, where: str) -> tuple:
        """The ToolRefs of `request`; a missing tool is a ConfigError naming `where`."""
        key = (request, os.environ.get("PATH", ""))
        entry = self._known.get(key)
        if entry is not None and (key in self._checked or all(stat_of(p) == s for p, s in entry[1])):
            self._checked.add(key)
            return entry[0]
        try:
            refs = tuple(dict.fromkeys(request.resolve()))
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        self._known[key] = (refs, [(r.path, stat_of(r.path)) for r in refs])
        self._checked.add(key)
        self.resolved += 1
        return refs

    def for_target(self, requests, where: str) -> tuple:
        """The ToolRefs of every request of one target, in order, each once."""
        refs: dict = {}
        for request in requests:
            for ref in self.resolve(request, where):
                refs[ref] = None
        return tuple(refs)
