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
        defaults = {a["name"]: a.get("default", "") for a in self.arguments}
        return string.Template(self.body).safe_substitute(defaults | {k: v for k, v in values.items() if v})


def prompts_dir() -> Path:
    packaged = resources.files("infino_mcp") / "prompts"
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parent.parent / "prompts"


def load_prompt_files(folder: Path | None = None) -> list[PromptFile]:
    found = []
    for path in sorted((folder or prompts_dir()).glob("*.md")):
        text = path.read_text(encoding="utf-8")
        _, front, body = text.split("---\n", 2)
        meta = yaml.safe_load(front) or {}
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


def register_prompts(server: MCPServer) -> None:
    for prompt in load_prompt_files():

        def render(_prompt: PromptFile = prompt, **values: str) -> str:
            return _prompt.render(**values)

        server.add_prompt(
            Prompt(
                name=prompt.name,
                title=prompt.title,
                description=prompt.description,
                fn=render,
                arguments=[
                    PromptArgument(name=a["name"], description=a.get("description"), required=bool(a.get("required")))
                    for a in prompt.arguments
                ],
            )
        )
