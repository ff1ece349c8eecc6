"""Fuzzy matching: ``fuzzy`` and ``fuzziness`` on ``match``, as edit-distance regular expressions.

A term matches another within ``fuzziness`` edits, each edit inserting,
deleting or substituting one character or (``transpositions``, the default)
swapping two adjacent ones; the first ``prefix_length`` characters must match
exactly. ``AUTO`` allows 0 edits for terms of 1-2 characters, 1 for 3-5 and 2
beyond, as Elasticsearch does. The variants are enumerated into one regular
expression: on full-text fields it matches any word of the text
(case-insensitive, like analyzed terms), on other string fields the whole
value. Fuzzy matches score as a constant, not by BM25.
"""

from __future__ import annotations

import re
from typing import Any

from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.patterns import regex_escape

_MAX_VARIANTS = 20_000
_PER_REGEX = 120  # alternatives per regular expression, under the engine's compiled-size limit
Pattern = tuple[str | None, ...]  # None: any one character


def edits(fuzziness: Any, term: str, where: str) -> int:
    """The number of edits ``fuzziness`` allows for ``term``."""
    text = str(fuzziness if fuzziness is not None else "AUTO").strip().upper()
    if text.startswith("AUTO"):
        low, high = 3, 6
        m = re.fullmatch(r"AUTO(?::(\d+),(\d+))?", text)
        if m is None:
            raise ApiError(400, f"QueryDSL {where}: fuzziness {fuzziness!r} must be 0, 1, 2, AUTO or AUTO:low,high.")
        if m.group(1):
            low, high = int(m.group(1)), int(m.group(2))
        return 0 if len(term) < low else 1 if len(term) < high else 2
    if text not in ("0", "1", "2"):
        raise ApiError(400, f"QueryDSL {where}: fuzziness {fuzziness!r} must be 0, 1, 2 or AUTO (at most 2 edits).")
    return int(text)


def _one_edit(pattern: Pattern, keep: int, transpositions: bool) -> set[Pattern]:
    out: set[Pattern] = set()
    n = len(pattern)
    for i in range(keep, n + 1):
        out.add(pattern[:i] + (None,) + pattern[i:])  # insertion
        if i < n:
            out.add(pattern[:i] + pattern[i + 1 :])  # deletion
            out.add(pattern[:i] + (None,) + pattern[i + 1 :])  # substitution
        if transpositions and i + 1 < n:
            out.add(pattern[:i] + (pattern[i + 1], pattern[i]) + pattern[i + 2 :])
    return out


def variants(term: str, distance: int, prefix_length: int, transpositions: bool, where: str) -> set[Pattern]:
    found: set[Pattern] = {tuple(term)}
    frontier = set(found)
    for _ in range(distance):
        frontier = {p for q in frontier for p in _one_edit(q, prefix_length, transpositions)} - found
        found |= frontier
        if len(found) > _MAX_VARIANTS:
            raise ApiError(400, f"QueryDSL {where}: the term {term[:40]!r} is too long for that fuzziness; lower "
                           "fuzziness or give a longer prefix_length.")  # fmt: skip
    return {p for p in found if p}


def fuzzy_regexes(term: str, options: dict, where: str, *, words: bool) -> list[str]:
    """Regular expressions (any of them matching) for what lies within the allowed edits of ``term``: a word of
    the text, or the whole value."""
    distance = edits(options.get("fuzziness"), term, where)
    prefix = int(options.get("prefix_length", 0) or 0)
    if prefix < 0:
        raise ApiError(400, f"QueryDSL {where}: prefix_length must be 0 or more.")
    transpositions = options.get("transpositions", options.get("fuzzy_transpositions", True)) is not False
    any_char = r"\w" if words else "."
    found = variants(term.lower() if words else term, distance, prefix, transpositions, where)
    shapes = sorted("".join(any_char if c is None else regex_escape(c) for c in p) for p in found)
    out = []
    for start in range(0, len(shapes), _PER_REGEX):
        alternatives = "|".join(shapes[start : start + _PER_REGEX])
        out.append(rf"\b(?:{alternatives})\b" if words else f"^(?s:{alternatives})$")
    return out
