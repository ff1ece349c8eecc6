"""``GET /{ds}/querydsl`` (a GET with a JSON body, as the service takes it; POST too).

The body is an Elasticsearch search request (``query``, ``from``/``size``,
``sort``, ``_source``, ``track_total_hits``, ``aggs``); an empty body is
``match_all``. Needs ``record:read`` on the dataset; the caller's field rules
are applied to every hit. The answer is an Elasticsearch search response.
"""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from infino_mcp.local.api.http import read_json, require, services, sized_json_response
from infino_mcp.local.errors import ApiError
from infino_mcp.local.querydsl.search import search


async def query_dataset(request: Request) -> Response:
    dataset = request.path_params["ds"]
    require(request, "record", "read", dataset)
    body = await read_json(request, required=False)
    if body is None:
        text = request.query_params.get("source") or request.query_params.get("query")
        body = _parse_text(text) if text else {}
    if isinstance(body, str):
        body = _parse_text(body)
    if not isinstance(body, dict):
        raise ApiError(400, 'The QueryDSL body must be a JSON object such as {"query": {"match_all": {}}}.')
    result = await search(services(request), dataset, body, principal=request.state.principal)
    return await sized_json_response(result, size=_size(result))


def _size(result: dict) -> int:
    """Hits plus top-level buckets: what makes a search answer large."""
    hits = result.get("hits")
    size = len(hits.get("hits") or ()) if isinstance(hits, dict) else 0
    aggregations = result.get("aggregations")
    for agg in aggregations.values() if isinstance(aggregations, dict) else ():
        buckets = agg.get("buckets") if isinstance(agg, dict) else None
        size += len(buckets) if isinstance(buckets, (list, dict)) else 1
    return size


def _parse_text(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"The QueryDSL is not valid JSON: {exc.msg} at column {exc.colno}.") from None
    if not isinstance(value, dict):
        raise ApiError(400, 'The QueryDSL must be a JSON object such as {"query": {"match_all": {}}}.')
    return value


routes: list[BaseRoute] = [Route("/{ds}/querydsl", query_dataset, methods=["GET", "POST"])]
