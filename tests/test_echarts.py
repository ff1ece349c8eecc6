"""to_echarts_option: every chart kind, the table and metric shapes, fallbacks."""

from __future__ import annotations

import json

import pytest

from infino_mcp.echarts import to_echarts_option


def _viz(chart, title="T", **options):
    return {
        "id": "v1",
        "kind": "visualization",
        "attributes": {"title": title, "chart": {"type": chart}, "options": options},
    }


def _data(rows, binding=None, types=None):
    names = list(rows[0]) if rows else []
    types = types or {}
    columns = [
        {"name": n, "type": types.get(n, "number" if rows and isinstance(rows[0][n], int | float) else "string")}
        for n in names
    ]
    metadata = {"binding": binding} if binding is not None else {}
    return {"columns": columns, "rows": rows, "metadata": metadata}


SALES = [{"currency": "EUR", "count": 1}, {"currency": "USD", "count": 3}]
BINDING = {"x": "currency", "y": ["count"], "series": None, "value": "count"}


def test_bar():
    result = to_echarts_option(_viz("bar", "Orders"), _data(SALES, BINDING))
    assert result["kind"] == "echarts" and result["title"] == "Orders"
    option = result["option"]
    assert option["title"]["text"] == "Orders"
    x_axis = option["xAxis"]
    assert {k: x_axis[k] for k in ("type", "name", "data")} == {
        "type": "category",
        "name": "currency",
        "data": ["EUR", "USD"],
    }
    assert x_axis["axisLabel"] == {"hideOverlap": True, "overflow": "truncate", "width": 110}
    assert option["yAxis"] == {"type": "value", "name": "count", "nameTextStyle": {"align": "left"}}
    assert option["series"] == [{"type": "bar", "name": "count", "data": [1, 3]}]
    assert option["legend"]["show"] is False
    json.dumps(result)  # plain JSON, ready for echarts.setOption


def test_viz_attributes_are_accepted_without_the_envelope():
    assert to_echarts_option(_viz("bar")["attributes"], _data(SALES, BINDING)) == to_echarts_option(
        _viz("bar"), _data(SALES, BINDING)
    )


def test_horizontal_bar_swaps_axes_and_labels_bars():
    option = to_echarts_option(_viz("horizontalBar"), _data(SALES, BINDING))["option"]
    assert option["yAxis"]["type"] == "category" and option["yAxis"]["data"] == ["EUR", "USD"]
    assert option["xAxis"]["type"] == "value"
    assert option["series"][0]["type"] == "bar" and option["series"][0]["label"]["show"] is True


def test_line_and_area():
    line = to_echarts_option(_viz("line"), _data(SALES, BINDING))["option"]
    assert line["series"][0]["type"] == "line" and "areaStyle" not in line["series"][0]
    area = to_echarts_option(_viz("area", stacked=True), _data(SALES, BINDING))["option"]
    assert area["series"][0]["type"] == "line" and area["series"][0]["areaStyle"] == {}
    assert area["series"][0]["stack"] == "total"


def test_several_y_columns_make_several_series():
    rows = [{"day": "2026-04-01", "sum_price": 30.0, "avg_price": 15.0}]
    binding = {"x": "day", "y": ["sum_price", "avg_price"], "series": None, "value": "sum_price"}
    option = to_echarts_option(_viz("bar"), _data(rows, binding))["option"]
    assert [s["name"] for s in option["series"]] == ["sum_price", "avg_price"]
    assert option["legend"]["show"] is True


def test_series_split_pivots_rows_and_sorts_numeric_categories():
    rows = [
        {"hour": "10", "paid": True, "n": 1},
        {"hour": "9", "paid": False, "n": 2},
        {"hour": "9", "paid": True, "n": 3},
        {"hour": "11", "paid": False, "n": 4},
    ]
    binding = {"x": "hour", "y": ["n"], "series": "paid", "value": "n"}
    option = to_echarts_option(_viz("line"), _data(rows, binding))["option"]
    assert option["xAxis"]["data"] == ["9", "10", "11"]
    assert {s["name"]: s["data"] for s in option["series"]} == {"true": [3, 1, None], "false": [2, None, 4]}
    assert option["legend"]["show"] is True


def test_text_categories_keep_the_query_order():
    rows = [{"c": "zeta", "n": 9}, {"c": "alpha", "n": 1}]
    option = to_echarts_option(_viz("bar"), _data(rows, {"x": "c", "y": ["n"]}))["option"]
    assert option["xAxis"]["data"] == ["zeta", "alpha"]


