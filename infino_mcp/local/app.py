"""The local Infino endpoint: a Starlette app over the embedded engine.

Every request is verified with SigV4 (401 otherwise) before routing; the
caller is stored on ``request.state.principal`` for the RBAC checks the route
modules make. Fixed paths are routed before the dataset paths (``/{ds}...``),
so dataset names never shadow them (the catalog refuses those names).
"""

from __future__ import annotations

import functools

from starlette.applications import Starlette
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from infino_mcp.local.api import connections as connections_api
from infino_mcp.local.api import datasets as datasets_api
from infino_mcp.local.api import files as files_api
from infino_mcp.local.api import fino as fino_api
from infino_mcp.local.api import promql as promql_api
from infino_mcp.local.api import querydsl as querydsl_api
from infino_mcp.local.api import rbac as rbac_api
from infino_mcp.local.api import sql as sql_api
from infino_mcp.local.api import visualizations as visualizations_api
from infino_mcp.local.api.http import error_response
from infino_mcp.local.errors import ApiError
from infino_mcp.local.offload import run_sized
from infino_mcp.local.security.sigv4 import verify_headers, verify_presigned
from infino_mcp.local.services import Services


class SigV4Middleware:
    """Rejects unsigned or badly signed requests with 401 before any route runs."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        services: Services = scope["app"].state.services
        request = Request(scope, receive) if scope["type"] == "http" else HTTPConnection(scope)
        query = list(request.query_params.multi_items())
        raw_path = scope.get("raw_path", scope["path"].encode()).decode("latin-1").split("?")[0]
        try:
            # Presigned URLs sign no body, so they are accepted only for the WebSocket handshake.
            if not isinstance(request, Request):  # the WebSocket handshake
                caller = verify_presigned(
                    raw_path=raw_path,
                    query=query,
                    host=request.headers.get("host", ""),
                    lookup=services.rbac.lookup_key,
                    region=services.region,
                    service=services.service,
                )
            else:
                body = await request.body()
                verify = functools.partial(
                    verify_headers,
                    method=request.method,
                    raw_path=raw_path,
                    query=query,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    body=body,
                    lookup=services.rbac.lookup_key,
                    region=services.region,
                    service=services.service,
                )
                caller = await run_sized(verify, size=len(body) // 1000)  # hashes the body
                receive = _replay(body)
        except ApiError as exc:
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008, "reason": exc.message[:120]})
                return
            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = services.rbac.principal(caller.user)
        await self.app(scope, receive, send)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc)


async def _too_deep(request: Request, exc: Exception) -> Response:
    # A parser or evaluator ran out of stack on what the request sent: the request's fault, not the server's.
    return error_response(
        ApiError(
            400,
            "The request nests too deeply to evaluate (expressions, subqueries or documents inside each other); "
            "flatten or shorten it.",
        )
    )


def create_app(services: Services) -> Starlette:
    """The endpoint app over already-open ``services`` (the caller closes them)."""
    routes = [
        *datasets_api.fixed_routes,
        *sql_api.routes,
        *promql_api.routes,
        *visualizations_api.routes,
        *fino_api.routes,
        *connections_api.routes,
        *files_api.routes,
        *rbac_api.routes,
        *querydsl_api.routes,
        *promql_api.dataset_routes,
        *datasets_api.dataset_routes,
    ]
    app = Starlette(routes=routes, exception_handlers={ApiError: _api_error, RecursionError: _too_deep})
    app.state.services = services
    app.add_middleware(SigV4Middleware)
    return app
