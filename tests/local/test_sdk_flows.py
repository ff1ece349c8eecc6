"""The official infino-sdk 0.7.0, a client nobody here wrote, drives `infino-mcp local-endpoint` over HTTP.

The flows follow the SDK README: datasets, upload, SQL, QueryDSL, PromQL, records,
visualizations, dashboards with execute_dashboard, users and roles.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from infino_sdk.lib import InfinoError, InfinoSDK

from tests.http_servers import endpoint_sdk


@pytest.fixture(scope="module")
def sdk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfinoSDK]:
    with endpoint_sdk(tmp_path_factory.mktemp("endpoint")) as (_, client):
        yield client


ORDERS = [
    {
        "order_id": f"o{i}",
        "@timestamp": f"2024-01-{1 + i % 28:02d}T10:00:00Z",
        "currency": ["USD", "EUR", "GBP"][i % 3],
        "customer": f"c{i % 7}",
        "price": 10.0 + i,
        "quantity": 1 + i % 4,
        "title": f"red phone case {i}" if i % 2 else f"blue lamp {i}",
    }
    for i in range(60)
]


def _bulk(docs: list[dict], id_field: str) -> str:
    return "".join(json.dumps({"index": {"_id": d[id_field]}}) + "\n" + json.dumps(d) + "\n" for d in docs)


def test_datasets_upload_sql_querydsl_and_records(sdk: InfinoSDK) -> None:
    assert "version" in sdk.ping()
    assert sdk.create_dataset("shop.orders-2024")["acknowledged"]
    assert sdk.create_dataset("shop.orders-2024")["acknowledged"]  # 409 is success for the SDK
    result = sdk.upload_json_to_dataset("shop.orders-2024", _bulk(ORDERS, "order_id"))
    assert result["errors"] is False and len(result["items"]) == 60
    names = [row["index"] for row in sdk.get_datasets()]
    assert "shop.orders-2024" in names
    meta = sdk.get_dataset_metadata("shop.orders-2024")
    assert meta["docs.count"] == "60"
    schema = sdk.get_dataset_schema("shop.orders-2024")
    assert schema["price"]["infino_type"] == "Float" and schema["currency"]["infino_type"] == "String"

    sql = sdk.query_dataset_in_sql(
        'SELECT currency, COUNT(*) AS n, SUM(price) AS total FROM "shop.orders-2024" GROUP BY currency ORDER BY currency'
    )
    rows = [{k: next(iter(v.values())) for k, v in r["values"].items()} for r in sql["rows"]]
    assert [r["currency"] for r in rows] == ["EUR", "GBP", "USD"] and sum(r["n"] for r in rows) == 60

    hits = sdk.query_dataset_in_querydsl(
        "shop.orders-2024", json.dumps({"query": {"match": {"title": "phone"}}, "size": 5})
    )
    assert hits["hits"]["total"]["value"] == 30 and len(hits["hits"]["hits"]) == 5
    aggs = sdk.query_dataset_in_querydsl(
        "shop.orders-2024",
        json.dumps(
            {
                "size": 0,
                "aggs": {
                    "by_cur": {"terms": {"field": "currency"}, "aggs": {"avg_price": {"avg": {"field": "price"}}}}
                },
            }
        ),
    )
    assert {b["key"] for b in aggs["aggregations"]["by_cur"]["buckets"]} == {"USD", "EUR", "GBP"}

    record = sdk.get_record("shop.orders-2024", "o5")
    assert record["found"] and record["_source"] == ORDERS[5]
    upsert = sdk.upsert_to_dataset(
        "INSERT INTO \"shop.orders-2024\" (order_id, currency, price) VALUES ('o100', 'JPY', 1.5)"
    )
    assert upsert["affected_rows"] == 1
    deleted = sdk.delete_records("shop.orders-2024", json.dumps({"query": {"term": {"currency": "JPY"}}}))
    assert deleted == 1 or (isinstance(deleted, dict) and 1 in deleted.values())


def test_names_outside_the_unreserved_set(sdk: InfinoSDK) -> None:
    # The SDK sends these characters as typed and signs the path that way; the endpoint must agree.
    assert sdk.create_dataset("team+ops@2024")["acknowledged"]
    sdk.upload_json_to_dataset("team+ops@2024", _bulk([{"id": "r:1", "v": 1}], "id"))
    assert sdk.get_record("team+ops@2024", "r:1")["_source"] == {"id": "r:1", "v": 1}


def test_metrics_and_promql(sdk: InfinoSDK) -> None:
    now = int(time.time())
    lines = ["# TYPE http_requests_total counter"]
    for step in range(10):
        ts_ms = (now - 300 + step * 30) * 1000
        lines.append(f'http_requests_total{{job="api",code="200"}} {step * 60} {ts_ms}')
        lines.append(f'http_requests_total{{job="api",code="500"}} {step * 6} {ts_ms}')
    sdk.upload_metrics_to_dataset("metrics-demo", "\n".join(lines) + "\n")
    instant = sdk.query_dataset_in_promql('sum by (code) (rate(http_requests_total{job="api"}[5m]))', "metrics-demo")
    assert instant["status"] == "success" and instant["data"]["resultType"] == "vector"
    by_code = {r["metric"]["code"]: float(r["value"][1]) for r in instant["data"]["result"]}
    assert by_code["200"] == pytest.approx(2.0, rel=0.2) and by_code["500"] == pytest.approx(0.2, rel=0.2)
    ranged = sdk.query_dataset_in_promql_range('http_requests_total{code="200"}', now - 240, now, 60, "metrics-demo")
    assert ranged["data"]["resultType"] == "matrix" and ranged["data"]["result"][0]["values"]


def test_visualizations_and_dashboards(sdk: InfinoSDK) -> None:
    sdk.upload_json_to_dataset("shop.orders-viz", _bulk(ORDERS, "order_id"))
    raw = sdk.create_visualization(
        {
            "title": "Orders by currency",
            "source": {
                "kind": "sql",
                "index": "shop.orders-viz",
                "sql": {"raw_query": 'SELECT currency, COUNT(*) AS count FROM "shop.orders-viz" GROUP BY currency'},
            },
            "chart": {"type": "bar"},
        }
    )
    data = sdk.execute_visualization(
        raw["id"], filters=[{"field": "currency", "operator": "is_one_of", "value": ["USD", "EUR"]}]
    )
    assert {r["currency"] for r in data["rows"]} == {"USD", "EUR"}
    assert data["metadata"]["filters_applied"] == ["currency"]
    option = sdk.to_echarts_option(sdk.get_visualization(raw["id"]), data)
    assert option["kind"] == "echarts"
    builder = sdk.create_visualization(
        {
            "title": "Orders by currency (builder)",
            "source": {"kind": "sql", "index": "shop.orders-viz", "sql": {"limit": 50}},
            "chart": {"type": "bar"},
            "mapping": {"x": "currency", "y": ["count"], "series_split_by": None},
            "aggregation_type": "count",
        }
    )
    built = sdk.execute_visualization(builder["id"])
    assert sorted(r[built["metadata"]["binding"]["y"][0]] for r in built["rows"]) == [20, 20, 20]
    top = sdk.create_visualization(
        {
            "title": "Top customers",
            "source": {
                "kind": "sql",
                "index": "shop.orders-viz",
                "sql": {
                    "metrics": [{"function": "sum", "column": "price"}],
                    "order_by": [{"column": "sum_price", "direction": "desc"}],
                    "limit": 3,
                },
            },
            "chart": {"type": "bar"},
            "mapping": {"x": "customer", "y": ["price"]},
        }
    )
    top_rows = sdk.execute_visualization(top["id"])["rows"]
    assert len(top_rows) == 3 and top_rows[0]["sum_price"] >= top_rows[-1]["sum_price"]
    sdk.update_visualization(raw["id"], {"title": "Orders by currency (renamed)"})
    assert sdk.get_visualization(raw["id"])["attributes"]["title"] == "Orders by currency (renamed)"

    doomed = sdk.create_visualization(
        {
            "title": "Soon gone",
            "source": {
                "kind": "sql",
                "index": "shop.orders-viz",
                "sql": {"raw_query": 'SELECT COUNT(*) AS n FROM "shop.orders-viz"'},
            },
            "chart": {"type": "metric"},
        }
    )
    dashboard = sdk.create_dashboard(
        {
            "title": "Shop",
            "panels": [{"viz_id": raw["id"]}, {"kind": "markdown", "content": "# Notes"}, {"viz_id": doomed["id"]}],
        }
    )
    sdk.delete_visualization(doomed["id"])  # that panel now fails alone
    panels = sdk.execute_dashboard(dashboard["id"])
    assert [p["kind"] for p in panels] == ["visualization", "markdown", "visualization"]
    assert panels[0]["error"] is None and panels[0]["data"]["rows"]
    assert panels[2]["error"]["status"] == 404 and "list_visualizations" in panels[2]["error"]["message"]
    assert sdk.get_dashboard(dashboard["id"])["attributes"]["title"] == "Shop"
    sdk.delete_dashboard(dashboard["id"])
    sdk.delete_visualization(raw["id"])
    with pytest.raises(InfinoError):
        sdk.get_visualization(raw["id"])


def test_users_and_roles(sdk: InfinoSDK, tmp_path: Path) -> None:
    sdk.create_dataset("logs-app")
    sdk.upload_json_to_dataset("logs-app", _bulk([{"id": "1", "msg": "hello", "secret": "s"}], "id"))
    role = """
