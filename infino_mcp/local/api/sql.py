"""``GET /sql`` and ``POST /sql``: SQL over datasets, answered in the service's envelope.

The body is ``{"query": "..."}`` (a GET with a body, as the service takes it);
``?query=`` works too. SELECT needs ``record:read`` on every dataset it reads;
INSERT/UPDATE need ``record:write`` (and ``dataset:create`` for a new dataset),
DELETE needs ``record:delete``. Errors are 400 with the engine's message, with
table names put back as the datasets' names.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from infino_mcp.local.api.http import read_json, services, sized_json_response
from infino_mcp.local.errors import ApiError
from infino_mcp.local.sql.execute import execute_statement


async def run_sql(request: Request) -> Response:
    body = await read_json(request, required=False)
    query = request.query_params.get("query")
    if isinstance(body, dict):
        query = body.get("query", query)
    elif isinstance(body, str):
        query = body
    if not isinstance(query, str) or not query.strip():
        raise ApiError(400, 'Send the SQL as {"query": "SELECT ..."}.')
    envelope = await execute_statement(services(request), query, principal=request.state.principal)
    return await sized_json_response(envelope, size=len(envelope["rows"]))


routes: list[BaseRoute] = [Route("/sql", run_sql, methods=["GET", "POST"])]
