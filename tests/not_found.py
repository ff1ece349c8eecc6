"""Not-found answers say what to call next: the tool that lists what exists."""

from __future__ import annotations

import httpx2


def not_found_reason(response: httpx2.Response, list_tool: str) -> str:
    """The reason of a local endpoint's 404, checked to name ``list_tool`` (the next step)."""
    assert response.status_code == 404, response.text
    reason = response.json()["error"]["reason"]
    assert list_tool in reason, reason
    return reason
