"""Azure's ``$filter`` on image metadata (Training API v3.3+): a small OData subset, parsed into plain tuples.

The grammar the SDK documents ("eq, ne, and, or"; example ``key1 eq 'value1' and key2 ne 'value2'``)::

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := operand ("and" operand)*
    operand    := "(" or_expr ")" | comparison
    comparison := key ("eq" | "ne") string
    key        := ["metadata/"] name        name: no spaces, quotes or parentheses
    string     := "'" ... "'"               a quote inside is doubled: 'O''Brien'

Operators are case-insensitive; ``and`` binds tighter than ``or``. ``key eq 'v'`` holds when the image has
that pair; ``key ne 'v'`` when it does not (an image without the key included). Anything else (other
operators, functions, unquoted values) is a 400 saying what is supported.

The result is ``("eq" | "ne", key, value)`` or ``("and" | "or", left, right)``, which
``projects.selectors.image_list(metadata=...)`` turns into a query.
"""

from __future__ import annotations

import re
from typing import Any

from portal.azure.errors import AzureError

MAX_LENGTH = 4096
MAX_COMPARISONS = 64
MAX_DEPTH = 16
EXAMPLE = "metadata/camera eq 'north' and (site eq 'A7' or site ne 'B2')"

_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<string>'(?:[^']|'')*')|(?P<word>[^\s()']+)|(?P<bad>\S))")


def _error(message: str) -> AzureError:
    return AzureError(
        "BadRequest",
        f"$filter: {message}. Supported: key eq 'value', key ne 'value', and, or, parentheses; e.g. {EXAMPLE}.",
        400,
    )


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # only trailing whitespace is left
            break
        position = match.end()
        kind = match.lastgroup or ""
        value = match.group(kind)
        if kind == "bad":
            raise _error(f"unterminated string at {text[match.start(kind):][:20]!r}")
        out.append((kind, value))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.at = 0
        self.comparisons = 0

    def peek_word(self) -> str:
        if self.at < len(self.tokens) and self.tokens[self.at][0] == "word":
            return self.tokens[self.at][1].lower()
        return ""

    def take(self) -> tuple[str, str]:
        if self.at >= len(self.tokens):
            raise _error("the expression ends too early")
        token = self.tokens[self.at]
        self.at += 1
        return token

    def or_expr(self, depth: int) -> tuple[Any, ...]:
        left = self.and_expr(depth)
        while self.peek_word() == "or":
            self.at += 1
            left = ("or", left, self.and_expr(depth))
        return left

    def and_expr(self, depth: int) -> tuple[Any, ...]:
        left = self.operand(depth)
        while self.peek_word() == "and":
            self.at += 1
            left = ("and", left, self.operand(depth))
        return left

    def operand(self, depth: int) -> tuple[Any, ...]:
        kind, value = self.take()
        if kind == "paren" and value == "(":
            if depth >= MAX_DEPTH:
                raise _error(f"at most {MAX_DEPTH} levels of parentheses")
            inner = self.or_expr(depth + 1)
            if self.take() != ("paren", ")"):
                raise _error("a '(' is not closed")
            return inner
        if kind != "word" or value.lower() in ("and", "or", "not", "eq", "ne"):
            raise _error(f"expected a metadata key, found {value!r}")
        key = value[len("metadata/"):] if value.lower().startswith("metadata/") else value
        if not key or '"' in key:  # a double quote cannot be put in a JSON path portably
            raise _error(f"{value!r} is not a metadata key that can be filtered on")
        op_kind, op = self.take()
        if op_kind != "word" or op.lower() not in ("eq", "ne"):
            raise _error(f"unsupported operator {op!r} after {value!r}")
        literal_kind, literal = self.take()
        if literal_kind != "string":
            raise _error(f"the value compared with {value!r} must be a quoted string, not {literal!r}")
        self.comparisons += 1
        if self.comparisons > MAX_COMPARISONS:
            raise _error(f"at most {MAX_COMPARISONS} comparisons")
        return (op.lower(), key, literal[1:-1].replace("''", "'"))


def parse_metadata_filter(text: str | None) -> tuple[Any, ...] | None:
    """The parsed ``$filter`` (None when absent or blank); AzureError 400 when it is outside the subset."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_LENGTH:
        raise _error(f"at most {MAX_LENGTH} characters")
    if "\x00" in text:
        raise _error("NUL characters are not allowed")
    parser = _Parser(_tokens(text))
    expr = parser.or_expr(0)
    if parser.at != len(parser.tokens):
        raise _error(f"unexpected {parser.tokens[parser.at][1]!r}")
    return expr
