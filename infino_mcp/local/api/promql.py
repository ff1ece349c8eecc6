"""HTTP routes for metrics: Prometheus exposition upload and PromQL queries.

* ``POST /{ds}/metrics``: the body is Prometheus text exposition (the SDK labels
  it ``application/x-www-form-urlencoded`` but sends the text as is); answers
  ``["Successfully added exposition metrics."]`` like the service.
* ``POST /promql/query`` (form or query string: ``query``, optional ``time``,
  optional ``index``) and ``POST /promql/query_range`` (``query``, ``start``,
  ``end``, ``step``, optional ``index``): Prometheus HTTP API responses. GET
  with the same parameters in the query string works too. Times are unix
  seconds (fractions allowed) or RFC 3339; ``step`` is seconds or a duration
  such as ``30s``. ``index`` may name several datasets separated by commas;
  ``lookback_delta`` (default 5m) changes how far back instant selectors look.

Without ``index`` a query reads every dataset that holds metrics and that the
caller may read (the others are skipped, not refused). Errors on these two
routes use the Prometheus body ``{"status": "error", "errorType", "error"}``.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from urllib.parse import parse_qsl

import promql_parser
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from infino_mcp.local.api.http import json_response, require, services, sized_json_response
from infino_mcp.local.clock import now_ms
from infino_mcp.local.errors import ApiError
from infino_mcp.local.promql.parse import DEFAULT_LOOKBACK_MS
from infino_mcp.local.promql.query import instant_query, range_query
from infino_mcp.local.promql.store import (
    EngineSource,
    core_fields_readable,
    holds_metrics,
    ingest_exposition,
    metric_datasets,
)
from infino_mcp.local.security.field_rules import FieldRules

_ERROR_TYPES = {400: "bad_data", 403: "forbidden", 404: "not_found", 422: "execution", 503: "unavailable"}


async def _params(request: Request) -> dict[str, str]:
    """Form fields from the body (any content type: the SDK always sends urlencoded) over the query string."""
    params = dict(request.query_params)
    body = await request.body()
    if body:
        try:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        except UnicodeDecodeError:
            raise ApiError(400, "The form body is not UTF-8 text.") from None
    return params


def parse_time(text: str, what: str) -> int:
    """Unix seconds or RFC 3339 as milliseconds; 400 naming the parameter otherwise."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ApiError(
                400,
                f"invalid parameter {what!r}: cannot parse {text!r} to a valid timestamp (unix seconds or RFC 3339)",
            ) from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        seconds = stamp.timestamp()
    if not math.isfinite(seconds):
        raise ApiError(400, f"invalid parameter {what!r}: {text!r} is not a finite time")
    return round(seconds * 1000)


def parse_duration(text: str, what: str) -> int:
    """Seconds (fractions allowed) or a PromQL duration such as ``30s`` as positive milliseconds."""
    try:
        seconds = float(text)
    except ValueError:
        try:
            seconds = promql_parser.parse_duration(text).total_seconds()
        except ValueError:
            raise ApiError(
                400, f"invalid parameter {what!r}: cannot parse {text!r} to a valid duration (seconds or e.g. 30s)"
            ) from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise ApiError(400, f"invalid parameter {what!r}: zero or negative durations are not accepted")
    return max(1, round(seconds * 1000))


def _lookback(params: dict[str, str]) -> int:
    text = params.get("lookback_delta")
    return parse_duration(text, "lookback_delta") if text else DEFAULT_LOOKBACK_MS


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if value == "":
        raise ApiError(400, f"missing parameter {name!r}")
    return value


def _source(request: Request, index: str | None) -> EngineSource:
    """The datasets the query reads: ``index`` (403/404 when not readable), else every readable metric dataset."""
    svc = services(request)
    principal = request.state.principal
    chosen: dict[str, FieldRules] = {}
    if index:
        for name in (n.strip() for n in index.split(",")):
            if not name:
                continue
            require(request, "record", "read", name)
            info = svc.catalog.get(name)
            rules = svc.rbac.field_rules(principal, name)
            if not core_fields_readable(info, rules):
                raise ApiError(
                    403, f"Field rules hide the sample name, value or timestamp of dataset {name!r} from you."
                )
            if holds_metrics(info):
                chosen[name] = rules
        return EngineSource(svc, chosen, rules=chosen)
    for name in metric_datasets(svc):
        try:
            require(request, "record", "read", name)
        except ApiError as exc:
            if exc.status != 403:
                raise
            continue
        rules = svc.rbac.field_rules(principal, name)
        if core_fields_readable(svc.catalog.get(name), rules):
            chosen[name] = rules
    return EngineSource(svc, chosen, rules=chosen)


def _prometheus_error(exc: ApiError) -> Response:
    kind = exc.kind if exc.kind in ("bad_data", "execution") else _ERROR_TYPES.get(exc.status, "bad_data")
    return JSONResponse({"status": "error", "errorType": kind, "error": exc.message}, exc.status)


async def query(request: Request) -> Response:
    try:
        params = await _params(request)
        text = _required(params, "query")
        at = parse_time(params["time"], "time") if params.get("time") else now_ms()
        source = _source(request, params.get("index"))
        data = await instant_query(source, text, at, lookback_ms=_lookback(params))
    except ApiError as exc:
        return _prometheus_error(exc)
    return await sized_json_response({"status": "success", "data": data}, size=_size(data))


async def query_range(request: Request) -> Response:
    try:
        params = await _params(request)
        text = _required(params, "query")
        start = parse_time(_required(params, "start"), "start")
        end = parse_time(_required(params, "end"), "end")
        step = parse_duration(_required(params, "step"), "step")
        source = _source(request, params.get("index"))
        data = await range_query(source, text, start, end, step, lookback_ms=_lookback(params))
    except ApiError as exc:
        return _prometheus_error(exc)
    return await sized_json_response({"status": "success", "data": data}, size=_size(data))


def _size(data: dict) -> int:
    """Samples in a query's answer (one per series, or each series' points)."""
    result = data.get("result")
    if not isinstance(result, list):
        return 1
    return sum(len(s.get("values") or ()) + 1 if isinstance(s, dict) else 1 for s in result)


async def upload_metrics(request: Request) -> Response:
    dataset = request.path_params["ds"]
    if not services(request).catalog.exists(dataset):
        require(request, "dataset", "create", dataset)
    require(request, "record", "write", dataset)
    body = await request.body()
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, "The metrics body is not UTF-8 text; send Prometheus text exposition format.") from None
    await ingest_exposition(services(request), dataset, text)
    return json_response(["Successfully added exposition metrics."])


routes: list[BaseRoute] = [
    Route("/promql/query", query, methods=["GET", "POST"]),
    Route("/promql/query_range", query_range, methods=["GET", "POST"]),
]

dataset_routes: list[BaseRoute] = [
    Route("/{ds}/metrics", upload_metrics, methods=["POST"]),
]
