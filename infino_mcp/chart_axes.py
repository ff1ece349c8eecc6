"""Drawing axis charts with matplotlib: bar, line and area (category or time axis), scatter and heatmap.

Each ``draw_*`` function draws one ECharts option (as ``infino_mcp.echarts``
builds it) into matplotlib axes and returns a ``Fitter``, a step that places
the category labels once the figure's layout is known: every label when they
fit, otherwise turned 45 degrees (x axis) and thinned to every n-th, measured
in pixels so neighbours never touch; every category keeps a tick mark. A time
axis uses matplotlib's AutoDateLocator and ConciseDateFormatter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

Fitter = Callable[[], None]  # a step that places tick labels once the layout is known
MAX_LABEL = 18
_MIDNIGHT = re.compile(r"(?<=\d{4}-\d{2}-\d{2})[T ]00:00(:00(\.0+)?)?(Z|[+-]00:?00)?$")


def short(text: Any) -> str:
    """A label of at most MAX_LABEL characters; a longer one keeps its start and its end (``Noise cance…ite #3``)."""
    label = _MIDNIGHT.sub("", "" if text is None else str(text))
    if len(label) <= MAX_LABEL:
        return label
    tail = MAX_LABEL // 3
    return label[: MAX_LABEL - tail - 1].rstrip() + "…" + label[-tail:].lstrip()


def number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return math.nan
    return float(value)


def draw_axes(ax: Any, option: dict[str, Any], series: list[dict[str, Any]]) -> Fitter | None:
    x_axis, y_axis = option.get("xAxis") or {}, option.get("yAxis") or {}
    if x_axis.get("type") == "time":
        _time_chart(ax, series)
        _axis_names(ax, x_axis, y_axis)
        return None
    horizontal = y_axis.get("type") == "category" and x_axis.get("type") != "category"
    category_axis = y_axis if horizontal else x_axis
    categories = [short(c) for c in category_axis.get("data") or []]
    positions = list(range(len(categories)))
    bars = [s for s in series if s.get("type") == "bar"]
    stacked = any(s.get("stack") for s in bars)
    width = 0.8 if stacked or not bars else 0.8 / len(bars)
    base = [0.0] * len(categories)
    line_base = [0.0] * len(categories)
    for item in series:
        values = [number(v) for v in item.get("data") or []][: len(categories)]
        values += [math.nan] * (len(categories) - len(values))
        name = str(item.get("name") or "")
        if item.get("type") == "bar":
            bar_index = bars.index(item)
            shift = 0.0 if stacked else (bar_index - (len(bars) - 1) / 2) * width
            where = [p + shift for p in positions]
            bottom = base if stacked else None
            clean = [0.0 if math.isnan(v) else v for v in values]
            if horizontal:
                ax.barh(where, clean, height=width, left=bottom, label=name)
            else:
                ax.bar(where, clean, width=width, bottom=bottom, label=name)
            if stacked:
                base = [b + v for b, v in zip(base, clean, strict=True)]
        else:
            lower = list(line_base) if item.get("stack") else [0.0] * len(values)
            if item.get("stack"):
                values = [b + (0.0 if math.isnan(v) else v) for b, v in zip(lower, values, strict=True)]
                line_base = values
            ax.plot(positions, values, marker="o" if len(values) <= 40 else None, label=name)
            if "areaStyle" in item:
                ax.fill_between(positions, lower, values, alpha=0.25)
    if horizontal:
        ax.invert_yaxis()  # the first category on top, as ECharts draws it
    _axis_names(ax, x_axis, y_axis)
    ax.grid(axis="x" if horizontal else "y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    return _category_fitter(ax, "y" if horizontal else "x", positions, categories)


def _axis_names(ax: Any, x_axis: dict[str, Any], y_axis: dict[str, Any]) -> None:
    if x_axis.get("name"):
        ax.set_xlabel(str(x_axis["name"]))
    if y_axis.get("name"):
        ax.set_ylabel(str(y_axis["name"]))


def _moment(value: Any) -> datetime | None:
    """An ISO time string or epoch milliseconds as an aware UTC datetime (None when it is neither)."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, UTC)
        if isinstance(value, str):
            text = value.strip()
            moment = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text)
            return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _time_chart(ax: Any, series: list[dict[str, Any]]) -> None:
    """Series of ``[time, value]`` points on a date axis: ticks chosen by AutoDateLocator, concise labels."""
    # Optional: matplotlib is the [charts] extra, and charts.py imports this module without it.
    from matplotlib import dates

    points = []
    for item in series:
        pairs = [(_moment(p[0]), number(p[1])) for p in item.get("data") or [] if isinstance(p, list) and len(p) >= 2]
        points.append([(dates.date2num(t), v) for t, v in pairs if t is not None])
    stamps = sorted({t for line in points for t, _ in line})
    gap = min((b - a for a, b in zip(stamps, stamps[1:], strict=False)), default=1.0)
    bars = [i for i, item in enumerate(series) if item.get("type") == "bar"]
    stacked = any(series[i].get("stack") for i in bars)
    width = gap * (0.8 if stacked or not bars else 0.8 / len(bars))
    base: dict[float, float] = {}
    for index, (item, line) in enumerate(zip(series, points, strict=True)):
        xs, values = [t for t, _ in line], [v for _, v in line]
        name = str(item.get("name") or "")
        lower = [base.get(t, 0.0) if item.get("stack") else 0.0 for t in xs]
        if item.get("stack"):
            values = [b + (0.0 if math.isnan(v) else v) for b, v in zip(lower, values, strict=True)]
            base.update(zip(xs, values, strict=True))
        if item.get("type") == "bar":
            shift = 0.0 if stacked else (bars.index(index) - (len(bars) - 1) / 2) * width
            heights = [v - b for v, b in zip(values, lower, strict=True)]
            ax.bar([t + shift for t in xs], [0.0 if math.isnan(h) else h for h in heights], width=width,
                   bottom=lower if stacked else None, label=name)  # fmt: skip
        else:
            ax.plot(xs, values, marker="o" if len(xs) <= 40 else None, markersize=4, label=name)
            if "areaStyle" in item:
                ax.fill_between(xs, lower, values, alpha=0.25)
    locator = dates.AutoDateLocator(minticks=3, maxticks=8, tz=UTC)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(dates.ConciseDateFormatter(locator, tz=UTC))
    ax.grid(axis="y", alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")


def _category_fitter(ax: Any, which: str, positions: list[int], labels: list[str]) -> Fitter:
    """A step run after layout: label every category if they fit, else rotate (x axis) and thin them."""

    def fit() -> None:
        if not positions:
            return
        renderer = ax.figure.canvas.get_renderer()
        rotations = (0, 45) if which == "x" else (0,)
        step = 1
        while True:
            for rotation in rotations:
                ticks = positions[::step]
                shown = [labels[t] for t in ticks]
                if which == "x":
                    ha = "right" if rotation else "center"
                    ax.set_xticks(ticks, shown, rotation=rotation, ha=ha, rotation_mode="anchor")
                else:
                    ax.set_yticks(ticks, shown)
                if not _crowded(ax, which, renderer) or step >= len(positions):
                    if step > 1:  # every category keeps a tick mark, labelled or not
                        (ax.set_xticks if which == "x" else ax.set_yticks)(positions, minor=True)
                    return
            step += max(1, step // 2)

    return fit


def _crowded(ax: Any, which: str, renderer: Any) -> bool:
    """Whether neighbouring tick labels of ``which`` axis would touch, measured in pixels."""
    texts = [t for t in (ax.get_xticklabels() if which == "x" else ax.get_yticklabels()) if t.get_text()]
    if len(texts) < 2:
        return False
    rotation = texts[0].get_rotation() % 180
    pad = 3.0
    if which == "x" and rotation:
        # Parallel slanted labels: their spacing across the slant must exceed one line's height.
        height = renderer.points_to_pixels(texts[0].get_fontsize()) * 1.2
        spacing = abs(ax.transData.transform((1, 0))[0] - ax.transData.transform((0, 0))[0])
        spacing *= _step_of(ax, which)
        return spacing * math.sin(math.radians(rotation)) < height + pad
    boxes = sorted((t.get_window_extent(renderer) for t in texts), key=lambda b: b.x0 if which == "x" else b.y0)
    for first, second in zip(boxes, boxes[1:], strict=False):
        if (second.x0 < first.x1 + pad) if which == "x" else (second.y0 < first.y1 + pad):
            return True
    return False


def _step_of(ax: Any, which: str) -> float:
    ticks = list(ax.get_xticks() if which == "x" else ax.get_yticks())
    return float(ticks[1] - ticks[0]) if len(ticks) > 1 else 1.0


def draw_scatter(ax: Any, option: dict[str, Any], series: list[dict[str, Any]]) -> Fitter | None:
    x_axis = option.get("xAxis") or {}
    categories = x_axis.get("data") if x_axis.get("type") == "category" else None
    for item in series:
        points = [p for p in item.get("data") or [] if isinstance(p, list) and len(p) >= 2]
        if categories:
            xs = [categories.index(str(p[0])) if str(p[0]) in categories else math.nan for p in points]
        else:
            xs = [number(p[0]) for p in points]
        ax.scatter(xs, [number(p[1]) for p in points], label=str(item.get("name") or ""), s=18)
    _axis_names(ax, x_axis, option.get("yAxis") or {})
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    if categories:
        return _category_fitter(ax, "x", list(range(len(categories))), [short(c) for c in categories])
    return None


def draw_heatmap(ax: Any, option: dict[str, Any], item: dict[str, Any]) -> Fitter:
    xs = [short(v) for v in (option.get("xAxis") or {}).get("data") or []]
    ys = [short(v) for v in (option.get("yAxis") or {}).get("data") or []]
    grid = [[math.nan] * len(xs) for _ in ys]
    for cell in item.get("data") or []:
        if isinstance(cell, list) and len(cell) >= 3 and 0 <= cell[1] < len(ys) and 0 <= cell[0] < len(xs):
            grid[cell[1]][cell[0]] = number(cell[2])
    image = ax.imshow(grid, aspect="auto", cmap="viridis", origin="lower")
    if len(xs) * len(ys) <= 150:
        for row, line in enumerate(grid):
            for column, amount in enumerate(line):
                if not math.isnan(amount):
                    ax.text(column, row, f"{amount:g}", ha="center", va="center", fontsize=8, color="white")
    ax.figure.colorbar(image, ax=ax)
    _axis_names(ax, option.get("xAxis") or {}, option.get("yAxis") or {})
    fit_x = _category_fitter(ax, "x", list(range(len(xs))), xs)
    fit_y = _category_fitter(ax, "y", list(range(len(ys))), ys)

    def fit() -> None:
        fit_x()
        fit_y()

    return fit
