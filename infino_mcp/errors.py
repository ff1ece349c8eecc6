"""The errors infino-mcp raises, each with a message a model can act on.

    InfinoError                      base; ``str(err)`` is the message shown to the model
    ├── ConfigError                  bad or missing configuration (the CLI exits 2)
    ├── InputError                   an argument refused before any request was sent
    ├── ServiceError                 the service answered with an error status
    │   ├── BadRequestError          400 / 422 and other 4xx: the request was malformed
    │   ├── AuthenticationError      401: keys or signature rejected
    │   ├── PermissionDeniedError    403: RBAC denied the action
    │   ├── NotFoundError            404
    │   ├── ConflictError            409
    │   ├── PayloadTooLargeError     413
    │   ├── RateLimitedError         429 (retried first)
    │   ├── NotAvailableLocallyError 501: only Infino cloud can do this
    │   └── ServerError              5xx (retried first when safe)
    ├── TransportError               no usable answer
    │   ├── RequestTimeoutError      connect/read timeout or the total deadline
    │   ├── NetworkError             connection refused, reset, DNS
    │   └── ResponseTooLargeError    an answer over INFINO_MAX_RESPONSE_MB, not read to the end
    └── InvalidResponseError         a 2xx answer whose body is not the JSON promised

Messages never contain keys, signatures or signed headers: text that came from a service
(an error body may echo the request's headers) goes through ``scrub`` first.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_REDACTED = "[redacted]"
_SECRETS = (
    # A SigV4 Authorization value: credential scope, signed headers and signature, to the end of the value.
    (re.compile(r"AWS4-HMAC-SHA256\s+[^\"'\r\n}]*", re.IGNORECASE), f"AWS4-HMAC-SHA256 {_REDACTED}"),
    (re.compile(r"\b(Bearer|Basic)\s+[\w.~+/=-]{6,}", re.IGNORECASE), rf"\1 {_REDACTED}"),
    # name=value or "name": "value" for names that carry secrets (headers, presigned URL parameters, fields).
    (
        re.compile(
            r"\b(x-amz-signature|x-amz-credential|x-amz-security-token|signature|credential|authorization|"
            r"x-api-key|api[_-]?key|secret[_-]?(?:access[_-]?)?key|access[_-]?key(?:[_-]?id)?|session[_-]?token|"
            r"password|passwd)(\\?[\"']?\s*[:=]\s*\\?[\"']?)(?!\[redacted\])[^\s\"'&,;}\\]+",
            re.IGNORECASE,
        ),
        rf"\1\2{_REDACTED}",
    ),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), _REDACTED),  # AWS access key ids
    # Anything shaped like a generated key: 32+ characters mixing upper case, lower case and digits.
    (re.compile(r"(?<![\w+/])(?=[\w+/-]*\d)(?=[\w+/-]*[a-z])(?=[\w+/-]*[A-Z])[\w+/-]{32,}={0,2}"), _REDACTED),
)
_SCRUB_SPAN = 4_000


def scrub(text: str, known: Iterable[str] = (), *, span: int = _SCRUB_SPAN) -> str:
    """``text`` (from a service: an error body, a non-JSON answer) without secrets: signatures,
    credentials, Authorization values, key-like strings, and the ``known`` secret values themselves.
    Only the first ``span`` characters are kept (error messages show a few hundred)."""
    text = text[:span]
    for value in known:
        if value and len(value) >= 4:
            text = text.replace(value, _REDACTED)
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class InfinoError(Exception):
    """Base of every error infino-mcp raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class ConfigError(InfinoError):
    """Configuration is missing or invalid."""


class InputError(InfinoError):
    """An argument was refused before any request was made."""


