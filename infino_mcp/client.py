"""InfinoClient: the one signed async HTTP client every tool goes through.

One ``httpx2.AsyncClient`` per server with ``SigV4Auth``. ``transport=`` is the
seam: tests and local mode pass an ``httpx2.ASGITransport`` over the local
endpoint, fault tests an ``httpx2.MockTransport``.

Retries live here and only here: idempotent requests (by operation, not by
HTTP verb) are retried on 5xx, 429 and transport errors with exponential
backoff and full jitter, honouring ``Retry-After``, within a total deadline.
A non-idempotent request is retried only when the connection was never made;
when it was sent and then failed (5xx, timeout, reset, a garbled answer) the
error says the change may have been applied and names the tool to check with.
A read answered 200 with invalid JSON is retried like a 5xx. Error bodies are
scrubbed of signatures, credentials and key-like values before anyone sees them.
"""

from __future__ import annotations

import functools
import json
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import anyio
import httpx2

from infino_mcp.api_facts import RESERVED_DATASET_NAMES
from infino_mcp.auth import SigV4Auth
from infino_mcp.config import Settings
from infino_mcp.errors import (
    AuthenticationError,
    InputError,
    InvalidResponseError,
    NetworkError,
    RequestTimeoutError,
    ResponseTooLargeError,
    ServiceError,
    TransportError,
    error_for_status,
    may_have_been_applied,
    scrub,
)
from infino_mcp.http_pool import MAX_CONNECTIONS, ResponseTooLarge, default_transport

log = logging.getLogger(__name__)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,254}$")
_RETRY_STATUSES = {429, 500, 502, 503, 504}
_MAX_DETAIL = 600


def name_segment(value: str, what: str) -> str:
    """Validate a name (dataset, user, role, source type) and return it percent-encoded."""
    if not _NAME_RE.fullmatch(value or "") or value in (".", ".."):
        raise InputError(
            f"{what} {value!r} is not a valid name: use 1-255 letters, digits, '.', '_', '-', '+' or '@', "
            "starting with a letter or digit."
        )
    return quote(value, safe="")


def dataset_segment(value: str) -> str:
    """Validate a dataset name (also refusing the API's top-level path names) and percent-encode it."""
    if (value or "").lower() in RESERVED_DATASET_NAMES:
        raise InputError(f"{value!r} cannot be a dataset name: it is one of the API's own paths. Pick another name.")
    return name_segment(value, "Dataset")


def id_segment(value: str, what: str) -> str:
    """Validate an opaque id (record, visualization, thread, job...) and return it percent-encoded."""
    if (
        not value
        or len(value) > 512
        or value in (".", "..")
        or any(c in value for c in "/\\")
        or not value.isprintable()
    ):
        raise InputError(
            f"{what} {value!r} is not a valid id: it must be 1-512 printable characters without '/' or '\\'."
        )
    return quote(value, safe="")


@functools.lru_cache(maxsize=1024)
def _endpoint_url(endpoint: str, path: str) -> httpx2.URL:
    """``path`` (from ``/``) on ``endpoint``, parsed once: httpx2 parses a relative path twice per request."""
    return httpx2.URL(endpoint + path)


def error_detail(response: httpx2.Response, known: Iterable[str] = ()) -> str:
    """The service's error message, from an ES-style JSON body or plain text, scrubbed of secrets."""
    return scrub(_message(response), known)[:_MAX_DETAIL]


def _message(response: httpx2.Response) -> str:
    text = response.text.strip()
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            text = str(error.get("reason") or error.get("message") or error)
        elif error:
            text = str(error)
        elif body.get("message"):
            text = str(body["message"])
    return text


