"""Turn a visualization and its executed data into something a client can draw.

``to_echarts_option(viz, data)`` is a pure function (no I/O). ``viz`` is a
visualization envelope or its ``attributes``; ``data`` is what executing it
returned (``{columns, rows, metadata}``). The result is one of:

* ``{"kind": "echarts", "title", "option"}``: an ECharts option for ``bar``,
  ``horizontalBar``, ``line``, ``area``, ``pie``, ``heatmap`` and ``scatter``;
* ``{"kind": "table", "title", "columns", "rows"}``: for ``table`` charts, for
  no rows, and when the data does not fit the chart (then ``reason`` says why);
* ``{"kind": "metric", "title", "value", "formatting"}``: for ``metric`` and
  ``gauge`` (``formatting`` is ``options.metric_formatting``; ``display`` names
  the chart type).

Which columns play which role comes from ``data.metadata.binding`` (``x``,
``y``, ``series``, ``value``); without it the first column is x and the
second y. With a ``series`` column the rows are pivoted into one series per
distinct value. A temporal x (a ``date`` column, or values that are all ISO
times) gives bar, line and area charts a ``time`` axis with ``[time, value]``
points, so ECharts spaces the labels itself. Category axes made only of numbers
are sorted numerically (``"9"`` before ``"10"``); other categories keep the
order of the rows (the query's ORDER BY). Category labels hide when they would
overlap, rotate when there are many, and are cut to a width (the tooltip
shows the whole value). Axis and series names say what they measure: a
builder-mode ``count_request_id`` is shown as ``count of request_id``.
Styling stays minimal: ``options.stacked`` stacks bar/line/area series,
``options.donut`` makes a pie a ring; themes are the renderer's business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

# Every chart type a visualization may name: tool descriptions, prompts and the local endpoint read this one list.
CHART_TYPES = ("bar", "horizontalBar", "line", "area", "pie", "heatmap", "scatter", "table", "metric", "gauge")
AXIS_CHARTS = ("bar", "horizontalBar", "line", "area")
TIME_CHARTS = ("bar", "line", "area")
_AGGREGATION_WORDS = {"avg": "average", "cardinality": "distinct count"}
LABEL_WIDTH = 110  # pixels a category label may take before ECharts cuts it with an ellipsis
ROTATE_AFTER = 12  # more categories than this on a horizontal axis: labels are rotated
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")


def to_echarts_option(viz: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """The drawable form of ``viz`` over ``data`` (see the module docstring)."""
    attributes = nested if isinstance(nested := viz.get("attributes"), dict) else viz
    title = str(attributes.get("title") or "")
    chart = (attributes.get("chart") or {}).get("type") or "bar"
    options = attributes.get("options") or {}
    columns = list(data.get("columns") or [])
    rows = list(data.get("rows") or [])
    x, ys, series, value = _binding(data, columns)

    if chart in ("metric", "gauge"):
        return {
            "kind": "metric",
            "display": chart,
            "title": title,
            "value": _metric_value(rows, columns, value),
            "formatting": options.get("metric_formatting"),
        }
    if chart == "table":
        return _table(title, columns, rows)
    if not rows:
        return _table(title, columns, rows, "the query returned no rows")
    names = {c.get("name") for c in columns} | set(rows[0])
    missing = [c for c in (x, *ys, series) if c is not None and c not in names]
    if missing:
        return _table(title, columns, rows, f"columns {missing} named by the binding are not in the data")

    labels = _measure_labels(attributes, ys)
    if chart == "pie":
        option = _pie(title, rows, x, ys, options)
    elif chart == "heatmap":
        option = _heatmap(title, rows, x, ys, series)
    elif chart == "scatter":
        option = _scatter(title, rows, x, ys, series)
    elif chart in TIME_CHARTS and _is_temporal(columns, rows, x):
        option = _time_chart(chart, title, rows, x, ys, series, options, labels)
    elif chart in AXIS_CHARTS:
        option = _axis_chart(chart, title, rows, x, ys, series, options, labels)
    else:
        return _table(title, columns, rows, f"chart type {chart!r} has no ECharts mapping")
    if isinstance(option, str):
        return _table(title, columns, rows, option)
    return {"kind": "echarts", "title": title, "option": option}


# ---- helpers ---------------------------------------------------------------------------------------


def _binding(data: dict[str, Any], columns: list[dict[str, Any]]) -> tuple[Any, list[Any], Any, Any]:
    binding = (data.get("metadata") or {}).get("binding") or {}
    names = [c.get("name") for c in columns]
    x = binding.get("x") or (names[0] if names else None)
    ys = [y for y in binding.get("y") or [] if y]
    if not ys and not binding.get("y") and len(names) > 1:
        ys = [n for n in names if n != x][:1]
    series = binding.get("series") or binding.get("series_split_by")
    return x, ys, series, binding.get("value")


def _measure(entry: dict[str, Any]) -> tuple[str, str]:
    """One builder-mode ``mapping.y`` entry: the column the service names it, and what it measures in words."""
    column, aggregation = entry.get("column"), entry.get("aggregation") or "none"
    if aggregation == "count" and column in (None, "*", "count"):
        return "count", "count"
    if aggregation == "none":
        return str(column), str(column)
    return f"{aggregation}_{column}", f"{_AGGREGATION_WORDS.get(aggregation, aggregation)} of {column}"


def _measure_labels(attributes: dict[str, Any], ys: list[str]) -> dict[str, str]:
    """Display names for y columns: the measure in words for builder aliases, the column's own name otherwise."""
    found = attributes.get("mapping")
    mapping = found if isinstance(found, dict) else {}
    named = dict(_measure(e) for e in mapping.get("y") or [] if isinstance(e, dict) and not e.get("alias"))
    return {y: named.get(y, y) for y in ys}


