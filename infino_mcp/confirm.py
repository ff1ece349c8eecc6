"""Asking the user before a tool destroys something.

``with_confirmation(spec)`` returns the callable ``build_server`` registers
instead of ``spec.fn`` for tools declared ``confirm=True`` (deletes, clears,
key rotation) unless the operator passed ``--allow-destructive``.

The question goes through the SDK's ``Resolve(...)`` dependency returning an
``Elicit(...)``: on the 2026-07-28 protocol the SDK answers the call with an
``InputRequiredResult`` and runs the tool when the client retries with the
user's answer; on older protocols it sends a live ``elicitation/create``
request. Either way the tool body runs only after an explicit yes.

* The wrapper keeps the tool's name, docstring, input schema and output
  schema: the confirmation parameter is resolved by the SDK and never appears
  in the input schema.
* A client that cannot ask its user (no elicitation capability) gets a
  refusal that tells the operator how to allow such tools.
* Decline, cancel, or an unticked box: the tool does not run and the model is
  told plainly that nothing changed.
"""

from __future__ import annotations

import inspect
import json
import typing
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

from infino_mcp.registry import ToolSpec

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


def question_for(spec: ToolSpec, arguments: dict[str, Any]) -> str:
    """The question put to the user: what will happen, with which arguments.

    Deterministic for the same arguments: on 2026-07-28 the SDK accepts an
    answer only for the exact question it asked.
    """
    details = ", ".join(f"{name}={_shown(value)}" for name, value in arguments.items() if value is not None)
    where = f" ({details})" if details else ""
    return f"{spec.title}{where}: the assistant wants to run {spec.name}. This cannot be undone. Go ahead?"


def _make_resolver(spec: ToolSpec, arg_names: list[str]) -> Callable[..., Awaitable[Any]]:
    """A resolver taking the context and every tool argument by name (the SDK passes them)."""

    async def ask_user(**values: Any) -> Elicit[Confirmation]:
        ctx: Context = values.pop("ctx")
        capabilities = ctx.client_capabilities
        if capabilities is None or capabilities.elicitation is None:
            raise ToolError(
                f"{spec.name} was not run: it destroys data, so it needs the user's confirmation, and this MCP "
                f"client cannot ask its user (it does not support elicitation). Nothing was changed. {allow_hint()}"
            )
        return Elicit(question_for(spec, values), Confirmation)

    parameters = [inspect.Parameter("ctx", inspect.Parameter.KEYWORD_ONLY, annotation=Context)]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Any) for name in arg_names]
    signature = inspect.Signature(parameters, return_annotation=Elicit[Confirmation])
    ask_user.__signature__ = signature  # type: ignore[attr-defined]
    ask_user.__annotations__ = {"ctx": Context, "return": Elicit[Confirmation]}
    ask_user.__qualname__ = f"confirm_{spec.name}"
    return ask_user


def with_confirmation(spec: ToolSpec) -> Callable[..., Awaitable[Any]]:
    """The tool function to register instead of ``spec.fn``: it asks the user first.

    Same name, docstring and schemas as ``spec.fn``; one extra keyword
    parameter, resolved by the SDK and hidden from the input schema.
    """
    signature = inspect.signature(spec.fn, eval_str=True)
    if CONFIRM_PARAM in signature.parameters:
        raise ValueError(f"tool {spec.name} already has a parameter named {CONFIRM_PARAM!r}")
    hints = typing.get_type_hints(inspect.unwrap(spec.fn), include_extras=True)
    context_names = [name for name, hint in hints.items() if inspect.isclass(hint) and issubclass(hint, Context)]
    arg_names = [name for name in signature.parameters if name not in context_names]
    resolver = _make_resolver(spec, arg_names)
    answer_type = Annotated[ElicitationResult[Confirmation], Resolve(resolver)]

    async def confirmed(**kwargs: Any) -> Any:
        answer = kwargs.pop(CONFIRM_PARAM)
        if isinstance(answer, AcceptedElicitation) and answer.data.confirm:
            return await spec.fn(**kwargs)
        how = "cancelled" if getattr(answer, "action", None) == "cancel" else "declined"
        raise ToolError(
            f"Not done: the user {how} {spec.name}, so it did not run and nothing was changed. "
            "Ask the user before trying again."
        )

    parameters = [
        param.replace(annotation=hints.get(name, param.annotation)) for name, param in signature.parameters.items()
    ]
    parameters.append(inspect.Parameter(CONFIRM_PARAM, inspect.Parameter.KEYWORD_ONLY, annotation=answer_type))
    return_annotation = signature.return_annotation
    wrapped = inspect.Signature(parameters, return_annotation=return_annotation)
    confirmed.__signature__ = wrapped  # type: ignore[attr-defined]
    confirmed.__annotations__ = {
        **{name: hints[name] for name in signature.parameters if name in hints},
        CONFIRM_PARAM: answer_type,
        "return": return_annotation,
    }
    confirmed.__name__ = spec.name
    confirmed.__qualname__ = spec.name
    confirmed.__doc__ = spec.fn.__doc__
    confirmed.__module__ = spec.fn.__module__
    return confirmed
