"""``--auth oauth`` over streamable HTTP against a test issuer made here.

The issuer (RSA keys made in the test, its metadata, JWKS and a
client-credentials token endpoint) runs on loopback in this process; the
server is a subprocess. Each kind of bad token gets its own status and message;
the SDK client's own OAuth discovery finds the issuer from the server's
protected-resource metadata.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from infino_mcp.server import all_specs
from tests.http_servers import child_env, local_admin_keys, start_server

pytestmark = pytest.mark.anyio

KID = "test-key-1"
CLIENTS = {"alice-app": ("alice-secret", "alice"), "mallory-app": ("mallory-secret", "mallory")}


class Issuer:
    """A tiny authorization server: metadata, JWKS, and client-credentials tokens signed with its RSA key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.audience = ""
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key(), as_dict=True)
        self.jwks = {"keys": [{**jwk, "kid": KID, "use": "sig", "alg": "RS256"}]}

    def token(self, **claims: Any) -> str:
        now = int(time.time())
        body = {"iss": self.url, "aud": self.audience, "sub": "alice", "iat": now, "exp": now + 300}
        body.update({"scope": "infino:read infino:write"} | claims)
        key = body.pop("signing_key", self.key)
        return jwt.encode(
            {k: v for k, v in body.items() if v is not None}, key, algorithm="RS256", headers={"kid": KID}
        )

    def app(self) -> Starlette:
        async def metadata(_: Request) -> JSONResponse:
            return JSONResponse(
                {
                    "issuer": self.url,
                    "token_endpoint": f"{self.url}/token",
                    "jwks_uri": f"{self.url}/jwks",
                    "authorization_endpoint": f"{self.url}/authorize",
                    "response_types_supported": ["code"],
                    "grant_types_supported": ["client_credentials"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                }
            )

        async def jwks(_: Request) -> JSONResponse:
            return JSONResponse(self.jwks)

        async def token(request: Request) -> JSONResponse:
            form = await request.form()
            client_id, _, secret = base64.b64decode(request.headers["authorization"].split()[1]).decode().partition(":")
            if form.get("grant_type") != "client_credentials" or CLIENTS.get(client_id, ("",))[0] != secret:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            audience = str(form.get("resource") or self.audience)
            signed = self.token(sub=CLIENTS[client_id][1], aud=audience, scope=str(form.get("scope", "")))
            return JSONResponse({"access_token": signed, "token_type": "Bearer", "expires_in": 300})

        return Starlette(
            routes=[
                Route("/.well-known/oauth-authorization-server", metadata),
                Route("/jwks", jwks),
                Route("/token", token, methods=["POST"]),
            ]
        )


@contextlib.asynccontextmanager
async def running_issuer() -> AsyncIterator[Issuer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    issuer = Issuer(f"http://127.0.0.1:{sock.getsockname()[1]}")
    server = uvicorn.Server(uvicorn.Config(issuer.app(), log_level="warning", lifespan="off"))
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: server.serve(sockets=[sock]))
        try:
            yield issuer
        finally:
            server.should_exit = True


def add_identity(path: Path, identity: str, keys: tuple[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "infino_mcp", "identities", "--identities", str(path), "add", identity,
         "--access-key", keys[0]],
        input=keys[1] + "\n", capture_output=True, text=True, env=child_env(), check=True,
    )  # fmt: skip
    assert keys[1] not in done.stdout + done.stderr


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


async def _initialize(url: str, token: str | None) -> httpx2.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}},
    }
    headers = {"accept": "application/json, text/event-stream"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    async with httpx2.AsyncClient(timeout=30) as http:
        return await http.post(url, json=body, headers=headers)


async def test_tokens_checked_mapped_and_discovered(tmp_path: Path) -> None:
    identities = tmp_path / "identities.json"
    admin = await local_admin_keys(tmp_path / "data")
    add_identity(identities, "alice", admin)
    assert oct(os.stat(identities).st_mode & 0o777) == "0o600"
    listed = subprocess.run(
        [sys.executable, "-m", "infino_mcp", "identities", "--identities", str(identities), "list"],
        capture_output=True, text=True, env=child_env(), check=True,
    )  # fmt: skip
    assert listed.stdout.startswith("alice\t") and admin[1] not in listed.stdout + listed.stderr

    async with running_issuer() as issuer:
        args = ["--local", str(tmp_path / "data"), "--no-sample-data", "--toolsets", "all", "--auth", "oauth",
                "--oauth-issuer", issuer.url, "--identities", str(identities)]  # fmt: skip
        async with start_server(args) as server:
            assert issuer.url in server.started
            issuer.audience = server.url
            metadata_url = server.url.replace("/mcp", "/.well-known/oauth-protected-resource/mcp")

            cases = {
                "no token": (None, 401, "needs an OAuth access token"),
                "expired": (issuer.token(exp=int(time.time()) - 600), 401, "expired"),
                "wrong audience": (issuer.token(aud="http://elsewhere.example/mcp"), 401, f"audience must be {server.url}"),
                "wrong issuer": (issuer.token(iss="http://127.0.0.1:1/other"), 401, f"not issued by {issuer.url}"),
                "foreign key": (issuer.token(signing_key=issuer.other_key), 401, "Signature verification failed"),
                "missing scope": (issuer.token(scope="profile"), 403, "lacks the scope infino:read"),
                "unmapped": (issuer.token(sub="mallory"), 403, "'mallory' has no Infino keys on this server"),
            }  # fmt: skip
            for name, (token, status, message) in cases.items():
                answer = await _initialize(server.url, token)
                assert answer.status_code == status, (name, answer.text)
                assert message in answer.json()["error_description"], (name, answer.text)
                if status == 401:
                    assert f'resource_metadata="{metadata_url}"' in answer.headers["www-authenticate"], name

            valid = await _initialize(server.url, issuer.token())
            assert valid.status_code == 200, valid.text

            # The SDK client's own discovery: 401 -> protected-resource metadata -> issuer metadata -> token.
            provider = ClientCredentialsOAuthProvider(
                server_url=server.url,
                storage=MemoryStorage(),
                client_id="alice-app",
                client_secret="alice-secret",
                scope="infino:read infino:write",
                issuer=issuer.url,
            )
            async with httpx2.AsyncClient(auth=provider, timeout=60) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    assert names == {s.name for s in all_specs()}, {s.name for s in all_specs()} ^ names
                    made = await client.call_tool("create_dataset", {"dataset": "oauth-made"})
                    assert not made.is_error

            read_only = {"authorization": f"Bearer {issuer.token(scope='infino:read')}"}
            async with httpx2.AsyncClient(headers=read_only, timeout=60) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as client:
                    names = {t.name for t in (await client.list_tools()).tools}
                    assert names == {s.name for s in all_specs() if s.read_only}
                    listed = await client.call_tool("get_datasets", {"pattern": "oauth-*"})
                    assert [d["name"] for d in listed.structured_content["datasets"]] == ["oauth-made"]
                    refused = await client.call_tool("create_dataset", {"dataset": "oauth-two"})
                    assert refused.is_error and "infino:write" in refused.content[0].text

            # A second person, mapped while the server runs (the file is re-read), whose role reads only "open-*".
            admin_token = {"authorization": f"Bearer {issuer.token()}"}
            async with httpx2.AsyncClient(headers=admin_token, timeout=60) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as admin_client:
                    for dataset in ("open-1", "private-1"):
                        made = await admin_client.call_tool(
                            "upload_json_to_dataset", {"dataset": dataset, "records": [{"n": 1}, {"n": 2}]}
                        )
                        assert not made.is_error, made.content[0].text
                    permission = {
                        "Effect": "Allow",
                        "ResourceType": "record",
                        "Actions": ["read"],
                        "Resources": ["open-*"],
                    }
                    role = await admin_client.call_tool(
                        "create_role", {"name": "bob-role", "config": {"Permissions": [permission]}}
                    )
                    assert not role.is_error, role.content[0].text
                    bob_user = await admin_client.call_tool(
                        "create_user", {"name": "bob", "config": {"Roles": ["bob-role"]}}
                    )
                    assert not bob_user.is_error, bob_user.content[0].text
            bob_keys = (bob_user.structured_content["access_key"], bob_user.structured_content["secret_key"])
            add_identity(identities, "bob", bob_keys)
            bob_token = {"authorization": f"Bearer {issuer.token(sub='bob', scope='infino:read')}"}
            async with httpx2.AsyncClient(headers=bob_token, timeout=60) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as bob:
                    rows = await bob.call_tool("query_dataset_in_sql", {"query": 'SELECT n FROM "open-1" ORDER BY n'})
                    assert not rows.is_error and [r["n"] for r in rows.structured_content["rows"]] == [1, 2]
                    denied = await bob.call_tool("query_dataset_in_sql", {"query": 'SELECT n FROM "private-1"'})
                    text = denied.content[0].text
                    assert denied.is_error and "HTTP 403" in text and "bob" in text and "private-1" in text

            # A person mapped to keys Infino rejects is told where those keys come from.
            add_identity(identities, "carol", (bob_keys[0], "not-bobs-secret"))
            carol_token = {"authorization": f"Bearer {issuer.token(sub='carol', scope='infino:read')}"}
            async with httpx2.AsyncClient(headers=carol_token, timeout=60) as http:
                async with Client(streamable_http_client(server.url, http_client=http)) as carol:
                    refused = await carol.call_tool("get_datasets", {})
                    text = refused.content[0].text
                    assert refused.is_error and "HTTP 401" in text and "identities file" in text, text
                    assert "INFINO_ACCESS_KEY" not in text and bob_keys[1] not in text

            unmapped = ClientCredentialsOAuthProvider(
                server_url=server.url,
                storage=MemoryStorage(),
                client_id="mallory-app",
                client_secret="mallory-secret",
                scope="infino:read",
                issuer=issuer.url,
            )
            async with httpx2.AsyncClient(auth=unmapped, timeout=60) as http:
                refused_http = await http.post(
                    server.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                    headers={"accept": "application/json, text/event-stream"},
                )  # fmt: skip
                assert refused_http.status_code == 403
                assert "'mallory' has no Infino keys" in refused_http.json()["error_description"]
