"""ask_fino: a question to Fino, streamed, with progress as the answer arrives.

The protocol and the socket handling live in ``infino_mcp.fino_stream``.
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.config import Toolset
from infino_mcp.errors import InputError, NotAvailableLocallyError
from infino_mcp.registry import client_of, infino_tool
from infino_mcp.toolsets import fino

_MAX_PROGRESS_TEXT = 200


class FinoQuery(BaseModel):
    query: str
    language: str | None = Field(default=None, description="sql, querydsl, promql..., when Fino says.")


class FinoAnswer(BaseModel):
    answer: str = Field(description="Fino's answer.")
    thread_id: str = Field(description="Pass it to ask_fino again to follow up in the same conversation.")
    queries: list[FinoQuery] = Field(default_factory=list, description="Queries Fino produced or ran for the answer.")
    message_id: str | None = None


@infino_tool(Toolset.FINO, title="Ask Fino", read_only=False, destructive=False, idempotent=False, cloud_only=True)
async def ask_fino(
    ctx: Context,
    question: Annotated[str, Field(min_length=1, description="The question, in plain language.")],
    thread_id: Annotated[str | None, Field(description="Continue this thread; omit to start a new one.")] = None,
) -> FinoAnswer:
    """Ask Fino, Infino's AI analyst, a question about your data; streams progress and returns its answer and queries.

    Needs Infino cloud (not the local endpoint)."""
    if not question.strip():
        raise InputError("question is empty: ask something.")
    # Imported here: websockets is only needed once someone asks, not at every start-up.
    from infino_mcp.fino_stream import CLOUD_ONLY, ask

    client = client_of(ctx)
    if client.settings.uses_local:
        raise NotAvailableLocallyError(CLOUD_ONLY, status=501, operation="ask_fino")
    if thread_id is None:
        thread = await fino.create_thread(ctx, name=question.strip()[:80], streaming=True, config=None)
        thread_id = thread.id
    progress = 0

    async def report(kind: str, text: str) -> None:
        nonlocal progress
        progress += 1
        shown = text if len(text) <= _MAX_PROGRESS_TEXT else text[: _MAX_PROGRESS_TEXT - 3] + "..."
        await ctx.report_progress(progress, None, f"{kind}: {shown}")

    reply = await ask(client, question, thread_id, report)
    return FinoAnswer(
        answer=reply.answer,
        thread_id=thread_id,
        queries=[FinoQuery(**q) for q in reply.queries],
        message_id=reply.message_id,
    )