Version: "2025-01-01"
Permissions:
  - Effect: Allow
    ResourceType: record
    Actions: [read]
    Resources: ["logs-*"]
    Fields:
      Deny: [secret]
  - Effect: Allow
    ResourceType: metadata
    Actions: [read]
    Resources: ["logs-*"]
"""
    assert sdk.create_role("readonly-analyst", role)
    created = sdk.create_user(
        "analytics-agent", 'Version: "2025-01-01"\nPassword: "Str0ng!pass"\nRoles: [readonly-analyst]\n'
    )
    assert created["access_key"] and created["secret_key"]
    assert "analytics-agent" in sdk.list_users() and "readonly-analyst" in sdk.list_roles()
    agent = InfinoSDK(created["access_key"], created["secret_key"], sdk.endpoint)
    rows = agent.query_dataset_in_sql('SELECT * FROM "logs-app"')["rows"]
    assert rows and all("secret" not in r["values"] for r in rows)
    with pytest.raises(InfinoError) as denied:
        agent.upload_json_to_dataset("logs-app", _bulk([{"id": "2", "msg": "x"}], "id"))
    assert denied.value.status_code() == 403
    rotated = sdk.rotate_keys("analytics-agent")
    assert rotated["access_key"] != created["access_key"]
    with pytest.raises(InfinoError) as stale:
        agent.ping()
    assert stale.value.status_code() == 401
    agent.close()
    sdk.delete_user("analytics-agent")
    sdk.delete_role("readonly-analyst")