def test_pie():
    option = to_echarts_option(_viz("pie", donut=True), _data(SALES, BINDING))["option"]
    (series,) = option["series"]
    assert series["type"] == "pie" and series["radius"] == ["40%", "70%"]
    assert series["data"] == [{"name": "EUR", "value": 1}, {"name": "USD", "value": 3}]


def test_heatmap():
    rows = [
        {"hour": 10, "weekday": "Mon", "n": 5},
        {"hour": 9, "weekday": "Tue", "n": 2},
        {"hour": 9, "weekday": "Mon", "n": 7},
    ]
    binding = {"x": "hour", "y": ["n"], "series": "weekday", "value": "n"}
    option = to_echarts_option(_viz("heatmap"), _data(rows, binding))["option"]
    assert option["xAxis"]["data"] == ["9", "10"]
    assert option["yAxis"]["data"] == ["Mon", "Tue"]
    assert option["series"][0]["type"] == "heatmap"
    assert option["series"][0]["data"] == [[1, 0, 5], [0, 1, 2], [0, 0, 7]]
    assert option["visualMap"]["min"] == 2 and option["visualMap"]["max"] == 7


def test_heatmap_without_a_second_category_is_a_table():
    result = to_echarts_option(_viz("heatmap"), _data(SALES, BINDING))
    assert result["kind"] == "table" and "binding.series" in result["reason"]


def test_scatter():
    rows = [{"qty": 1, "price": 10.0}, {"qty": 3, "price": 30.0}]
    option = to_echarts_option(_viz("scatter"), _data(rows, {"x": "qty", "y": ["price"]}))["option"]
    assert option["xAxis"]["type"] == "value" and option["yAxis"]["name"] == "price"
    assert option["series"] == [{"name": "price", "type": "scatter", "data": [[1, 10.0], [3, 30.0]]}]


def test_scatter_split_by_series():
    rows = [{"qty": 1, "price": 10.0, "c": "USD"}, {"qty": 3, "price": 30.0, "c": "EUR"}]
    option = to_echarts_option(_viz("scatter"), _data(rows, {"x": "qty", "y": ["price"], "series": "c"}))["option"]
    assert [s["name"] for s in option["series"]] == ["USD", "EUR"]


def test_table():
    result = to_echarts_option(_viz("table", "Rows"), _data(SALES, BINDING))
    assert result == {"kind": "table", "title": "Rows", "columns": _data(SALES)["columns"], "rows": SALES}


@pytest.mark.parametrize("chart", ["metric", "gauge"])
def test_metric(chart):
    viz = _viz(chart, metric_formatting={"prefix": "$", "decimals": 2})
    result = to_echarts_option(
        viz, _data([{"sum_price": 150.0}], {"x": None, "y": ["sum_price"], "value": "sum_price"})
    )
    assert result == {
        "kind": "metric",
        "display": chart,
        "title": "T",
        "value": 150.0,
        "formatting": {"prefix": "$", "decimals": 2},
    }


def test_metric_without_binding_takes_the_first_number():
    rows = [{"label": "all", "total": 7}]
    assert to_echarts_option(_viz("metric"), _data(rows))["value"] == 7
    assert to_echarts_option(_viz("metric"), _data([]))["value"] is None


def test_without_binding_first_column_is_x_second_is_y():
    option = to_echarts_option(_viz("bar"), _data(SALES))["option"]
    assert option["xAxis"]["data"] == ["EUR", "USD"]
    assert option["series"][0]["name"] == "count"


@pytest.mark.parametrize("chart", ["bar", "pie", "line", "scatter", "heatmap"])
def test_no_rows_is_an_empty_table(chart):
    result = to_echarts_option(_viz(chart), {"columns": [{"name": "a", "type": "string"}], "rows": [], "metadata": {}})
    assert result["kind"] == "table" and result["rows"] == []


def test_data_that_does_not_fit_falls_back_to_a_table():
    one_column = to_echarts_option(_viz("bar"), _data([{"currency": "EUR"}]))
    assert one_column["kind"] == "table" and "value column" in one_column["reason"]
    wrong_binding = to_echarts_option(_viz("line"), _data(SALES, {"x": "nope", "y": ["count"]}))
    assert wrong_binding["kind"] == "table" and "nope" in wrong_binding["reason"]
    text_pie = to_echarts_option(_viz("pie"), _data([{"a": "x", "b": "y"}], {"x": "a", "y": ["b"]}))
    assert text_pie["kind"] == "table"
    unknown = to_echarts_option(_viz("radar"), _data(SALES, BINDING))
    assert unknown["kind"] == "table" and "radar" in unknown["reason"]


