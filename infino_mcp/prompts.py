"""Prompts: ``prompts/*.md`` files, each YAML front matter plus a ``$placeholder`` body.

Front matter keys: ``title``, ``description`` and ``arguments`` (a list of
``{name, description, required}``). The body is a ``string.Template`` so
PromQL and JSON braces stay literal. The folder ships in the wheel as
``infino_mcp/prompts``; in a source checkout it is ``prompts/`` at the root.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from mcp.server import MCPServer
from mcp.server.mcpserver.prompts.base import Prompt, PromptArgument
from mcp.shared.exceptions import MCPError
from mcp.types import INVALID_PARAMS

from infino_mcp.echarts import CHART_TYPES

# Filled into every prompt body, so prompts name the same lists the tools check.
SHARED_VALUES = {"chart_types": ", ".join(CHART_TYPES)}


@dataclass(frozen=True)
class PromptFile:
    name: str
    title: str
    description: str
    arguments: list[dict[str, Any]]
    body: str

    def render(self, **values: str) -> str:
        missing = [a["name"] for a in self.arguments if a.get("required") and not values.get(a["name"])]
        if missing:
            raise ValueError(f"prompt {self.name} needs argument(s): {', '.join(missing)}")
        defaults = SHARED_VALUES | {a["name"]: a.get("default", "") for a in self.arguments}
        return string.Template(self.body).safe_substitute(defaults | {k: v for k, v in values.items() if v})

    def problem(self, values: dict[str, Any]) -> str | None:
        """Why ``values`` cannot fill this prompt (unknown or missing arguments), or None."""
        names = [a["name"] for a in self.arguments]
        unknown = sorted(set(values) - set(names))
        missing = [a["name"] for a in self.arguments if a.get("required") and not values.get(a["name"])]
        problems = []
        if unknown:
            problems.append(f"unknown argument(s) {', '.join(unknown)}")
        if missing:
            problems.append(f"missing required argument(s) {', '.join(missing)}")
        if not problems:
            return None
        return f"Prompt {self.name}: {'; '.join(problems)}. Arguments: {', '.join(names) or '(none)'}."


def prompts_dir() -> Path:
    packaged = resources.files("infino_mcp") / "prompts"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "prompts"


# libyaml's safe loader when PyYAML has it: parsing every prompt's front matter was ~5% of start-up.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_prompt_files(folder: Path | None = None) -> list[PromptFile]:
    found = []
    for path in sorted((folder or prompts_dir()).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---\n", 2)
        meta = yaml.load(front, Loader=_LOADER) or {}
        found.append(
            PromptFile(
                name=path.stem,
                title=meta.get("title", path.stem),
                description=meta["description"],
                arguments=list(meta.get("arguments") or []),
                body=body.lstrip("\n"),
            )
        )
    return found


def prompt_guard(files: list[PromptFile]) -> Any:
    """Middleware answering ``prompts/get`` with invalid-params for an unknown prompt or bad arguments."""
    by_name = {f.name: f for f in files}

    async def guard(ctx: Any, call_next: Any) -> Any:
        if ctx.method != "prompts/get":
            return await call_next(ctx)
        params = ctx.params if isinstance(ctx.params, dict) else {}
        prompt = by_name.get(str(params.get("name")))
        if prompt is None:
            names = ", ".join(sorted(by_name))
            raise MCPError(INVALID_PARAMS, f"Unknown prompt {params.get('name')!r}; prompts/list shows: {names}.")
        values = params.get("arguments") or {}
        problem = (
            prompt.problem(values)
            if isinstance(values, dict)
            else f"Prompt {prompt.name}: arguments must be an object."
        )
        if problem:
            raise MCPError(INVALID_PARAMS, problem)
        return await call_next(ctx)

    return guard


def register_prompts(server: MCPServer) -> None:
    files = load_prompt_files()
    server.middleware.append(prompt_guard(files))
    for prompt in files:

        def render(_prompt: PromptFile = prompt, **values: str) -> str:
            return _prompt.render(**values)

        server.add_prompt(
            Prompt(
                name=prompt.name,
                title=prompt.title,
                description=prompt.description,
                fn=render,
                context_kwarg=None,
                arguments=[
                    PromptArgument(name=a["name"], description=a.get("description"), required=bool(a.get("required")))
                    for a in prompt.arguments
                ],
            )
        )
