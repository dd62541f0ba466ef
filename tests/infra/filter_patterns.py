"""CloudWatch Logs JSON filter patterns (the subset docs/deploy.md may use), evaluated locally.

Supported, as CloudWatch documents them: ``{ SELECTOR OP VALUE }`` with selectors such as
``$.a.b`` and ``$.a[0]``; ``=`` / ``!=`` against a string (quoted, or bare; ``*`` is a wildcard)
or a number; ``>``, ``<``, ``>=``, ``<=`` against a number; ``IS NULL``, ``IS TRUE``,
``IS FALSE``, ``NOT EXISTS``; ``&&`` and ``||`` with parentheses. Mixing ``&&`` and ``||``
without parentheses is refused (CloudWatch's precedence is not worth relying on in a runbook),
and so is anything else: a pattern this module cannot read is a pattern the runbook should not
hold. A selector that does not resolve, or a value of another type, does not match.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Line = dict[str, Any]
Predicate = Callable[[Line], bool]

TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<selector>\$(?:\.[A-Za-z_@][A-Za-z0-9_@-]*|\[\d+\])*)
      | (?P<op>&&|\|\||!=|>=|<=|=|>|<|\{|\}|\(|\))
      | (?P<word>[^\s{}()=!<>&|"]+)
    )""",
    re.VERBOSE,
)
MISSING = object()


class PatternError(ValueError):
    """The pattern is not in the supported subset."""


def tokenize(pattern: str) -> list[tuple[str, str]]:
    """(kind, text) tokens of a pattern."""
    tokens, position = [], 0
    while position < len(pattern.rstrip()):
        match = TOKEN.match(pattern, position)
        if not match or match.end() == position:
            raise PatternError(f"cannot read {pattern[position:]!r} in {pattern!r}")
        kind = match.lastgroup
        assert kind is not None
        tokens.append((kind, match.group(kind)))
        position = match.end()
    return tokens


def resolve(line: Line, selector: str) -> Any:
    """The value at a selector ($.a.b[0]), or MISSING."""
    value: Any = line
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", selector[1:]):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            return MISSING
    return value


def wildcard(text: str) -> re.Pattern[str]:
    """A string value as an anchored regular expression ('*' matches anything)."""
    return re.compile("".join(".*" if c == "*" else re.escape(c) for c in text), re.DOTALL)


def is_number(value: Any) -> bool:
    """A JSON number (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class Parser:
    """Recursive descent over the tokens of one pattern."""

    tokens: list[tuple[str, str]]
    position: int = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, text: str | None = None, kind: str | None = None) -> str:
        token = self.peek()
        if token is None or (text and token[1] != text) or (kind and token[0] != kind):
            raise PatternError(f"expected {text or kind}, found {token}")
        self.position += 1
        return token[1]

    def pattern(self) -> Predicate:
        self.take("{")
        predicate = self.expression()
        self.take("}")
        if self.peek() is not None:
            raise PatternError(f"text after the closing brace: {self.peek()}")
        return predicate

    def expression(self) -> Predicate:
        terms, operators = [self.term()], set()
        while (token := self.peek()) and token[1] in ("&&", "||"):
            operators.add(self.take())
            terms.append(self.term())
        if len(operators) > 1:
            raise PatternError("mixed && and || without parentheses")
        if operators == {"&&"}:
            return lambda line: all(term(line) for term in terms)
        if operators == {"||"}:
            return lambda line: any(term(line) for term in terms)
        return terms[0]

    def term(self) -> Predicate:
        if (token := self.peek()) and token[1] == "(":
            self.take("(")
            inner = self.expression()
            self.take(")")
            return inner
        return self.comparison()

    def comparison(self) -> Predicate:
        selector = self.take(kind="selector")
        token = self.peek()
        if token and token == ("word", "IS"):
            self.take()
            expected = {"NULL": None, "TRUE": True, "FALSE": False}[self.take(kind="word")]
            return lambda line: (
                (value := resolve(line, selector)) is not MISSING and (value is expected)
            )
        if token and token == ("word", "NOT"):
            self.take()
            self.take("EXISTS")
            return lambda line: resolve(line, selector) is MISSING
        operator = self.take(kind="op")
        kind, raw = self.peek() or ("", "")
        self.take()
        if kind == "string":
            return self.text_comparison(selector, operator, json.loads(raw))
        try:
            number = float(raw)
        except ValueError:
            if kind != "word":
                raise PatternError(f"no value after {selector} {operator}") from None
            return self.text_comparison(selector, operator, raw)
        return self.number_comparison(selector, operator, number)

    @staticmethod
    def text_comparison(selector: str, operator: str, text: str) -> Predicate:
        if operator not in ("=", "!="):
            raise PatternError(f"{operator} needs a number, got {text!r}")
        regex = wildcard(text)

        def compare(line: Line) -> bool:
            value = resolve(line, selector)
            if not isinstance(value, str):
                return False
            return bool(regex.fullmatch(value)) == (operator == "=")

        return compare

    @staticmethod
    def number_comparison(selector: str, operator: str, number: float) -> Predicate:
        tests: dict[str, Callable[[float], bool]] = {
            "=": lambda v: v == number,
            "!=": lambda v: v != number,
            ">": lambda v: v > number,
            "<": lambda v: v < number,
            ">=": lambda v: v >= number,
            "<=": lambda v: v <= number,
        }
        if operator not in tests:
            raise PatternError(f"unknown operator {operator}")

        def compare(line: Line) -> bool:
            value = resolve(line, selector)
            return is_number(value) and tests[operator](float(value))

        return compare


def compile_pattern(pattern: str) -> Predicate:
    """A JSON filter pattern as a predicate on parsed log lines."""
    if not pattern.strip().startswith("{"):
        raise PatternError(f"only JSON filter patterns ({{ ... }}) are supported: {pattern!r}")
    return Parser(tokenize(pattern)).pattern()