def _retry_after(response: httpx2.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Operation:
    """What a request belongs to: the tool's name (for messages) and whether it may be repeated."""

    name: str
    idempotent: bool


current_operation: ContextVar[Operation | None] = ContextVar("infino_operation", default=None)
"""Set by the registry while a tool runs, from its declaration: its requests default to it."""


class InfinoClient:
    """Signed access to one Infino endpoint (cloud or local)."""

    def __init__(
        self,
        endpoint: str,
        access_key: Any,
        secret_key: Any,
        *,
        settings: Settings,
        transport: httpx2.AsyncBaseTransport | None = None,
        credentials: Callable[[], tuple[str, str]] | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        """``transport`` and ``sleep`` are the seams tests replace: the wire, and the wait between retries."""
        self.endpoint = endpoint.rstrip("/")
        self.settings = settings
        self._sleep = sleep
        self.auth = SigV4Auth(
            access_key, secret_key, region=settings.region, service=settings.service, credentials=credentials
        )
        if transport is None:
            transport = default_transport(settings.max_response_mb * 1024 * 1024)
        self._http = httpx2.AsyncClient(
            base_url=self.endpoint,
            auth=self.auth,
            transport=transport,
            timeout=httpx2.Timeout(settings.timeout, connect=settings.connect_timeout),
            headers={"user-agent": "infino-mcp"},
            follow_redirects=False,
            # for the transports httpx2 builds itself when proxy variables are set
            limits=httpx2.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS),
        )

        self.startup_problem: str | None = None
        """What the start-up check found wrong (``infino_mcp.probe``); named by failures until a call succeeds."""

    def __repr__(self) -> str:
        return f"InfinoClient(endpoint={self.endpoint!r})"

    async def send_once(self, method: str, path: str) -> httpx2.Response:
        """One signed request, no retries, errors not mapped: for the start-up check."""
        return await self._http.request(method, self._url(path))

    def _url(self, path: str) -> httpx2.URL | str:
        return _endpoint_url(self.endpoint, path) if path.startswith("/") else path

    def _failed(self, error: Exception) -> Exception:
        if self.startup_problem and isinstance(error, TransportError | AuthenticationError):
            error.message = f"{error.message} (At start-up: {self.startup_problem}.)"
        return error

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> InfinoClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def request(
        self,
        method: str,
        path: str,
        *,
        operation: str | None = None,
        idempotent: bool | None = None,
        json_body: Any = None,
        content: bytes | str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        files: Any = None,
        data: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request and return its decoded JSON (``{}`` for an empty body).

        ``path`` must already be built from validated segments (``name_segment``,
        ``id_segment``). ``operation`` and ``idempotent`` default to the running
        tool's name and declared idempotency; code outside a tool passes both.
        Raises the errors in ``infino_mcp.errors``.
        """
        declared = current_operation.get()
        if operation is None or idempotent is None:
            if declared is None:
                raise TypeError("InfinoClient.request outside a tool needs operation= and idempotent=")
            operation = operation or declared.name
            idempotent = declared.idempotent if idempotent is None else idempotent
        send_headers = dict(headers or {})
        for name, value in send_headers.items():
            if not (value.isascii() and value.isprintable()):
                raise InputError(
                    f"{operation}: the value for the {name} header must be printable ASCII; {value[:80]!r} is not. "
                    "Pass the id exactly as the service returned it. Nothing was sent."
                )
        body: bytes | str | None = content
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False, separators=(",", ":")).encode()
            send_headers.setdefault("content-type", "application/json")
        elif body is not None:
            send_headers.setdefault("content-type", "application/json")
        deadline = time.monotonic() + self.settings.retry_deadline
        attempt = 0
        while True:
            attempt += 1
            try:
                with anyio.fail_after(max(0.001, deadline - time.monotonic())):
                    response = await self._http.request(
                        method,
                        self._url(path),
                        content=body,
                        params=params,
                        headers=send_headers,
                        files=files,
                        data=data,
                    )
            except (httpx2.ConnectError, httpx2.ConnectTimeout) as exc:
                # The request never reached the server: safe to retry whatever it was.
                error: Exception = NetworkError(
                    f"{operation} could not connect to {self.endpoint}: {type(exc).__name__}. "
                    "Check that the endpoint is reachable."
                )
                retry_after = None
                retryable = True
            except ResponseTooLarge as exc:
                answer = f"{operation}: the service's answer is larger than {exc.limit // (1024 * 1024)} MB"
                raise ResponseTooLargeError(
                    f"{answer} (INFINO_MAX_RESPONSE_MB), so it was not read. Ask for less: a LIMIT, fewer columns "
                    "or fields, a smaller page or time range."
                    + ("" if idempotent else f" {may_have_been_applied(operation)}")
                ) from None
            except (httpx2.TimeoutException, TimeoutError):
                error = RequestTimeoutError(
                    f"{operation} timed out after {self.settings.timeout:g}s. Narrow the request (a smaller limit "
                    "or time range) or retry later."
                    if idempotent
                    else f"{operation} timed out after {self.settings.timeout:g}s. {may_have_been_applied(operation)}"
                )
                retry_after, retryable = None, idempotent
            except httpx2.TransportError as exc:
                lost = f"{operation} lost its connection to {self.endpoint}: {type(exc).__name__}."
                error = NetworkError(
                    f"{lost} Retry later." if idempotent else f"{lost} {may_have_been_applied(operation)}"
                )
                retry_after, retryable = None, idempotent
            else:
                if response.status_code < 400:
                    try:
                        self.startup_problem = None
                        return self._decode(response, operation, idempotent)
                    except InvalidResponseError as exc:
                        # A garbled answer to a read is retried like a 5xx; to a change, it is reported.
                        error, retry_after, retryable = exc, None, idempotent
                else:
                    error = error_for_status(
                        response.status_code,
                        operation,
                        error_detail(response, self.auth.secret_values()),
                        unconfirmed=not idempotent,
                        auth=self.settings.auth,
                    )
                    retry_after = _retry_after(response)
                    retryable = idempotent and response.status_code in _RETRY_STATUSES
            if not retryable or attempt > self.settings.max_retries:
                raise self._failed(error)
            delay = random.uniform(0, self.settings.retry_backoff * 2 ** (attempt - 1))
            if retry_after is not None:
                delay = max(delay, retry_after)
            if time.monotonic() + delay >= deadline:
                raise self._failed(error)
            log.info("%s: retrying after %s (attempt %d)", operation, type(error).__name__, attempt)
            await self._sleep(delay)

    @staticmethod
    def _decode(response: httpx2.Response, operation: str, idempotent: bool) -> Any:
        if not response.content.strip():
            return {}
        try:
            return response.json()
        except (ValueError, RecursionError):
            content_type = response.headers.get("content-type", "")
            if "json" in content_type:
                raise InvalidResponseError(
                    f"{operation} returned a body that is not valid JSON; the service may be misbehaving. "
                    + ("Retry later." if idempotent else may_have_been_applied(operation))
                ) from None
            return {"text": scrub(response.text, span=100_000)}


def is_service_error(exc: BaseException, status: int) -> bool:
    return isinstance(exc, ServiceError) and exc.status == status
