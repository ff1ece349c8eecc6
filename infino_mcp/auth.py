"""AWS Signature Version 4 for Infino, as an ``httpx2.Auth``.

The signature is AWS SigV4 as botocore computes it (``tests/test_auth.py`` checks ours
against botocore's signer byte for byte), built directly with ``hmac``/``hashlib``: botocore's
per-request objects cost several times the signature itself. This module decides what goes
into the canonical request:

* the exact bytes sent (``x-amz-content-sha256`` is their SHA-256), GET bodies
  included; multipart uploads sign ``UNSIGNED-PAYLOAD``;
* the path as the official SDK signs it (percent-decoded; the same as sent for
  names of unreserved characters), and the query string. The SDK signs its
  list calls (``limit``/``offset``) without their query string; that departs
  from SigV4 and the service rejects it, so we follow the standard;
* the headers ``host``, ``x-amz-date``, ``x-amz-content-sha256`` and, when the
  request has one, ``content-type``.

The same code computes signatures for the local endpoint's verifier
(``expected_signature``) and presigns Fino's WebSocket URL (``presign_url``).

Per-user HTTP modes sign with the caller's keys: the transport wraps each HTTP
request in ``signing_keys(...)`` and the client's ``credentials`` is
``request_keys``, which refuses to sign when no caller's keys are set (never
falling back to the operator's).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlencode, urlsplit, urlunsplit

import httpx2
from pydantic import SecretStr

from infino_mcp.errors import AuthenticationError

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
AMZ_DATE_FORMAT = "%Y%m%dT%H%M%SZ"

Clock = Callable[[], datetime]


_CALLER_KEYS: ContextVar[tuple[SecretStr, SecretStr] | None] = ContextVar("infino_caller_keys", default=None)


@contextlib.contextmanager
def signing_keys(access_key: str, secret_key: str) -> Iterator[None]:
    """Within this block (and the tasks it starts), requests are signed with these keys."""
    token = _CALLER_KEYS.set((SecretStr(access_key), SecretStr(secret_key)))
    try:
        yield
    finally:
        _CALLER_KEYS.reset(token)


def caller_access_key() -> str | None:
    """The current caller's access key (no secret), or None outside ``signing_keys``."""
    keys = _CALLER_KEYS.get()
    return keys[0].get_secret_value() if keys else None


def request_keys() -> tuple[str, str]:
    """The current caller's keys (see ``signing_keys``); refuses when there are none."""
    keys = _CALLER_KEYS.get()
    if keys is None:
        raise AuthenticationError(
            "No caller's Infino keys for this request: this server signs each request with the keys its caller "
            "sent, and none were set. Nothing was sent.",
            status=401,
            operation="sign",
        )
    return keys[0].get_secret_value(), keys[1].get_secret_value()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _secret(value: SecretStr | str) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


# Never signed (botocore's list, kept identical so signatures match byte for byte).
_UNSIGNED_HEADERS = frozenset(
    {"baggage", "connection", "expect", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
     "traceparent", "tracestate", "trailer", "transfer-encoding", "upgrade", "user-agent", "x-amzn-trace-id"}
)  # fmt: skip
_QUERY_SAFE = "-_.~"


def _sign(
    *,
    method: str,
    host: str,
    path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    amz_date: str,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
) -> tuple[str, str, str]:
    """Return (signature, credential scope, signed header list) for one request.

    ``path`` is the decoded path (signed as it is: what the official SDK, and so the
    service, signs); ``query`` the decoded query pairs; ``headers`` only the headers to sign.
    The payload hash is the ``x-amz-content-sha256`` header when it is among them, else
    ``payload_hash``, so the body is bound either way. The canonical request, string to
    sign and key derivation are AWS SigV4 exactly as botocore computes them (the tests
    check ours against botocore's signer), without its per-request objects.
    """
    to_sign: dict[str, list[str]] = {}
    content_sha256: str | None = None
    for name, value in headers.items():
        lname = name.lower()
        if lname == "x-amz-content-sha256" and content_sha256 is None:
            content_sha256 = value
        if lname not in _UNSIGNED_HEADERS:
            to_sign.setdefault(lname, []).append(value)
    if "host" not in to_sign:
        to_sign["host"] = [_default_host(host)]
    canonical_headers = "".join(
        f"{name}:{','.join(' '.join(value.split()) for value in to_sign[name])}\n" for name in sorted(to_sign)
    )
    signed = ";".join(sorted(name.strip() for name in to_sign))
    pairs = sorted((quote(key, safe=_QUERY_SAFE), quote(str(value), safe=_QUERY_SAFE)) for key, value in query)
    canonical_request = "\n".join(
        (
            method.upper(),
            path,
            "&".join(f"{key}={value}" for key, value in pairs),
            canonical_headers,
            signed,
            payload_hash if content_sha256 is None else content_sha256,
        )
    )
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = f"{ALGORITHM}\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    key = f"AWS4{secret_key}".encode()
    for part in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return signature, f"{access_key}/{scope}", signed


def _default_host(host: str) -> str:
    """The host signed when no ``host`` header is given: lower-case, without a default port."""
    parts = urlsplit(f"http://{host}/")
    name = parts.hostname or ""
    if ":" in name:
        name = f"[{name}]"
    return name if parts.port in (None, 80) else f"{name}:{parts.port}"