def _is_temporal(columns: list[dict[str, Any]], rows: list[dict[str, Any]], x: Any) -> bool:
    kind = next((c.get("type") for c in columns if c.get("name") == x), None)
    values = [r.get(x) for r in rows if r.get(x) is not None]
    if not values:
        return False
    if all(isinstance(v, str) and _ISO_TIME.match(v) for v in values):
        return True
    numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
    return kind == "date" and numeric


def _category_axis(name: str, categories: list[str], *, horizontal: bool) -> dict[str, Any]:
    """A category axis whose labels never overlap (ECharts hides the ones that would) and are cut to a width."""
    label: dict[str, Any] = {"hideOverlap": True, "overflow": "truncate", "width": LABEL_WIDTH}
    axis = {"type": "category", "name": name, "data": categories, "axisLabel": label}
    if horizontal:
        return axis | _ABOVE
    label_height = 14
    if len(categories) > ROTATE_AFTER:
        # Upright labels: ECharts measures a turned label by its bounding box, exact only at 90 degrees.
        label["rotate"] = 90
        label_height = min(max((len(c) for c in categories), default=0) * 7, LABEL_WIDTH) + 8
    return axis | _below(label_height)


_ABOVE = {"nameTextStyle": {"align": "left"}}  # a vertical axis's name starts at the axis, never cut off at the edge


def _below(label_height: int = 14) -> dict[str, Any]:
    """A horizontal axis's name centred under its tick labels (vertical axes keep ECharts' place, above the axis)."""
    return {"nameLocation": "middle", "nameGap": label_height + 12}


def _table(title: str, columns: list, rows: list, reason: str | None = None) -> dict[str, Any]:
    shape = {"kind": "table", "title": title, "columns": columns, "rows": rows}
    if reason:
        shape["reason"] = reason
    return shape


def _metric_value(rows: list[dict[str, Any]], columns: list[dict[str, Any]], value: Any) -> Any:
    if not rows:
        return None
    if value is not None and value in rows[0]:
        return rows[0][value]
    for column in columns:
        if column.get("type") == "number":
            return rows[0].get(column.get("name", ""))
    return next(iter(rows[0].values()), None)


def _label(value: Any) -> str:
    """How a category value is shown on an axis or legend."""
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return str(int(value))
    return str(value)


