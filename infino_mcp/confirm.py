"""Asking the user before a tool destroys something.

For tools declared ``confirm=True`` (deletes, clears, key rotation), unless the
operator passed ``--allow-destructive``, the registration step
(``registry.registered_callable``) adds ``confirmation_parameter`` to the tool's
signature and calls ``require_yes`` with the user's answer before the body runs.

The question goes through the SDK's ``Resolve(...)`` dependency returning an
``Elicit(...)``: on the 2026-07-28 protocol the SDK answers the call with an
``InputRequiredResult`` and runs the tool when the client retries with the
user's answer; on older protocols it sends a live ``elicitation/create``
request. Either way the tool body runs only after an explicit yes.

* The tool keeps its name, docstring, input schema and output schema: the
  confirmation parameter is resolved by the SDK and never appears in the
  input schema.
* A client that cannot ask its user (no elicitation capability) gets a
  refusal that tells the operator how to allow such tools.
* Decline, cancel, or an unticked box: the tool does not run and the model is
  told plainly that nothing changed.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from mcp.server.mcpserver import (
    AcceptedElicitation,
    Context,
    Elicit,
    ElicitationResult,
    Resolve,
)
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from infino_mcp.state import settings_of

CONFIRM_PARAM = "user_confirmation"
"""The hidden parameter the SDK fills with the user's answer."""

_MAX_SHOWN = 300


class Confirmation(BaseModel):
    """The one-field form the user sees."""

    confirm: bool = Field(description="Yes, do it. This cannot be undone.")


def allow_hint() -> str:
    """How an operator lets destructive tools run without asking."""
    return (
        "An operator can allow destructive tools without confirmation by starting infino-mcp with "
        "--allow-destructive (or INFINO_ALLOW_DESTRUCTIVE=true)."
    )


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def question_for(name: str, title: str, arguments: dict[str, Any]) -> str:
    """The question put to the user: what will happen, with which arguments.

    Deterministic for the same arguments: on 2026-07-28 the SDK accepts an
    answer only for the exact question it asked.
    """
    details = ", ".join(f"{name}={_shown(value)}" for name, value in arguments.items() if value is not None)
    where = f" ({details})" if details else ""
    return f"{title}{where}: the assistant wants to run {name}. This cannot be undone. Go ahead?"


def _make_resolver(name: str, title: str, arg_names: list[str]) -> Callable[..., Awaitable[Any]]:
    """A resolver taking the context and every tool argument by name (the SDK passes them)."""

    async def ask_user(**values: Any) -> Elicit[Confirmation]:
        ctx: Context = values.pop("ctx")
        version = ctx.protocol_version or "2025"
        if version < "2026" and settings_of(ctx).stateless:
            raise ToolError(
                f"{name} was not run: it destroys data, so it needs the user's confirmation, and this server is "
                f"stateless (--stateless), where a client on protocol {version} cannot be asked in the middle of a "
                f"call (a 2026-07-28 client can). Nothing was changed. {allow_hint()}"
            )
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.elicitation is None:
            raise ToolError(
                f"{name} was not run: it destroys data, so it needs the user's confirmation, and this MCP "
                f"client cannot ask its user (it does not support elicitation). Nothing was changed. {allow_hint()}"
            )
        return Elicit(question_for(name, title, values), Confirmation)

    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    parameters += [inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for arg in arg_names]
    signature = inspect.Signature(parameters, return_annotation=Elicit[Confirmation])
    ask_user.__signature__ = signature  # type: ignore[attr-defined]
    ask_user.__annotations__ = {"ctx": Context, "return": Elicit[Confirmation]}
    ask_user.__qualname__ = f"confirm_{name}"
    return ask_user


def confirmation_parameter(name: str, title: str, parameters: list[inspect.Parameter]) -> inspect.Parameter:
    """The hidden keyword parameter that makes the SDK ask the user before tool ``name`` runs.

    ``parameters`` are the tool's own (with resolved annotations); its context
    parameter is not passed to the question.
    """
    if any(p.name == CONFIRM_PARAM for p in parameters):
        raise ValueError(f"tool {name} already has a parameter named {CONFIRM_PARAM!r}")
    arg_names = [
        p.name for p in parameters if not (inspect.isclass(p.annotation) and issubclass(p.annotation, Context))
    ]
    answer_type = Annotated[ElicitationResult[Confirmation], Resolve(_make_resolver(name, title, arg_names))]
    return inspect.Parameter(CONFIRM_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=answer_type)


def require_yes(name: str, answer: Any) -> None:
    """Return only when the user ticked yes; otherwise say plainly that nothing ran."""
    if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
        return
    how = "cancelled" if getattr(answer, "action", None) == "cancel" else "declined"
    raise ToolError(
        f"Not done: the user {how} {name}, so it did not run and nothing was changed. Ask the user before trying again."
    )