def canonical_path(raw_path: str) -> str:
    """The path as signed: percent-decoded, ``/`` when empty."""
    return unquote(raw_path) or "/"


def expected_signature(
    *,
    method: str,
    raw_path: str,
    query: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    payload_hash: str,
    amz_date: str,
    access_key: str,
    secret_key: str,
    region: str,
    service: str,
) -> str:
    """The signature a correct client computes; used by the local endpoint to verify."""
    signature, _, _ = _sign(
        method=method,
        host=headers.get("host", "localhost"),
        path=canonical_path(raw_path),
        query=query,
        headers=headers,
        payload_hash=payload_hash,
        amz_date=amz_date,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        service=service,
    )
    return signature


class SigV4Auth(httpx2.Auth):
    """Signs every request of an ``httpx2`` client with AWS SigV4."""

    requires_request_body = True

    def __init__(
        self,
        access_key: SecretStr | str,
        secret_key: SecretStr | str,
        *,
        region: str = "us-east-1",
        service: str = "es",
        clock: Clock = _utcnow,
        credentials: Callable[[], tuple[str, str]] | None = None,
    ) -> None:
        """``credentials``, when given, is asked for (access key, secret key) at every signature,
        so keys rotated while the client runs take effect (local mode's bootstrap admin)."""
        self._access_key = access_key if isinstance(access_key, SecretStr) else SecretStr(access_key)
        self._secret_key = secret_key if isinstance(secret_key, SecretStr) else SecretStr(secret_key)
        self._credentials = credentials
        self.region = region
        self.service = service
        self._clock = clock

    def __repr__(self) -> str:
        return f"SigV4Auth(region={self.region!r}, service={self.service!r})"

    @property
    def access_key_id(self) -> str:
        """The access key id requests are signed with (public: every signed request carries it)."""
        return self._keys()[0]

    def secret_values(self) -> tuple[str, str]:
        """The access and secret key in use, for scrubbing them out of text a service sent back."""
        return self._keys()

    def _keys(self) -> tuple[str, str]:
        if self._credentials is not None:
            return self._credentials()
        return _secret(self._access_key), _secret(self._secret_key)

    def auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        self.sign(request)
        yield request

    def sign(self, request: httpx2.Request) -> None:
        """Add ``x-amz-date``, ``x-amz-content-sha256`` and ``authorization`` to ``request``."""
        amz_date = self._clock().astimezone(UTC).strftime(AMZ_DATE_FORMAT)
        content_type = request.headers.get("content-type")
        if content_type and content_type.lower().startswith("multipart/"):
            payload_hash = UNSIGNED_PAYLOAD
        else:
            payload_hash = hashlib.sha256(request.content).hexdigest()
        for name in ("authorization", "x-amz-date", "x-amz-content-sha256"):
            request.headers.pop(name, None)
        request.headers["x-amz-date"] = amz_date
        request.headers["x-amz-content-sha256"] = payload_hash
        to_sign = {
            "host": request.headers["host"],
            "x-amz-date": amz_date,
            "x-amz-content-sha256": payload_hash,
        }
        if content_type:
            to_sign["content-type"] = content_type
        url = request.url
        access_key, secret_key = self._keys()
        signature, scope, signed = _sign(
            method=request.method,
            host=to_sign["host"],
            path=canonical_path(url.raw_path.split(b"?")[0].decode("ascii")),
            query=url.params.multi_items(),
            headers=to_sign,
            payload_hash=payload_hash,
            amz_date=amz_date,
            access_key=access_key,
            secret_key=secret_key,
            region=self.region,
            service=self.service,
        )
        request.headers["authorization"] = (
            f"{ALGORITHM} Credential={scope}, SignedHeaders={signed}, Signature={signature}"
        )

    def presign_url(self, url: str) -> str:
        """A presigned GET URL (for Fino's WebSocket): auth in the query, only ``host`` signed.

        ``https`` becomes ``wss`` and ``http`` becomes ``ws``.
        """
        parts = urlsplit(url)
        now = self._clock().astimezone(UTC)
        amz_date = now.strftime(AMZ_DATE_FORMAT)
        access_key, secret_key = self._keys()
        scope = f"{access_key}/{amz_date[:8]}/{self.region}/{self.service}/aws4_request"
        params = [
            ("X-Amz-Algorithm", ALGORITHM),
            ("X-Amz-Credential", scope),
            ("X-Amz-Date", amz_date),
            ("X-Amz-SignedHeaders", "host"),
        ]
        signature, _, _ = _sign(
            method="GET",
            host=parts.netloc,
            path=canonical_path(parts.path),
            query=params,
            headers={"host": parts.netloc},
            payload_hash=EMPTY_SHA256,
            amz_date=amz_date,
            access_key=access_key,
            secret_key=secret_key,
            region=self.region,
            service=self.service,
        )
        scheme = "wss" if parts.scheme == "https" else "ws"
        query = urlencode(params + [("X-Amz-Signature", signature)])
        return urlunsplit((scheme, parts.netloc, parts.path or "/", query, ""))
