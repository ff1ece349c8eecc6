"""Prometheus text exposition parsing, with a fast path for the common line shape.

``prometheus_client``'s parser is the reference, but it costs about 50 µs a
line. Most bodies are plain ``name{a="x",b="y"} value [timestamp_ms]`` lines
(plus ``#`` comment, HELP and TYPE lines), which a few anchored regexes read
far faster. Any line outside that narrow shape (spaces inside the braces,
unusual number spellings, float timestamps, quoted metric names...) sends the
*whole* body through ``prometheus_client`` instead, so anything unusual gets
the reference parser's behaviour and error messages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from infino_mcp.local.errors import ApiError

_LINE = re.compile(
    r"([a-zA-Z_:][a-zA-Z0-9_:]*)"  # metric name
    r'(?:\{((?:[^}"]|"(?:[^"\\]|\\.)*")*)\})?'  # labels (may be empty; quoted values may hold braces)
    r"[ \t]+([^ \t]+)"  # value
    r"(?:[ \t]+(-?[0-9]{1,18}))?[ \t]*"  # optional timestamp, integer milliseconds
)
_VALUE = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|[-+]?Inf|NaN")
_PAIR_TEXT = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"'
_PAIRS = re.compile(f"{_PAIR_TEXT}(?:,{_PAIR_TEXT})*,?")
_PAIR = re.compile(_PAIR_TEXT)
_ESCAPE = re.compile(r'\\[\\n"]')
_UNESCAPED = {"\\\\": "\\", "\\n": "\n", '\\"': '"'}


@dataclass(frozen=True, slots=True)
class ParsedSample:
    name: str
    labels: dict[str, str]
    value: float
    timestamp_ms: int | None


class _NotSimple(Exception):
    """A line the fast path does not read; the reference parser takes over."""


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: _UNESCAPED[m.group(0)], value)


def _labels(text: str) -> dict[str, str]:
    if not _PAIRS.fullmatch(text):
        raise _NotSimple
    pairs = _PAIR.findall(text)
    labels = {name: _unescape(value) if "\\" in value else value for name, value in pairs}
    if len(labels) != len(pairs) or any(name.startswith("__") for name in labels):
        raise _NotSimple  # repeated or reserved label names: the reference parser refuses them
    return labels


def parse_fast(text: str) -> list[ParsedSample] | None:
    """The samples when every line has the common simple shape, else None."""
    try:
        return _fast(text)
    except _NotSimple:
        return None


def _fast(text: str) -> list[ParsedSample]:
    samples: list[ParsedSample] = []
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        if match is None or not _VALUE.fullmatch(match.group(3)):
            raise _NotSimple
        name, labels, value, stamp = match.groups()
        samples.append(
            ParsedSample(name, _labels(labels) if labels else {}, float(value), int(stamp) if stamp else None)
        )
    return samples


def parse_reference(text: str) -> list[ParsedSample]:
    """The samples as ``prometheus_client`` reads them; ApiError(400) when it refuses the text."""
    try:
        families = list(text_string_to_metric_families(text))
    except (ValueError, IndexError, KeyError, TypeError) as exc:
        detail = str(exc) or "a line has no metric name or no value"
        raise ApiError(
            400,
            f"The body is not valid Prometheus text exposition format: {detail}. "
            "Send lines like 'name{label=\"v\"} 1.5 [timestamp_ms]'.",
        ) from None
    return [
        ParsedSample(
            s.name,
            dict(s.labels),
            float(s.value),
            None if s.timestamp is None else round(float(s.timestamp) * 1000),
        )
        for family in families
        for s in family.samples
    ]


def parse_exposition(text: str) -> list[ParsedSample]:
    """Every sample of a text exposition body, in order; ApiError(400) when it does not parse."""
    samples = parse_fast(text)
    return samples if samples is not None else parse_reference(text)
