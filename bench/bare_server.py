"""The floor for ``bench_calls.py --floor``: a bare ``MCPServer`` making the same signed HTTP calls.

No infino-mcp layer runs here (no middleware, argument guard, registry wrapping,
compact text, SQL checks or retries): each tool sends the one request our tool
sends (one shared ``httpx2.AsyncClient`` signed with SigV4, which the endpoint
requires) and returns a pydantic model, so the SDK validates and serialises its
structured output as it does ours. What this costs per call is what the SDK and
the HTTP client cost; our own layers can only add to it. ``no_request``
sends nothing: the MCP round trip alone (client and server SDKs, stdio).

Started by the benchmark as ``python bench/bare_server.py`` with the same
``INFINO_ENDPOINT`` / ``INFINO_ACCESS_KEY`` / ``INFINO_SECRET_KEY`` environment.
"""

from __future__ import annotations

import os
from typing import Any

import anyio
import httpx2
from mcp.server import MCPServer
from pydantic import BaseModel

from infino_mcp.auth import SigV4Auth
from infino_mcp.stdio import run_stdio


class Answer(BaseModel):
    """The decoded JSON answer, as it came."""

    answer: Any


def build() -> MCPServer:
    server = MCPServer("bare", log_level="WARNING")
    auth = SigV4Auth(os.environ["INFINO_ACCESS_KEY"], os.environ["INFINO_SECRET_KEY"])
    http = httpx2.AsyncClient(base_url=os.environ["INFINO_ENDPOINT"], auth=auth)

    @server.tool()
    async def no_request() -> Answer:
        """Sends nothing: what one MCP round trip costs by itself."""
        return Answer(answer={"version": "none"})

    @server.tool()
    async def ping() -> Answer:
        """GET /."""
        return Answer(answer=(await http.get("/")).json())

    @server.tool()
    async def get_datasets() -> Answer:
        """GET /metadata."""
        return Answer(answer=(await http.get("/metadata")).json())

    @server.tool()
    async def query_dataset_in_sql(query: str) -> Answer:
        """GET /sql with the query as a JSON body."""
        response = await http.request("GET", "/sql", json={"query": query})
        return Answer(answer=response.json())

    return server


if __name__ == "__main__":
    anyio.run(run_stdio, build())
