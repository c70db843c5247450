"""The example's size picture in a real headless Chromium: the rendered DOM
shows the components, functions and budget labels, and the screenshot has
the window's size and the components' colours (it is not blank). And the
README's picture is what the command it shows draws."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
import zlib
from html.parser import HTMLParser

import pytest

from conftest import REPO, Workspace

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="no chromium (apt-get install chromium)")
WIDTH, HEIGHT = 1180, 1000


def _chromium(tmp_path, url: str, *flags: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--hide-scrollbars", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
           *flags, url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


class _SvgText(HTMLParser):
    """The text of the picture's <text> elements, as the browser laid them out."""

    def __init__(self):
        super().__init__()
        self.texts: list[str] = []
        self._in = False

    def handle_starttag(self, tag, attrs):
        self._in = tag == "text"
        if self._in:
            self.texts.append("")

    def handle_endtag(self, tag):
        self._in = False

    def handle_data(self, data):
        if self._in:
            self.texts[-1] += data


def _pixels(png: bytes) -> tuple[int, int, set[tuple[int, ...]]]:
    """Width, height and the distinct colours of an 8-bit RGB(A) PNG."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        data = png[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", data[:10])
            assert depth == 8 and color in (2, 6)
            bpp = 3 if color == 2 else 4
        elif kind == b"IDAT":
            idat += data
        pos += 12 + length
    raw, stride, colours = zlib.decompress(idat), width * bpp, set()
    prev = bytearray(stride)
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        colours.update(bytes(line[i:i + 3]) for i in range(0, stride, bpp))
        prev = line
    return width, height, {tuple(c) for c in colours}


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    root = tmp_path_factory.mktemp("sizemap")
    ws = Workspace(root / "ws", root / "cache")
    shutil.copytree(REPO / "examples" / "app", ws.root / "app")
    shutil.copy(REPO / "BUILD.toml", ws.root / "BUILD.toml")
    html = root / "size.html"
    run = ws.run("size", "//app:firmware", "//app:firmware_m0", "--format=html", "-o", str(html))
    assert run.code == 0, run.err
    return root, html


def test_the_docs_picture_is_what_the_command_draws(picture):
    """docs/size-map.svg, up to the numbers (a change to the lowering moves
    bytes; a change to the picture must regenerate it: see README.md)."""
    root, html = picture
    ws = Workspace(root / "ws", root / "cache")
    run = ws.run("size", "//app:firmware", "//app:firmware_m0", "--format=svg")
    assert run.code == 0, run.err

    def shape(svg: str) -> list[str]:
        parser = _SvgText()
        parser.feed(svg.replace("//examples/app:", "//app:"))
        return [re.sub(r"\d+", "#", t) for t in parser.texts]

    assert shape((REPO / "docs" / "size-map.svg").read_text()) == shape(run.out)
    readme = (REPO / "README.md").read_text()
    for fmt in ("svg", "html"):
        assert (f"wasmelt size //examples/app:firmware //examples/app:firmware_m0 --format={fmt} "
                f"-o docs/size-map.{fmt}") in readme
    assert "![" in readme and "(docs/size-map.svg)" in readme


@needs_chromium
def test_the_browser_shows_components_functions_and_budgets(picture):
    root, html = picture
    dom = _chromium(root, html.as_uri(), "--dump-dom").stdout
    parser = _SvgText()
    parser.feed(dom)
    texts = parser.texts
    assert "//app:firmware" in texts and "//app:firmware_m0" in texts
    for component in ("app", "kernel", "payload", "(runtime)"):
        assert sum(t.startswith(f"{component}: ") for t in texts) == 2, component  # one legend line per target
    for function in ("tick", "init", "wasmelt_init"):
        assert any(re.fullmatch(rf"{function} \d+ B", t) or t == function for t in texts), function
    assert any(t.endswith(" ~") for t in texts)  # inlined code, marked as estimated
    assert texts.count("max_text_bytes 1024 B") == 2 and texts.count("max_bss_bytes 4096 B") == 2
    assert any(t.startswith("shadow stack") for t in texts)  # its legend line (16 B: too narrow for a label)


@needs_chromium
def test_the_screenshot_is_the_picture_not_a_blank_page(picture):
    root, html = picture
    shot = root / "shot.png"
    _chromium(root, html.as_uri(), f"--screenshot={shot}")
    width, height, colours = _pixels(shot.read_bytes())
    assert (width, height) == (WIDTH, HEIGHT)
    assert len(colours) > 50  # text, treemap, hatching, bars: not a blank page
    svg = html.read_text()
    for component in ("app", "kernel", "payload"):  # each legend swatch is drawn in its colour
        fill = re.search(rf'fill="#(\w{{6}})" stroke="#495057" stroke-width="0.5"><title>{re.escape(component)}</title>',
                         svg).group(1)
        assert tuple(bytes.fromhex(fill)) in colours, component
