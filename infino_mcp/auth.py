"""AWS Signature Version 4 for Infino, as an ``httpx2.Auth``.

This is the only module that imports botocore. The cryptography is botocore's
``SigV4Auth``; this module only decides what goes into the canonical request:

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
import functools
import hashlib
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit, urlunsplit

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


@functools.cache
def _signer_class() -> Any:
    """botocore's SigV4 with the two inputs we decide ourselves.

    * The canonical URI is the percent-decoded path, which is what the official
      SDK (and so the service) signs: for names of unreserved characters it is
      the path as sent; for others it avoids botocore's second encoding.
    * The payload hash is the one given, so the body is always bound to the
      signature, whether or not ``x-amz-content-sha256`` is a signed header.

    botocore (with urllib3) is imported at the first signature, not at start-up,
    where it was about a tenth of the time to the initialize reply.
    """
    # Cold start: botocore (with urllib3) loads at the first signature (see above).
    from botocore.auth import SigV4Auth as BotocoreSigV4

    class Signer(BotocoreSigV4):
        def __init__(self, credentials: Any, service: str, region: str, *, path: str, payload_hash: str) -> None:
            super().__init__(credentials, service, region)
            self._path = path
            self._payload_hash = payload_hash

        def _normalize_url_path(self, path: str) -> str:
            return self._path

        def payload(self, request: Any) -> str:
            return self._payload_hash

    return Signer


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

    ``path`` is the decoded path; ``query`` the decoded query pairs; ``headers``
    only the headers to sign (lower-case names).
    """
    # Cold start: botocore loads at the first signature (see _signer_class).
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    signer = _signer_class()(Credentials(access_key, secret_key), service, region, path=path, payload_hash=payload_hash)
    aws = AWSRequest(method=method.upper(), url=f"http://{host}/", headers=dict(headers))
    aws.params = list(query)
    aws.context["timestamp"] = amz_date
    canonical = signer.canonical_request(aws)
    string_to_sign = signer.string_to_sign(aws, canonical)
    signature = signer.signature(string_to_sign, aws)
    signed = signer.signed_headers(signer.headers_to_sign(aws))
    return signature, signer.scope(aws), signed


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
        # Setting a header replaces every copy the request came with (a re-signed request keeps no stale value).
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
