"""The query language's syntax: words, functions, `let` and the set operators,
parsed into a tree of frozen dataclasses; errors name the column they found."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError, did_you_mean

# name -> its arguments: "expr" (a set of targets), "word" (a regex or attribute name), "int" (a depth);
# a trailing "int?" is optional
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "deps": ("expr", "int?"),
    "rdeps": ("expr", "expr", "int?"),
    "allpaths": ("expr", "expr"),
    "somepath": ("expr", "expr"),
    "kind": ("word", "expr"),
    "attr": ("word", "word", "expr"),
    "filter": ("word", "expr"),
    "labels": ("word", "expr"),
    "tests": ("expr",),
    "buildfiles": ("expr",),
    "siblings": ("expr",),
}
OPERATORS = {"+": "union", "union": "union", "-": "except", "except": "except", "^": "intersect",
             "intersect": "intersect"}
_WORD_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/:._*@~-$")


class QuerySyntaxError(ConfigError):
    pass


@dataclass(frozen=True)
class Word:  # a target pattern, or a function's regex/name/depth argument
    text: str
    pos: int


@dataclass(frozen=True)
class Var:
    name: str
    pos: int


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple
    pos: int


@dataclass(frozen=True)
class SetOp:
    op: str  # union, except, intersect
    left: object
    right: object


@dataclass(frozen=True)
class Let:
    name: str
    value: object
    body: object


@dataclass(frozen=True)
class Token:
    kind: str  # word, quoted, op, "(", ")", ",", "=", end
    text: str
    pos: int  # 1-based column


def fail(expression: str, pos: int, message: str) -> QuerySyntaxError:
    return QuerySyntaxError(f"query `{expression}`, column {pos}: {message}")


def tokenize(expression: str) -> list[Token]:
    tokens, i, n = [], 0, len(expression)
    while i < n:
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif ch in "(),=":
            tokens.append(Token(ch, ch, i + 1))
            i += 1
        elif ch in "+^" or (ch == "-" and (i + 1 == n or expression[i + 1].isspace()
                                           or expression.startswith(("//", ":"), i + 1))):  # `//... -//x/...`
            tokens.append(Token("op", ch, i + 1))
            i += 1
        elif ch in "'\"":
            end = expression.find(ch, i + 1)
            if end < 0:
                raise fail(expression, i + 1, f"unterminated quoted word (no closing {ch})")
            tokens.append(Token("quoted", expression[i + 1:end], i + 1))
            i = end + 1
        elif ch in _WORD_CHARS:
            start = i
            while i < n and expression[i] in _WORD_CHARS:
                i += 1
            text = expression[start:i]
            kind = "op" if text in OPERATORS else "word"
            tokens.append(Token(kind, text, start + 1))
        else:
            raise fail(expression, i + 1, f"unexpected character `{ch}` (quote words holding it: 'like(this)')")
    tokens.append(Token("end", "", n + 1))
    return tokens


class _Parser:
    def __init__(self, expression: str):
        self.expression = expression
        self.tokens = tokenize(expression)
        self.i = 0

    def peek(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(self, token: Token, message: str) -> QuerySyntaxError:
        return fail(self.expression, token.pos, message)

    def expect(self, kind: str, what: str) -> Token:
        token = self.take()
        if token.kind != kind:
            found = "the end of the expression" if token.kind == "end" else f"`{token.text}`"
            raise self.error(token, f"expected {what}, found {found}")
        return token

    def parse(self):
        node = self.expr()
        token = self.peek()
        if token.kind != "end":
            hint = " (a `)` without its `(`)" if token.kind == ")" else " (join sets with +, -, ^)"
            raise self.error(token, f"unexpected `{token.text}`{hint}")
        return node

    def expr(self):
        node = self.primary()
        while self.peek().kind == "op":
            op = OPERATORS[self.take().text]
            node = SetOp(op, node, self.primary())
        return node

    def primary(self):
        token = self.take()
        if token.kind == "(":
            node = self.expr()
            closing = self.peek()
            if closing.kind != ")":
                raise self.error(token, f"unbalanced parentheses: this `(` is not closed (found "
                                        f"{'the end of the expression' if closing.kind == 'end' else repr(closing.text)}"
                                        f" at column {closing.pos})")
            self.take()
            return node
        if token.kind == "word" and token.text == "let":
            name = self.expect("word", "a variable name after `let`")
            if self.take().kind != "=":
                raise self.error(name, f"expected `=` after `let {name.text}`")
            value = self.expr()
            if self.peek().text != "in":
                raise self.error(self.peek(), f"expected `in` after `let {name.text} = ...`")
            self.take()
            return Let(name.text, value, self.expr())
        if token.kind == "word" and token.text.startswith("$"):
            return Var(token.text[1:], token.pos)
        if token.kind in ("word", "quoted"):
            if token.kind == "word" and self.peek().kind == "(":
                return self.call(token)
            return Word(token.text, token.pos)
        found = "the end of the expression" if token.kind == "end" else f"`{token.text}`"
        raise self.error(token, f"expected a target pattern, a function or `(`, found {found}")

    def call(self, name: Token) -> Call:
        if name.text not in FUNCTIONS:
            raise self.error(name, f"unknown function `{name.text}`{did_you_mean(name.text, FUNCTIONS)}; "
                                   f"functions: {', '.join(sorted(FUNCTIONS))}")
        opening = self.take()
        args = []
        if self.peek().kind != ")":
            args.append(self.expr())
            while self.peek().kind == ",":
                self.take()
                args.append(self.expr())
        closing = self.peek()
        if closing.kind != ")":
            if closing.kind == "end":
                raise self.error(opening, f"unbalanced parentheses: `{name.text}(` is not closed")
            raise self.error(closing, f"expected `,` or `)` in {name.text}(...), found `{closing.text}`")
        self.take()
        spec = FUNCTIONS[name.text]
        required = [s for s in spec if not s.endswith("?")]
        if not len(required) <= len(args) <= len(spec):
            raise self.error(name, f"{name.text}() takes {_arity(spec)}, got {len(args)}: {name.text}({_signature(spec)})")
        for i, (arg, kind) in enumerate(zip(args, spec)):
            if kind.rstrip("?") in ("word", "int") and not isinstance(arg, Word):
                raise self.error(name, f"{name.text}(): argument {i + 1} must be a word, not an expression: "
                                       f"{name.text}({_signature(spec)})")
            if kind.rstrip("?") == "int" and not arg.text.isdigit():
                raise fail(self.expression, arg.pos, f"{name.text}(): the depth must be a whole number, not `{arg.text}`")
        return Call(name.text, tuple(args), name.pos)


def _arity(spec: tuple[str, ...]) -> str:
    required = sum(not s.endswith("?") for s in spec)
    n = f"{required} or {len(spec)}" if required != len(spec) else str(required)
    return f"{n} argument{'s' if len(spec) > 1 else ''}"


def _signature(spec: tuple[str, ...]) -> str:
    names = {"expr": "targets", "word": "pattern", "int": "depth"}
    parts = [names[s.rstrip("?")] for s in spec]
    optional = [s.endswith("?") for s in spec]
    return "".join((", " if i else "") + ("[" if o else "") + p + ("]" if o else "")
                   for i, (p, o) in enumerate(zip(parts, optional)))


def parse(expression: str):
    """The syntax tree of a query expression (QuerySyntaxError naming the column otherwise)."""
    return _Parser(expression).parse()
