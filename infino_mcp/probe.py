"""The start-up check: with credentials configured, one signed ping before serving.

It finds the three faults that otherwise surface only as a failing first call:
the endpoint unreachable, the key rejected, the clock too far from the
endpoint's for SigV4. It writes one line on stderr and never stops the server
(MCP clients show a failed start poorly); the client keeps the cause, so
failing calls name it until one succeeds.
"""

from __future__ import annotations

import sys
import time
from email.utils import parsedate_to_datetime

import anyio
import httpx2

from infino_mcp.client import InfinoClient, error_detail

_SKEW_REPORTED = 5 * 60  # seconds; SigV4 refuses signatures beyond 15 minutes


def _skew(response: httpx2.Response) -> float | None:
    """Seconds this machine's clock is ahead of the endpoint's (from its Date header), or None."""
    try:
        return time.time() - parsedate_to_datetime(response.headers["date"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return None


async def diagnose(client: InfinoClient) -> str | None:
    """What is wrong with the endpoint or the keys, in one clause, or None when the ping succeeds."""
    where = client.endpoint
    try:
        with anyio.fail_after(client.settings.connect_timeout + 5):
            response = await client.send_once("GET", "/")
    except (httpx2.TransportError, TimeoutError) as exc:
        return f"cannot reach {where} ({type(exc).__name__}): check INFINO_ENDPOINT and the network"
    skew = _skew(response)
    if skew is not None and abs(skew) >= _SKEW_REPORTED:
        side = "ahead of" if skew > 0 else "behind"
        return (
            f"this machine's clock is {abs(skew) / 60:.0f} minutes {side} {where}'s, and signatures more than "
            "15 minutes off are refused: set the system clock (NTP)"
        )
    detail = error_detail(response, client.auth.secret_values()).rstrip(".")
    if response.status_code in (401, 403):
        return (
            f"{where} rejected the key (HTTP {response.status_code}: {detail}): "
            "check INFINO_ACCESS_KEY and INFINO_SECRET_KEY"
        )
    if response.status_code >= 400:
        return f"{where} answered the ping with HTTP {response.status_code}: {detail}"
    return None


async def startup_check(client: InfinoClient) -> None:
    """Run ``diagnose`` once; on a problem, one stderr line, and the client remembers the cause."""
    problem = await diagnose(client)
    if problem:
        client.startup_problem = problem
        print(
            f"infino-mcp: start-up check: {problem}. Serving anyway; calls fail until it is fixed.",
            file=sys.stderr,
            flush=True,
        )
