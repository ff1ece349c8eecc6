"""The pattern languages inside QueryDSL's SQL string literals, and full-text tokens.

These are values, not SQL: a LIKE pattern (backslash is the engine's only escape
character) and a regular expression (the engine's Rust syntax) go into the
statement as ordinary string literals (``sqltree.string``), which the dialect quotes.
"""

from __future__ import annotations

import re


def like_pattern(text: str, *, wildcard: bool = False) -> str:
    """``text`` escaped for LIKE, so every character matches literally.

    With ``wildcard`` the Elasticsearch wildcard characters ``*`` and ``?``
    become ``%`` and ``_``.
    """
    out = []
    for ch in text:
        if ch in "\\%_":
            out.append("\\" + ch)
        elif wildcard and ch == "*":
            out.append("%")
        elif wildcard and ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


_REGEX_META = set("\\.+*?()|[]{}^$#&-~")


def regex_escape(text: str) -> str:
    """``text`` as a regular expression matching exactly it."""
    return "".join("\\" + ch if ch in _REGEX_META else ch for ch in text)


def word_regex(word: str) -> str:
    """A regular expression for ``word`` as a whole word."""
    return r"\b" + regex_escape(word) + r"\b"


# Approximates the engine's Unicode word segmentation: letters/digits, joined by
# the in-word punctuation that keeps a word whole (it's, 3.14, foo.bar).
_WORD = re.compile(r"\w+(?:[.'’:]\w+)*")


def tokens(text: str) -> list[str]:
    """The words of a full-text query, without any operator syntax (+, -, quotes)."""
    return _WORD.findall(text)
