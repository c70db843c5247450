"""What a long-lived process (the server) keeps between commands, in one object
passed to each command: loaded packages, analysis results, and the last build."""

from __future__ import annotations

from .analysis import AnalysisMemo
from .graph import PackageMemo


class Memo:
    def __init__(self):
        self.packages = PackageMemo()
        self.analysis = AnalysisMemo()
        # The last successful plain build (engine.incremental.State), set by session.build.
        self.last = None
