"""SigV4 signing: golden vectors at a frozen time, and agreement with the official SDK's signer."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import httpx2
import pytest
from infino_sdk.lib import InfinoSDK

from infino_mcp.auth import UNSIGNED_PAYLOAD, SigV4Auth
from infino_mcp.local.security.sigv4 import verify_headers, verify_presigned

FROZEN = datetime(2026, 3, 14, 15, 9, 26, tzinfo=UTC)
ACCESS, SECRET = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"


def _ours(method: str, url: str, body: bytes = b"", content_type: str | None = "application/json") -> httpx2.Request:
    headers = {"content-type": content_type} if content_type else {}
    request = httpx2.Request(method, url, content=body, headers=headers)
    SigV4Auth(ACCESS, SECRET, clock=lambda: FROZEN).sign(request)
    return request


def _sdk_authorization(method: str, url: str, body: str = "", content_type: str | None = "application/json") -> str:
    sdk = InfinoSDK(ACCESS, SECRET, "http://unused")
    payload_hash = hashlib.sha256(body.encode()).hexdigest()
    headers = {"X-Amz-Date": FROZEN.strftime("%Y%m%dT%H%M%SZ"), "X-Amz-Content-Sha256": payload_hash}
    if content_type:
        headers["Content-Type"] = content_type
    return sdk.sign_request_headers(method, url, headers, FROZEN, payload_hash)["Authorization"]


# Computed once and pinned: a change here means the canonical request changed.
GOLDEN_SIGNATURE = "1059ccceabd63c14bfc06149f78dea4486bc407aa2833acae9e9243ad1b48431"

CASES = [
    (
        "GET with a body (SQL)",
        "GET",
        "https://api.infino.example/sql",
        '{"query": "SELECT count(*) FROM logs"}',
        "application/json",
    ),
    ("POST JSON", "POST", "https://api.infino.example/visualizations", '{"title": "t"}', "application/json"),
    (
        "NDJSON bulk",
        "POST",
        "https://api.infino.example/web-logs.2024/json",
        '{"index":{}}\n{"a":1}\n',
        "application/x-ndjson",
    ),
    (
        "form (PromQL)",
        "POST",
        "https://api.infino.example/promql/query",
        "query=up%7Bjob%3D%22a%22%7D&index=m",
        "application/x-www-form-urlencoded",
    ),
    (
        "YAML role",
        "PUT",
        "https://api.infino.example/role/reader",
        "Version: '2025-01-01'\nPermissions: []\n",
        "application/yaml",
    ),
    ("DELETE", "DELETE", "https://api.infino.example/my-data.set_1", "", "application/json"),
    ("non-default port", "GET", "http://127.0.0.1:9200/metadata", "", "application/json"),
    ("dots and dashes", "GET", "https://api.infino.example/sample-ecommerce-data.rel/_schema", "", "application/json"),
    ("query string", "GET", "https://api.infino.example/visualizations?limit=5&offset=10", "", "application/json"),
]


@pytest.mark.parametrize(("label", "method", "url", "body", "content_type"), CASES, ids=[c[0] for c in CASES])
def test_signature_matches_the_official_sdk(label: str, method: str, url: str, body: str, content_type: str) -> None:
    request = _ours(method, url, body.encode(), content_type)
    assert request.headers["authorization"] == _sdk_authorization(method, url, body, content_type)
    assert request.headers["x-amz-date"] == "20260314T150926Z"
    assert request.headers["x-amz-content-sha256"] == hashlib.sha256(body.encode()).hexdigest()


def test_golden_vector_is_stable() -> None:
    request = _ours("GET", "https://api.infino.example/sql", b'{"query":"SELECT 1"}')
    assert request.headers["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260314/us-east-1/es/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, "
        "Signature=" + GOLDEN_SIGNATURE
    )


def test_query_string_is_signed_unlike_the_sdk_list_calls() -> None:
    # The SDK passes list parameters to requests after signing the bare URL; the
    # service verifies the query string, so we sign it (standard SigV4).
    with_query = _ours("GET", "https://api.infino.example/dashboards?limit=5")
    without = _sdk_authorization("GET", "https://api.infino.example/dashboards")
    assert with_query.headers["authorization"] != without


def test_multipart_signs_unsigned_payload_and_keeps_the_query() -> None:
    request = httpx2.Request(
        "POST",
        "https://api.infino.example/import/file",
        params={"async": "true"},
        files={"file": ("a.json", b"[]", "application/json")},
        data={"index_name": "logs", "format": "json"},
    )
    SigV4Auth(ACCESS, SECRET, clock=lambda: FROZEN).sign(request)
    assert request.headers["x-amz-content-sha256"] == UNSIGNED_PAYLOAD
    sdk = InfinoSDK(ACCESS, SECRET, "http://unused")
    headers = {
        "X-Amz-Date": "20260314T150926Z",
        "X-Amz-Content-Sha256": UNSIGNED_PAYLOAD,
        "Content-Type": request.headers["content-type"],
    }
    expected = sdk.sign_request_headers("POST", str(request.url), headers, FROZEN, UNSIGNED_PAYLOAD)["Authorization"]
    assert request.headers["authorization"] == expected


def _lookup(key: str) -> tuple[str, str] | None:
    return (SECRET, "admin") if key == ACCESS else None


def test_local_verifier_accepts_ours_and_rejects_tampering() -> None:
    body = b'{"query":"SELECT 1"}'
    request = _ours("GET", "http://127.0.0.1:9200/sql?x=1", body)
    headers = {k.lower(): v for k, v in request.headers.items()}
    common = dict(
        method="GET", raw_path="/sql", headers=headers, lookup=_lookup, region="us-east-1", service="es", now=FROZEN
    )
    assert verify_headers(query=[("x", "1")], body=body, **common).user == "admin"
    with pytest.raises(Exception, match="body"):
        verify_headers(query=[("x", "1")], body=b'{"query":"SELECT 2"}', **common)
    with pytest.raises(Exception, match="signature"):
        verify_headers(query=[("x", "2")], body=body, **common)


def test_presigned_url_round_trip() -> None:
    url = SigV4Auth(ACCESS, SECRET, clock=lambda: FROZEN).presign_url("https://api.infino.example/fino/nl")
    assert url.startswith("wss://api.infino.example/fino/nl?X-Amz-Algorithm=AWS4-HMAC-SHA256&")
    query = [tuple(p.split("=", 1)) for p in url.split("?", 1)[1].split("&")]
    from urllib.parse import unquote

    decoded = [(k, unquote(v)) for k, v in query]
    caller = verify_presigned(
        raw_path="/fino/nl",
        query=decoded,
        host="api.infino.example",
        lookup=_lookup,
        region="us-east-1",
        service="es",
        now=FROZEN,
    )
    assert caller.access_key == ACCESS


def test_secrets_stay_out_of_reprs() -> None:
    auth = SigV4Auth(ACCESS, SECRET)
    assert SECRET not in repr(auth) and ACCESS not in repr(auth)


def test_names_outside_the_unreserved_set_sign_like_the_sdk() -> None:
    # We send the segments percent-encoded; the SDK sends them as typed. Both sign the decoded path.
    request = _ours("GET", "https://api.infino.example/a%2Bb%40c/doc/r%3A1%20x")
    assert request.headers["authorization"] == _sdk_authorization("GET", "https://api.infino.example/a+b@c/doc/r:1 x")


def test_the_body_is_bound_even_when_its_hash_header_is_not_signed() -> None:
    """A client that signs only host and x-amz-date (plain SigV4) still signs the body's hash."""
    from infino_mcp.auth import expected_signature

    body = b'{"query":"SELECT 1"}'
    signed = {"host": "127.0.0.1:9200", "x-amz-date": "20260314T150926Z"}
    signature = expected_signature(
        method="GET",
        raw_path="/sql",
        query=[],
        headers=signed,
        payload_hash=hashlib.sha256(body).hexdigest(),
        amz_date="20260314T150926Z",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        service="es",
    )
    authorization = (
        f"AWS4-HMAC-SHA256 Credential={ACCESS}/20260314/us-east-1/es/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={signature}"
    )
    headers = {**signed, "authorization": authorization}
    common = dict(method="GET", raw_path="/sql", query=[], lookup=_lookup, region="us-east-1", service="es", now=FROZEN)
    assert verify_headers(headers=headers, body=body, **common).user == "admin"
    other = b'{"query":"SELECT secret FROM t"}'
    tampered = {**headers, "x-amz-content-sha256": hashlib.sha256(other).hexdigest()}
    with pytest.raises(Exception, match="signature"):
        verify_headers(headers=tampered, body=other, **common)