def test_category_labels():
    rows = [{"b": 0.0, "n": 1}, {"b": 5.0, "n": 2}, {"b": None, "n": 3}, {"b": True, "n": 4}]
    option = to_echarts_option(_viz("bar"), _data(rows, {"x": "b", "y": ["n"]}))["option"]
    assert option["xAxis"]["data"] == ["0", "5", "(none)", "true"]


def test_temporal_x_gets_a_time_axis_with_points_in_time_order():
    rows = [
        {"t": "2026-11-25T09:00:00.000Z", "n": 3},
        {"t": "2026-11-25T07:00:00.000Z", "n": 1},
        {"t": "2026-11-25T08:00:00.000Z", "n": 2},
    ]
    for chart in ("line", "area", "bar"):
        option = to_echarts_option(_viz(chart), _data(rows, {"x": "t", "y": ["n"]}))["option"]
        assert option["xAxis"]["type"] == "time" and option["xAxis"]["name"] == "t"
        assert "data" not in option["xAxis"]
        assert option["series"][0]["data"] == [
            ["2026-11-25T07:00:00.000Z", 1],
            ["2026-11-25T08:00:00.000Z", 2],
            ["2026-11-25T09:00:00.000Z", 3],
        ]
    epoch = [{"t": 1764054000000 + i * 3600000, "n": i} for i in range(3)]
    dated = to_echarts_option(_viz("line"), _data(epoch, {"x": "t", "y": ["n"]}, types={"t": "date"}))["option"]
    assert dated["xAxis"]["type"] == "time"
    plain = to_echarts_option(_viz("line"), _data(epoch, {"x": "t", "y": ["n"]}))["option"]
    assert plain["xAxis"]["type"] == "category"  # numbers without a date type stay categories
    horizontal = to_echarts_option(_viz("horizontalBar"), _data(rows, {"x": "t", "y": ["n"]}))["option"]
    assert horizontal["yAxis"]["type"] == "category"


def test_time_axis_splits_series():
    rows = [
        {"t": "2026-01-02", "s": "b", "n": 4},
        {"t": "2026-01-01", "s": "a", "n": 1},
        {"t": "2026-01-02", "s": "a", "n": 2},
    ]
    option = to_echarts_option(_viz("line"), _data(rows, {"x": "t", "y": ["n"], "series": "s"}))["option"]
    assert {s["name"]: s["data"] for s in option["series"]} == {
        "a": [["2026-01-01", 1], ["2026-01-02", 2]],
        "b": [["2026-01-02", 4]],
    }
    assert option["yAxis"]["name"] == "n" and option["legend"]["show"] is True


def test_builder_measures_are_named_in_words():
    viz = _viz("bar")
    viz["attributes"]["mapping"] = {
        "x": {"column": "host"},
        "y": [
            {"column": "request_id", "aggregation": "count"},
            {"column": "bytes", "aggregation": "avg"},
            {"column": "*", "aggregation": "count"},
            {"column": "user", "aggregation": "cardinality"},
            {"column": "bytes", "aggregation": "sum", "alias": "traffic"},
        ],
    }
    ys = ["count_request_id", "avg_bytes", "count", "cardinality_user", "traffic"]
    rows = [dict({"host": "a"}, **dict.fromkeys(ys, 1))]
    option = to_echarts_option(viz, _data(rows, {"x": "host", "y": ys}))["option"]
    assert [s["name"] for s in option["series"]] == [
        "count of request_id",
        "average of bytes",
        "count",
        "distinct count of user",
        "traffic",
    ]
    single = to_echarts_option(viz, _data(rows, {"x": "host", "y": ["count_request_id"]}))["option"]
    assert single["yAxis"]["name"] == "count of request_id"


def test_many_categories_are_rotated_and_long_ones_cut_with_the_whole_text_kept():
    long_name = "A category name far longer than any axis has room for"
    rows = [{"c": f"{long_name} {i}", "n": i} for i in range(40)]
    option = to_echarts_option(_viz("bar"), _data(rows, {"x": "c", "y": ["n"]}))["option"]
    label = option["xAxis"]["axisLabel"]
    assert label["rotate"] == 90 and label["overflow"] == "truncate" and label["hideOverlap"] is True
    assert option["xAxis"]["data"][0] == f"{long_name} 0" and option["tooltip"]["trigger"] == "axis"
    few = to_echarts_option(_viz("bar"), _data(rows[:5], {"x": "c", "y": ["n"]}))["option"]
    assert "rotate" not in few["xAxis"]["axisLabel"]
