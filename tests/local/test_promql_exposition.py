"""The fast exposition parser reads what prometheus_client reads, or steps aside."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infino_mcp.local.errors import ApiError
from infino_mcp.local.promql.exposition import (
    ParsedSample,
    parse_exposition,
    parse_fast,
    parse_reference,
)

NAMES = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True)
LABEL_NAMES = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True).filter(lambda n: not n.startswith("__"))
LABEL_VALUES = st.lists(st.sampled_from(list('ab }{,=" \\n\t') + ["\\\\", '\\"', "\\n", "é"]), max_size=8).map("".join)
VALUES = st.one_of(
    st.integers(-(10**12), 10**12).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["NaN", "+Inf", "-Inf", "Inf", ".5", "1.", "-0", "1e3", "+2.5E-3"]),
)
STAMPS = st.one_of(st.none(), st.integers(-(10**13), 10**13))


def _escaped(value: str) -> str:
    # Values from LABEL_VALUES may hold lone backslashes or quotes: escape those as a producer would.
    out = []
    i = 0
    while i < len(value):
        pair = value[i : i + 2]
        if pair in ("\\\\", '\\"', "\\n"):
            out.append(pair)
            i += 2
            continue
        out.append({"\\": "\\\\", '"': '\\"', "\n": "\\n"}.get(value[i], value[i]))
        i += 1
    return "".join(out)


@st.composite
def lines(draw: st.DrawFn) -> str:
    name = draw(NAMES)
    labels = draw(st.lists(st.tuples(LABEL_NAMES, LABEL_VALUES), max_size=4, unique_by=lambda pair: pair[0]))
    block = ",".join(f'{k}="{_escaped(v)}"' for k, v in labels)
    if labels and draw(st.booleans()):
        block += ","
    text = name + (f"{{{block}}}" if labels or draw(st.booleans()) else "")
    text += " " + draw(VALUES)
    stamp = draw(STAMPS)
    return text if stamp is None else f"{text} {stamp}"


def _comparable(samples: list[ParsedSample]) -> list[tuple]:
    return [(s.name, s.labels, "nan" if math.isnan(s.value) else s.value, s.timestamp_ms) for s in samples]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.one_of(lines(), st.just("# HELP x some text"), st.just("")), max_size=6))
def test_simple_bodies_take_the_fast_path_and_match_the_reference(body_lines: list[str]) -> None:
    body = "\n".join(body_lines) + "\n"
    fast = parse_fast(body)
    assert fast is not None, body
    assert _comparable(fast) == _comparable(parse_reference(body))


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from(list('ab_{}=", \t\n#1.e+-\\') + ["Inf", "NaN"]), max_size=40).map("".join))
def test_whatever_the_fast_path_accepts_the_reference_reads_the_same(body: str) -> None:
    fast = parse_fast(body)
    if fast is None:
        return
    assert _comparable(fast) == _comparable(parse_reference(body)), body


def test_unusual_lines_go_to_the_reference_parser() -> None:
    body = 'x{ a = "1" } 2\n'
    assert parse_fast(body) is None
    assert parse_exposition(body) == [ParsedSample("x", {"a": "1"}, 2.0, None)]
    for reserved_or_repeated in ('x{a="1",a="2"} 1\n', 'x{__a="1"} 1\n'):
        with pytest.raises(ApiError, match="Invalid labels"):
            parse_exposition(reserved_or_repeated)
    with pytest.raises(ApiError, match="not valid Prometheus text exposition") as caught:
        parse_exposition("x 1_000\n")
    assert caught.value.status == 400