def _number(text: str) -> float | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _categories(values: Iterable[Any], *, always_sort: bool = False) -> list[str]:
    """Distinct labels: numeric order when all are numbers, time order when all are times.

    Otherwise first-seen order, or string order when ``always_sort``.
    """
    labels = list(dict.fromkeys(_label(v) for v in values))
    numbers = [_number(label) for label in labels]
    if labels and all(n is not None for n in numbers):
        return [label for _, label in sorted(zip(numbers, labels, strict=True))]
    if labels and all(_ISO_TIME.match(label) for label in labels):
        return sorted(labels)
    return sorted(labels) if always_sort else labels


def _series_style(chart: str, options: dict[str, Any]) -> dict[str, Any]:
    style: dict[str, Any] = {"type": "line" if chart in ("line", "area") else "bar"}
    if chart == "area":
        style["areaStyle"] = {}
    if chart == "horizontalBar":
        style["label"] = {"show": True, "position": "right"}
    if options.get("stacked"):
        style["stack"] = "total"
    return style


def _series_name(group: str | None, y: str, ys: list[str], labels: dict[str, str]) -> str:
    if group is None:
        return labels.get(y, y)
    return group if len(ys) == 1 else f"{group} · {labels.get(y, y)}"


def _value_axis(ys: list[str], labels: dict[str, str], *, horizontal: bool) -> dict[str, Any]:
    axis: dict[str, Any] = {"type": "value"}
    if len(ys) == 1:
        axis["name"] = labels.get(ys[0], ys[0])
        axis |= _below() if horizontal else _ABOVE
    return axis


def _frame(title: str, series: list[dict[str, Any]], x_axis: dict[str, Any], y_axis: dict[str, Any]) -> dict[str, Any]:
    return {
        "title": {"text": title, "left": "center"},
        "tooltip": {"trigger": "axis"},
        "legend": {"show": len(series) > 1, "top": 28},
        "grid": {"left": 16, "right": 40, "bottom": 28, "top": 72 if len(series) > 1 else 56, "containLabel": True},
        "xAxis": x_axis,
        "yAxis": y_axis,
        "series": series,
    }


def _time_chart(
    chart: str,
    title: str,
    rows: list[dict[str, Any]],
    x: Any,
    ys: list[str],
    split: Any,
    options: dict[str, Any],
    labels: dict[str, str],
) -> dict[str, Any] | str:
    """Bar, line or area over a ``time`` axis: each series a list of ``[time, value]`` points in time order."""
    if not ys:
        return f"a {chart} chart needs a value column (binding.y)"
    style = _series_style(chart, options)
    if chart != "bar" and len(rows) > 60:
        style["showSymbol"] = False
    ordered = sorted(rows, key=lambda r: _time_key(r.get(x)))
    groups: list[str | None] = list(dict.fromkeys(_label(r.get(split)) for r in ordered)) if split else [None]
    series = []
    for group in groups:
        members = [r for r in ordered if group is None or _label(r.get(split)) == group]
        for y in ys:
            points = [[r.get(x), r.get(y)] for r in members]
            series.append({**style, "name": _series_name(group, y, ys, labels), "data": points})
    time_axis = {"type": "time", "name": str(x), "axisLabel": {"hideOverlap": True}, **_below()}
    return _frame(title, series, time_axis, _value_axis(ys, labels, horizontal=False))