class ServiceError(InfinoError):
    """The service answered with an error status."""

    status: int = 0

    def __init__(self, message: str, *, status: int, operation: str, detail: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.operation = operation
        self.detail = detail


class BadRequestError(ServiceError):
    pass


class AuthenticationError(ServiceError):
    pass


class PermissionDeniedError(ServiceError):
    pass


class NotFoundError(ServiceError):
    pass


class ConflictError(ServiceError):
    pass


class PayloadTooLargeError(ServiceError):
    pass


class RateLimitedError(ServiceError):
    pass


class NotAvailableLocallyError(ServiceError):
    pass


class ServerError(ServiceError):
    pass


class TransportError(InfinoError):
    """No usable answer came back."""


class RequestTimeoutError(TransportError):
    pass


class NetworkError(TransportError):
    pass


class ResponseTooLargeError(TransportError):
    pass


class InvalidResponseError(InfinoError):
    """A successful status with a body that is not what was promised."""


_NEXT_STEP = {
    400: (BadRequestError, ""),
    401: (
        AuthenticationError,
        "Infino rejected the credentials. Check {keys} and the system clock; retrying will not help.",
    ),
    403: (
        PermissionDeniedError,
        "The user's roles do not allow this. Ask an administrator for a role granting it, or use a dataset you can access.",
    ),
    409: (
        ConflictError,
        "It conflicts with the current state (it already exists, or is still in use): see the message.",
    ),
    413: (PayloadTooLargeError, "The request is too large; send fewer records per call."),
    429: (RateLimitedError, "Infino is rate-limiting; wait a little and retry, or send fewer requests."),
    501: (NotAvailableLocallyError, "Set INFINO_ENDPOINT and keys to use Infino cloud for this."),
}


# Where to look for what exists, by a word in the operation's name: (tool, the sentence naming it).
_LISTS = (
    ("visualization", "list_visualizations", "call list_visualizations to see the visualizations that exist"),
    ("dashboard", "list_dashboards", "call list_dashboards to see the dashboards that exist"),
    ("thread", "list_threads", "call list_threads to see your threads"),
    ("send_message", "list_threads", "call list_threads to see your threads"),
    ("ask_fino", "list_threads", "call list_threads to see your threads"),
    ("connection", "get_connections", "call get_connections to see the connections that exist"),
    ("source", "get_connections", "call get_connections to see the connections that exist"),
    ("import_job", "get_import_jobs", "call get_import_jobs to see the import jobs that exist"),
    ("connector_job", "upload_file", "pass the run_id that upload_file returned"),
    ("user", "list_users", "call list_users to see the users that exist"),
    ("role", "list_roles", "call list_roles to see the roles that exist"),
    ("rotate_keys", "list_users", "call list_users to see the users that exist"),
)
_DATASETS = ("get_datasets", "call get_datasets to see the datasets that exist")


def _list_tool(operation: str) -> tuple[str, str]:
    return next(((tool, sentence) for word, tool, sentence in _LISTS if word in operation), _DATASETS)


def may_have_been_applied(operation: str) -> str:
    """The next step after a write whose answer was lost: it may have happened, so look before retrying."""
    return f"It may have been applied: check with {_list_tool(operation)[0]} before retrying."


# Where the keys that sign requests come from, by --auth: a 401 names them.
_KEYS_FROM = {
    "token": "INFINO_ACCESS_KEY / INFINO_SECRET_KEY",
    "infino-keys": "the keys your MCP client sends (X-Infino-Access-Key / X-Infino-Secret-Key)",
    "oauth": "the keys the server's identities file maps your identity to (ask its operator)",
}


def error_for_status(
    status: int, operation: str, detail: str, *, unconfirmed: bool = False, auth: str = "token"
) -> ServiceError:
    """Build the error for an HTTP error ``status`` answered to ``operation``.

    ``unconfirmed``: the request changes something and is not safe to repeat, so a 5xx leaves its
    outcome unknown (it was not retried). ``auth``: the server's --auth mode (a 401 names the keys it signs with)."""
    if status >= 500 and status != 501:
        hint = (
            may_have_been_applied(operation)
            if unconfirmed
            else "Infino had an internal error and retries did not help; try again later."
        )
        cls = ServerError
    elif status == 404:
        tool, sentence = _list_tool(operation)
        cls, hint = NotFoundError, "" if tool in detail else f"It does not exist; {sentence}."
    else:
        cls, hint = _NEXT_STEP.get(status, (BadRequestError, "The request was refused; fix it as the message says."))
        hint = hint.format(keys=_KEYS_FROM[auth]) if status == 401 else hint
    detail = scrub(detail)
    shown = detail.strip().rstrip(".") or "(no details)"
    message = f"{operation} failed with HTTP {status}: {shown}. {hint}".rstrip()
    return cls(message, status=status, operation=operation, detail=detail)
