"""``ApiError``: a request the local endpoint refuses, with its HTTP status.

A leaf: every layer may raise it (storage, security, the compilers), and only
``api/`` and ``app.py`` turn it into an HTTP answer. It imports nothing of ours.
"""

from __future__ import annotations

import reprlib


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


_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 60
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 4
_SHOWN.maxlevel = 2


def shown(value: object) -> str:
    """A short repr of a caller's value for a message: bounded whatever the value's size or depth."""
    return _SHOWN.repr(value)
