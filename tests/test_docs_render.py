"""README.md and docs/*.md render as written on a CommonMark renderer: every
code fence closes where its author closed it and every `#` heading is a heading."""

from __future__ import annotations

import re

import pytest
from markdown_it import MarkdownIt

from tests.conftest import REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")


def problems(text: str) -> list[str]:
    """What a CommonMark parser reads differently from the source's intent
    (a line starting with ``` or ~~~ opens or closes a fence), by line number."""
    lines = text.splitlines()
    tokens = MarkdownIt("commonmark").parse(text)
    found = []
    for t in tokens:
        if t.type == "fence":
            start, end = t.map
            closer = lines[end - 1].strip() if end - 1 > start else ""
            if not (closer and set(closer) == {t.markup[0]} and len(closer) >= len(t.markup)):
                found.append(f"line {start + 1}: the fence opened here does not close "
                             f"(a closing fence is the fence characters alone on a line)")
    rendered = {t.map[0] for t in tokens if t.type == "heading_open"}
    in_fence = None
    for i, line in enumerate(lines):
        m = _FENCE.match(line)
        if m:
            in_fence = None if in_fence else m.group(1)[0]
        elif in_fence is None and _HEADING.match(line) and i not in rendered:
            found.append(f"line {i + 1}: `{line.strip()}` does not render as a heading")
    return found


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_markdown_renders_as_written(path):
    assert problems(path.read_text(encoding="utf-8")) == []


def test_a_closing_fence_with_text_after_it_is_found():
    text = "# Title\n\n```\ncode\n``` prose\n\n## Section\n\ntext\n"
    assert problems(text) == [
        "line 3: the fence opened here does not close (a closing fence is the fence characters alone on a line)",
        "line 7: `## Section` does not render as a heading",
    ]


def test_well_formed_markdown_has_no_problems():
    assert problems("# A\n\n```sh\n# a comment, not a heading\n```\n\n## B\n\n~~~\nx\n~~~\n") == []
