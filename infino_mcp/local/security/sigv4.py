"""Verifying AWS SigV4 on incoming requests, as the Infino service does.

A request is accepted when its ``authorization`` header names a known access
key, the scope is ``<date>/<region>/<service>/aws4_request`` for the
endpoint's region and service, ``x-amz-date`` is within 15 minutes of now, the
signed headers include ``host`` and ``x-amz-date``, the payload hash matches
the body (or is ``UNSIGNED-PAYLOAD`` on a multipart request), and the
signature, over the exact path and the canonical query string, matches.
Presigned URLs (Fino's WebSocket) carry the same fields in the query string.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from infino_mcp.auth import (
    AMZ_DATE_FORMAT,
    EMPTY_SHA256,
    UNSIGNED_PAYLOAD,
    expected_signature,
)
from infino_mcp.local.errors import ApiError

MAX_SKEW = timedelta(minutes=15)
_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]{64})$"
)


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the access key and the user it belongs to."""

    access_key: str
    user: str


SecretLookup = Callable[[str], tuple[str, str] | None]
"""Maps an access key to (secret key, user name), or None when unknown."""


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, message)


def _check_scope(credential: str, lookup: SecretLookup, region: str, service: str) -> tuple[str, str, str, str]:
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise _unauthorized("Malformed credential scope; expected <key>/<yyyymmdd>/<region>/<service>/aws4_request.")
    access_key, date, cred_region, cred_service, _ = parts
    if cred_region != region or cred_service != service:
        raise _unauthorized(
            f"Credential scope {cred_region}/{cred_service} does not match this endpoint ({region}/{service})."
        )
    found = lookup(access_key)
    if found is None:
        raise _unauthorized("The access key is not known to this endpoint.")
    secret, user = found
    return access_key, date, secret, user


def _check_time(amz_date: str, scope_date: str, now: datetime) -> None:
    try:
        when = datetime.strptime(amz_date, AMZ_DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise _unauthorized("x-amz-date is missing or not in YYYYMMDDTHHMMSSZ form.") from None
    if amz_date[:8] != scope_date:
        raise _unauthorized("The credential scope date does not match x-amz-date.")
    if abs(now - when) > MAX_SKEW:
        raise _unauthorized(
            "The request time is more than 15 minutes away from the endpoint's clock; check the system clock."
        )


def verify_headers(
    *,
    method: str,
    raw_path: str,
    query: list[tuple[str, str]],
    headers: dict[str, str],
    body: bytes,
    lookup: SecretLookup,
    region: str,
    service: str,
    now: datetime | None = None,
) -> Caller:
    """Verify a header-signed request; ``headers`` have lower-case names."""
    match = _AUTH_RE.match(headers.get("authorization", "").strip())
    if match is None:
        raise _unauthorized(
            "Missing or malformed SigV4 authorization header; sign requests with AWS SigV4 (service 'es')."
        )
    access_key, scope_date, secret, user = _check_scope(match["cred"], lookup, region, service)
    amz_date = headers.get("x-amz-date", "")
    _check_time(amz_date, scope_date, now or datetime.now(UTC))
    signed_names = match["signed"].split(";")
    if "host" not in signed_names or "x-amz-date" not in signed_names:
        raise _unauthorized("The signed headers must include host and x-amz-date.")
    body_hash = hashlib.sha256(body).hexdigest()
    payload_hash = headers.get("x-amz-content-sha256", body_hash)
    content_type = headers.get("content-type", "")
    if payload_hash == UNSIGNED_PAYLOAD:
        if not content_type.lower().startswith("multipart/"):
            raise _unauthorized("UNSIGNED-PAYLOAD is accepted only for multipart uploads.")
    elif not hmac.compare_digest(payload_hash, body_hash):
        raise _unauthorized("x-amz-content-sha256 does not match the request body.")
    try:
        signed_headers = {name: headers[name] for name in signed_names}
    except KeyError as exc:
        raise _unauthorized(f"Signed header {exc.args[0]!r} is not present in the request.") from None
    expected = expected_signature(
        method=method,
        raw_path=raw_path,
        query=query,
        headers=signed_headers,
        payload_hash=payload_hash,
        amz_date=amz_date,
        access_key=access_key,
        secret_key=secret,
        region=region,
        service=service,
    )
    if not hmac.compare_digest(expected, match["sig"]):
        raise _unauthorized(
            "The request signature does not match; check the secret key and that the exact URL and body were signed."
        )
    return Caller(access_key, user)


def verify_presigned(
    *,
    raw_path: str,
    query: list[tuple[str, str]],
    host: str,
    lookup: SecretLookup,
    region: str,
    service: str,
    now: datetime | None = None,
) -> Caller:
    """Verify a presigned GET URL (auth fields in the query string, only host signed)."""
    params = dict(query)
    if params.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in params:
        raise _unauthorized("The URL is not presigned with AWS4-HMAC-SHA256.")
    access_key, scope_date, secret, user = _check_scope(params.get("X-Amz-Credential", ""), lookup, region, service)
    amz_date = params.get("X-Amz-Date", "")
    _check_time(amz_date, scope_date, now or datetime.now(UTC))
    if params.get("X-Amz-SignedHeaders") != "host":
        raise _unauthorized("A presigned URL must sign exactly the host header.")
    expected = expected_signature(
        method="GET",
        raw_path=raw_path,
        query=[(k, v) for k, v in query if k != "X-Amz-Signature"],
        headers={"host": host},
        payload_hash=EMPTY_SHA256,
        amz_date=amz_date,
        access_key=access_key,
        secret_key=secret,
        region=region,
        service=service,
    )
    if not hmac.compare_digest(expected, params["X-Amz-Signature"]):
        raise _unauthorized("The presigned URL's signature does not match.")
    return Caller(access_key, user)
