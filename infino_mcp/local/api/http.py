"""HTTP plumbing shared by the local endpoint's route modules.

Every handler gets the process-wide ``Services`` with ``services(request)``,
raises ``ApiError`` for anything the caller did wrong (it becomes a JSON body
``{"error": {"type", "reason"}, "status"}``), and checks permissions with
``require`` before touching data.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from infino_mcp.limits import MAX_JSON_DEPTH, LimitError, check_json_depth
from infino_mcp.local.errors import ApiError
from infino_mcp.local.offload import run_sized

if TYPE_CHECKING:
    from infino_mcp.local.services import Services

# Bodies up to this size are checked for nesting before parsing (linear, ~25 ms per MB); larger ones
# (bulk uploads) rely on the parser's own recursion guard, which stops at the first too-deep level.
_PRECHECK_BYTES = 4 * 1024 * 1024

ResourceType = Literal["metadata", "dataset", "record"]
Action = Literal["read", "write", "create", "delete"]


def error_response(exc: ApiError) -> Response:
    return JSONResponse({"error": {"type": exc.kind, "reason": exc.message}, "status": exc.status}, exc.status)


def services(request: Request) -> Services:
    return request.app.state.services


def json_response(data: Any, status: int = 200) -> Response:
    return Response(_dumps(data), status, media_type="application/json")


async def sized_json_response(data: Any, *, size: int, status: int = 200) -> Response:
    """``json_response`` for an answer that grows with the data: ``size`` is its rows or items
    (serialized on a worker thread when large, see ``offload``)."""
    return Response(await run_sized(_dumps, data, size=size), status, media_type="application/json")


def _dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str).encode()


async def read_json(request: Request, *, required: bool = True) -> Any:
    """The request body as JSON; 400 with the error's position when it is not JSON."""
    body = await request.body()
    if not body.strip():
        if required:
            raise ApiError(400, "The request body is empty; send a JSON document.")
        return None
    return await run_sized(_parse_body, body, size=len(body) // 1000)


def _parse_body(body: bytes) -> Any:
    try:
        if len(body) <= _PRECHECK_BYTES:
            check_json_depth(body, "The body")
        return json.loads(body)
    except (LimitError, RecursionError):
        raise ApiError(
            400, f"The body nests too deeply: the limit is {MAX_JSON_DEPTH} levels. Send a flatter document."
        ) from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.") from None


def require(request: Request, resource_type: ResourceType, action: Action, dataset: str | None = None) -> None:
    """Raise ApiError(403) unless the caller's roles allow ``action`` on ``resource_type``."""
    services(request).rbac.authorize(request.state.principal, resource_type, action, dataset)
