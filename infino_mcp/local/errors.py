"""``ApiError``: a request the local endpoint refuses, with its HTTP status.

A leaf: every layer may raise it (storage, security, the compilers), and only
``api/`` and ``app.py`` turn it into an HTTP answer. It imports nothing of ours.
"""

from __future__ import annotations


class ApiError(Exception):
    """A request the endpoint refuses, with the HTTP status and a message for the caller."""

    def __init__(self, status: int, message: str, kind: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.kind = kind or _KINDS.get(status, "error")


_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "payload_too_large",
    501: "not_implemented",
}