def _time_key(value: Any) -> tuple[int, Any]:
    """Sorts ISO strings (all in one offset, as the service returns them) and epoch numbers."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))


def _axis_chart(
    chart: str,
    title: str,
    rows: list[dict[str, Any]],
    x: Any,
    ys: list[str],
    split: Any,
    options: dict[str, Any],
    labels: dict[str, str],
) -> dict[str, Any] | str:
    if not ys:
        return f"a {chart} chart needs a value column (binding.y)"
    style = _series_style(chart, options)
    if split:
        categories = _categories(r.get(x) for r in rows)
        groups = list(dict.fromkeys(_label(r.get(split)) for r in rows))
        cells: dict[tuple[str, str, str], Any] = {}
        for row in rows:
            for y in ys:
                cells[(_label(row.get(split)), y, _label(row.get(x)))] = row.get(y)
        series = [
            {
                **style,
                "name": _series_name(group, y, ys, labels),
                "data": [cells.get((group, y, c)) for c in categories],
            }
            for group in groups
            for y in ys
        ]
    else:
        categories = [_label(r.get(x)) for r in rows]
        series = [{**style, "name": _series_name(None, y, ys, labels), "data": [r.get(y) for r in rows]} for y in ys]
    horizontal = chart == "horizontalBar"
    category_axis = _category_axis(str(x), categories, horizontal=horizontal)
    value_axis = _value_axis(ys, labels, horizontal=horizontal)
    if horizontal:
        return _frame(title, series, value_axis, category_axis)
    return _frame(title, series, category_axis, value_axis)


def _pie(
    title: str, rows: list[dict[str, Any]], x: Any, ys: list[str], options: dict[str, Any]
) -> dict[str, Any] | str:
    if not ys:
        return "a pie chart needs a value column (binding.y)"
    totals: dict[str, float] = {}
    for row in rows:
        amount = row.get(ys[0])
        if isinstance(amount, int | float) and not isinstance(amount, bool):
            totals[_label(row.get(x))] = totals.get(_label(row.get(x)), 0) + amount
    if not totals:
        return f"column {ys[0]!r} has no numeric values to size the pie slices"
    return {
        "title": {"text": title, "left": "center"},
        "tooltip": {"trigger": "item", "formatter": "{b}: {c} ({d}%)"},
        "legend": {"orient": "horizontal", "bottom": 0},
        "series": [
            {
                "name": ys[0],
                "type": "pie",
                "radius": ["40%", "70%"] if options.get("donut") else "65%",
                "data": [{"name": name, "value": amount} for name, amount in totals.items()],
            }
        ],
    }


def _heatmap(title: str, rows: list[dict[str, Any]], x: Any, ys: list[str], split: Any) -> dict[str, Any] | str:
    if not (ys and split):
        return "a heatmap needs x, a value column (binding.y) and a second category (binding.series)"
    xs = _categories((r.get(x) for r in rows), always_sort=True)
    rows_axis = _categories((r.get(split) for r in rows), always_sort=True)
    x_at = {label: i for i, label in enumerate(xs)}
    y_at = {label: i for i, label in enumerate(rows_axis)}
    cells = []
    for row in rows:
        amount = row.get(ys[0])
        cells.append([x_at[_label(row.get(x))], y_at[_label(row.get(split))], amount])
    amounts = [c[2] for c in cells if isinstance(c[2], int | float) and not isinstance(c[2], bool)]
    return {
        "title": {"text": title, "left": "center"},
        "tooltip": {"position": "top"},
        "grid": {"containLabel": True, "bottom": 60},
        "xAxis": {"type": "category", "name": str(x), "data": xs, "splitArea": {"show": True}},
        "yAxis": {"type": "category", "name": str(split), "data": rows_axis, "splitArea": {"show": True}},
        "visualMap": {
            "min": min(amounts, default=0),
            "max": max(amounts, default=1),
            "calculable": True,
            "orient": "horizontal",
            "left": "center",
            "bottom": 0,
        },
        "series": [{"name": ys[0], "type": "heatmap", "data": cells, "label": {"show": True}}],
    }


def _scatter(title: str, rows: list[dict[str, Any]], x: Any, ys: list[str], split: Any) -> dict[str, Any] | str:
    if not ys:
        return "a scatter chart needs a value column (binding.y)"
    numeric_x = all(isinstance(r.get(x), int | float) and not isinstance(r.get(x), bool) for r in rows)
    groups: dict[str, list[list[Any]]] = {}
    for row in rows:
        name = _label(row.get(split)) if split else ys[0]
        point = [row.get(x) if numeric_x else _label(row.get(x)), row.get(ys[0])]
        groups.setdefault(name, []).append(point)
    x_axis: dict[str, Any] = {"type": "value", "name": str(x), "scale": True}
    if not numeric_x:
        x_axis = {"type": "category", "name": str(x), "data": _categories(r.get(x) for r in rows)}
    return {
        "title": {"text": title, "left": "center"},
        "tooltip": {"trigger": "item"},
        "legend": {"show": len(groups) > 1, "top": 28},
        "xAxis": x_axis,
        "yAxis": {"type": "value", "name": ys[0], "scale": True},
        "series": [{"name": name, "type": "scatter", "data": points} for name, points in groups.items()],
    }
