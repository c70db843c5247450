"""Target labels (`//pkg/path:name`, `:name`, `//pkg`) and target patterns
(`//...`, `//pkg/...`, `//pkg:all`), parsed and printed canonically."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=,@~-]*$")
_PACKAGE_PART = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.+=,@~-]*$")


@dataclass(frozen=True, order=True)
class Label:
    package: str  # "" for the root package, "a/b" otherwise
    name: str

    def __str__(self) -> str:
        return f"//{self.package}:{self.name}"


def check_name(name: str, what: str = "target name") -> str:
    if not _NAME.match(name) or ".." in name:
        raise ConfigError(
            f"invalid {what} `{name}`: use letters, digits and _ . + = , @ ~ - "
            "(no slashes, spaces or shell metacharacters)"
        )
    return name


def _check_package(package: str, text: str) -> str:
    if package == "":
        return package
    for part in package.split("/"):
        if not _PACKAGE_PART.match(part) or part in (".", ".."):
            raise ConfigError(f"invalid package path in label `{text}`")
    return package


def parse_label(text: str, current_package: str | None = None) -> Label:
    """Parse a label; `:name` and bare `name` need the package they appear in."""
    if not isinstance(text, str) or not text:
        raise ConfigError(f"invalid label {text!r}: expected `//pkg:name` or `:name`")
    if text.startswith("//"):
        body = text[2:]
        package, sep, name = body.partition(":")
        package = package.rstrip("/")
        if not sep:
            name = package.rsplit("/", 1)[-1] if package else ""
            if not name:
                raise ConfigError(f"invalid label `{text}`: the root package needs `//:name`")
        return Label(_check_package(package, text), check_name(name, f"target name in `{text}`"))
    if current_package is None:
        raise ConfigError(f"invalid label `{text}`: relative labels need a package; write `//pkg:name`")
    name = text[1:] if text.startswith(":") else text
    if "/" in name or ":" in name:
        raise ConfigError(f"invalid label `{text}`: write `//pkg:name` or `:name`")
    return Label(current_package, check_name(name, f"target name in `{text}`"))


@dataclass(frozen=True)
class Pattern:
    """`//pkg:name` (one target), `//pkg:all`, `//pkg/...` (recursive)."""

    package: str
    name: str | None  # None = every target of the package(s)
    recursive: bool

    def __str__(self) -> str:
        if self.recursive:
            return f"//{self.package + '/' if self.package else ''}..."
        return f"//{self.package}:{self.name or 'all'}"

    def matches_package(self, package: str) -> bool:
        if self.recursive:
            return self.package == "" or package == self.package or package.startswith(self.package + "/")
        return package == self.package


def parse_pattern(text: str, current_package: str = "") -> Pattern:
    """Patterns are absolute (`//…`), package-relative (`:name`), or relative
    to the package the command runs in (`sub/dir:name`, `sub/...`)."""
    if text.startswith(":"):
        text = f"//{current_package}{text}"
    elif not text.startswith("//"):
        text = "//" + "/".join(p for p in (current_package, text) if p)
    if text == "//...":
        return Pattern("", None, True)
    if text.endswith("/..."):
        return Pattern(_check_package(text[2:-4], text), None, True)
    if text.endswith(":all") or text.endswith(":*"):
        return Pattern(_check_package(text[2:].rsplit(":", 1)[0], text), None, False)
    label = parse_label(text, current_package)
    return Pattern(label.package, label.name, False)
