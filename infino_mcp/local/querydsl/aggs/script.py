"""The conditions ``bucket_selector`` scripts express, without running any script engine.

Accepted: the Painless expressions such selectors are written with, over the
``buckets_path`` variables: ``params.name`` (or ``params['name']``), numbers,
``true``/``false``, ``+ - * / %``, comparisons ``== != < <= > >=``, ``&& || !``
and parentheses, e.g. ``params.total > 100 && params.count >= 2``. Anything else
(method calls, assignments, other variables) is refused with a 400.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from typing import Any

from infino_mcp.local.errors import ApiError

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<var>params\s*\.\s*[A-Za-z_]\w*|params\s*\[\s*(?:'[^']*'|\"[^\"]*\")\s*\])"
    r"|(?P<word>true|false)\b|(?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!()]))"
)
_COMPARE = {"==": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le, ">": operator.gt,
            ">=": operator.ge}  # fmt: skip
_ARITH = {"+": operator.add, "-": operator.sub}
Expr = Callable[[dict[str, float]], Any]


def compile_condition(script: Any, variables: set[str], name: str) -> Callable[[dict[str, float]], bool]:
    """``script`` (a string or {"source": ...}) as a function of the variables' values."""
    source = script.get("source", script.get("inline")) if isinstance(script, dict) else script
    if isinstance(script, dict) and script.get("lang", "painless") not in ("painless", "expression"):
        raise ApiError(400, f"Aggregation '{name}': only painless conditions are supported, not {script['lang']!r}.")
    if not isinstance(source, str) or not source.strip():
        raise ApiError(400, f'Aggregation \'{name}\' (bucket_selector) needs a "script" such as "params.x > 10".')
    tokens = _tokenize(source.strip().rstrip(";"), name)
    parser = _Parser(tokens, variables, name, source)
    expr = parser.or_()
    if parser.pos != len(tokens):
        raise parser.error()
    return lambda params: bool(expr(params))


def _tokenize(text: str, name: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ApiError(400, f"Aggregation '{name}': cannot read the script at {text[pos:pos + 20]!r}; write "
                           "comparisons of params.name with && || ! and + - * /.")  # fmt: skip
        kind = m.lastgroup
        assert kind is not None
        value = m.group(kind)
        if kind == "var":
            value = re.sub(r"^params\s*(?:\.\s*|\[\s*['\"])|['\"]\s*\]$", "", value)
        out.append((kind, value))
        pos = m.end()
    return out


def _divide(a: float, b: float) -> float:
    if b == 0:
        return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
    return a / b


def _remainder(a: float, b: float) -> float:
    return math.nan if b == 0 else math.fmod(a, b)


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]], variables: set[str], name: str, source: str) -> None:
        self.tokens, self.variables, self.name, self.source = tokens, variables, name, source
        self.pos = 0

    def error(self) -> ApiError:
        return ApiError(400, f"Aggregation '{self.name}': cannot read the script {self.source!r}; write comparisons "
                        "of params.name with && || ! and + - * /.")  # fmt: skip

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "op" else None

    def take(self) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise self.error()
        self.pos += 1
        return self.tokens[self.pos - 1]

    def or_(self) -> Expr:
        left = self.and_()
        while self.peek() == "||":
            self.take()
            right, first = self.and_(), left
            left = lambda p, a=first, b=right: bool(a(p)) or bool(b(p))  # noqa: E731
        return left

    def and_(self) -> Expr:
        left = self.not_()
        while self.peek() == "&&":
            self.take()
            right, first = self.not_(), left
            left = lambda p, a=first, b=right: bool(a(p)) and bool(b(p))  # noqa: E731
        return left

    def not_(self) -> Expr:
        if self.peek() == "!":
            self.take()
            inner = self.not_()
            return lambda p: not inner(p)
        return self.compare()

    def compare(self) -> Expr:
        left = self.sum_()
        op = self.peek()
        if op in _COMPARE:
            self.take()
            right, fn = self.sum_(), _COMPARE[op]
            return lambda p: fn(left(p), right(p))
        return left

    def sum_(self) -> Expr:
        left = self.product()
        while self.peek() in ("+", "-"):
            fn = _ARITH[self.take()[1]]
            right, first = self.product(), left
            left = lambda p, a=first, b=right, f=fn: f(a(p), b(p))  # noqa: E731
        return left

    def product(self) -> Expr:
        left = self.unary()
        while self.peek() in ("*", "/", "%"):
            op = self.take()[1]
            fn = operator.mul if op == "*" else _divide if op == "/" else _remainder
            right, first = self.unary(), left
            left = lambda p, a=first, b=right, f=fn: f(a(p), b(p))  # noqa: E731
        return left

    def unary(self) -> Expr:
        if self.peek() == "-":
            self.take()
            inner = self.unary()
            return lambda p: -inner(p)
        kind, value = self.take()
        if kind == "num":
            number = float(value)
            return lambda p: number
        if kind == "word":
            flag = value == "true"
            return lambda p: flag
        if kind == "var":
            if value not in self.variables:
                raise ApiError(400, f"Aggregation '{self.name}': the script uses params.{value}, which buckets_path "
                               f"does not define (it defines {', '.join(sorted(self.variables))}).")  # fmt: skip
            return lambda p: p[value]
        if value == "(":
            inner = self.or_()
            if self.take() != ("op", ")"):
                raise self.error()
            return inner
        raise self.error()
