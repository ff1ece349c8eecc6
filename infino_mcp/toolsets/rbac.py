"""RBAC: users, roles and access keys.

Configs are accepted as an object (sent as JSON) or as text: JSON text is sent
as JSON, YAML text as ``application/yaml`` (as the service accepts both). Bad
text is refused before any request, with its position.

Secrets: only ``create_user`` and ``rotate_keys`` return keys, because the
caller asked for new ones. Passwords never appear in any result.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import BaseModel, Field

from infino_mcp.client import name_segment
from infino_mcp.config import Toolset
from infino_mcp.errors import InfinoError, InputError
from infino_mcp.registry import client_of, infino_tool, settings_of
from infino_mcp.shaping import Page, page
from infino_mcp.toolsets.common import (
    Acknowledged,
    JsonArg,
    Limit,
    Offset,
    parse_json_arg,
)

UserName = Annotated[str, Field(description="The user's name.")]
RoleName = Annotated[str, Field(description="The role's name.")]
UserConfig = Annotated[
    JsonArg,
    Field(description='{"Password": ..., "Roles": [...], "Version": "2025-01-01"} as an object, JSON or YAML text.'),
]
RoleConfig = Annotated[
    JsonArg,
    Field(
        description='{"Version": "2025-01-01", "Permissions": [{"Effect": "Allow", "ResourceType": "record" (or dataset, '
        'metadata), "Actions": ["read"], "Resources": ["logs-*"], "Fields": {"Allow"|"Deny"|"Mask": [...]}}]} '
        "as an object, JSON or YAML text."
    ),
]
_SECRET_KEYS = ("password", "secret_key", "secretkey")
_NEW_KEYS_NOTE = "Store the secret key now: it cannot be shown again (rotate_keys issues a new pair)."


def _document(config: JsonArg, what: str) -> tuple[dict[str, Any] | None, bytes | None]:
    """``(json_object, None)`` to send as JSON, or ``(None, yaml_bytes)`` to send as YAML; InputError when invalid."""
    if isinstance(config, str):
        try:
            parsed = json.loads(config)
        except json.JSONDecodeError:
            parse_json_arg(config, what, allow_yaml=True)
            return None, config.encode()
        config = parsed
    if not isinstance(config, dict):
        raise InputError(f"{what} must be an object (a mapping of keys to values), not {type(config).__name__}.")
    if not config:
        raise InputError(f"{what} is empty: pass the fields to set.")
    return config, None


async def _send(ctx: Context, method: str, path: str, operation: str, config: JsonArg) -> Any:
    """Send ``config`` as JSON or YAML. Creation is not retried (a lost answer could mean it happened)."""
    body, yaml_text = _document(config, "config")
    idempotent = method != "PUT"
    client = client_of(ctx)
    if yaml_text is not None:
        return await client.request(
            method,
            path,
            operation=operation,
            idempotent=idempotent,
            content=yaml_text,
            headers={"content-type": "application/yaml"},
        )
    return await client.request(method, path, operation=operation, idempotent=idempotent, json_body=body)


def redact(value: Any) -> Any:
    """``value`` without any password or secret key, at any depth."""
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items() if str(k).replace("-", "_").lower() not in _SECRET_KEYS}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _user_path(name: str) -> str:
    return f"/user/{name_segment(name, 'User name')}"


def _role_path(name: str) -> str:
    return f"/role/{name_segment(name, 'Role name')}"


class NewKeys(BaseModel):
    username: str
    access_key: str
    secret_key: str = Field(description="Shown once; store it securely.")
    account_id: str | None = None
    note: str = _NEW_KEYS_NOTE


def _new_keys(answer: Any, username: str, operation: str) -> NewKeys:
    if not isinstance(answer, dict) or not answer.get("access_key") or not answer.get("secret_key"):
        raise InfinoError(f"{operation}: the service did not return a new key pair; check the user with get_user.")
    return NewKeys(
        username=str(answer.get("username") or username),
        access_key=str(answer["access_key"]),
        secret_key=str(answer["secret_key"]),
        account_id=answer.get("account_id"),
    )


class UserInfo(BaseModel):
    name: str
    roles: list[str] = Field(default_factory=list)
    version: str | None = None
    account_id: str | None = None


class RoleInfo(BaseModel):
    name: str
    version: str | None = None
    permissions: list[dict[str, Any]] = Field(default_factory=list)


def _user_info(name: str, doc: Any) -> UserInfo:
    doc = doc if isinstance(doc, dict) else {}
    roles = doc.get("Roles", doc.get("roles"))
    return UserInfo(
        name=name,
        roles=[str(r) for r in roles] if isinstance(roles, list) else [],
        version=None if doc.get("Version") is None else str(doc["Version"]),
        account_id=doc.get("account_id"),
    )


def _role_info(name: str, doc: Any) -> RoleInfo:
    doc = redact(doc) if isinstance(doc, dict) else {}
    permissions = doc.get("Permissions", doc.get("permissions"))
    return RoleInfo(
        name=name,
        version=None if doc.get("Version") is None else str(doc["Version"]),
        permissions=[p for p in permissions if isinstance(p, dict)] if isinstance(permissions, list) else [],
    )


def _single(answer: Any, name: str, operation: str) -> Any:
    """The one document of a ``{name: doc}`` answer."""
    if isinstance(answer, dict) and name in answer:
        return answer[name]
    if isinstance(answer, dict) and len(answer) == 1:
        return next(iter(answer.values()))
    raise InfinoError(f"{operation}: the service's answer did not contain {name!r}; retry later.")


@infino_tool(Toolset.RBAC, title="Create a user", read_only=False, destructive=False, idempotent=False)
async def create_user(ctx: Context, name: UserName, config: UserConfig) -> NewKeys:
    """Create a user with a password and roles. Returns the user's new access and secret keys (shown only now)."""
    answer = await _send(ctx, "PUT", _user_path(name), "create_user", config)
    return _new_keys(answer, name, "create_user")


@infino_tool(Toolset.RBAC, title="Get a user", read_only=True, destructive=False, idempotent=True)
async def get_user(ctx: Context, name: UserName) -> UserInfo:
    """A user's roles and version (never the password)."""
    answer = await client_of(ctx).request("GET", _user_path(name))
    return _user_info(name, _single(answer, name, "get_user"))


@infino_tool(Toolset.RBAC, title="Update a user", read_only=False, destructive=False, idempotent=True)
async def update_user(ctx: Context, name: UserName, config: UserConfig) -> Acknowledged:
    """Change a user's password and/or roles; only the given keys change."""
    answer = await _send(ctx, "PATCH", _user_path(name), "update_user", config)
    return Acknowledged.of(redact(answer) if isinstance(answer, dict) else answer)


@infino_tool(Toolset.RBAC, title="Delete a user", read_only=False, destructive=True, idempotent=True, confirm=True)
async def delete_user(ctx: Context, name: UserName) -> Acknowledged:
    """Delete a user; their keys stop working at once. Cannot be undone."""
    answer = await client_of(ctx).request("DELETE", _user_path(name))
    return Acknowledged.of(answer)


async def _by_name(
    ctx: Context, what: str, info: Callable[[str, Any], BaseModel], limit: int, offset: int
) -> tuple[list[Any], Page]:
    """One page of ``GET /users`` or ``/roles`` (a mapping of name to document), sorted by name."""
    answer = await client_of(ctx).request("GET", f"/{what}")
    if not isinstance(answer, dict):
        raise InfinoError(f"list_{what}: the service did not return a mapping of {what}; retry later.")
    items = [info(name, doc).model_dump() for name, doc in sorted(answer.items())]
    return page(
        items[offset:], offset=offset, limit=limit, max_bytes=settings_of(ctx).max_result_bytes, total=len(items)
    )


class UserList(BaseModel):
    users: list[UserInfo]
    page: Page


@infino_tool(Toolset.RBAC, title="List users", read_only=True, destructive=False, idempotent=True)
async def list_users(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> UserList:
    """List users with their roles, sorted by name."""
    kept, info = await _by_name(ctx, "users", _user_info, limit, offset)
    return UserList(users=[UserInfo(**u) for u in kept], page=info)


@infino_tool(Toolset.RBAC, title="Create a role", read_only=False, destructive=False, idempotent=False)
async def create_role(ctx: Context, name: RoleName, config: RoleConfig) -> Acknowledged:
    """Create a role: permissions on datasets, records (with field allow/deny/mask) or metadata. Assign it with update_user."""
    answer = await _send(ctx, "PUT", _role_path(name), "create_role", config)
    return Acknowledged.of(redact(answer) if isinstance(answer, dict) else answer)


@infino_tool(Toolset.RBAC, title="Get a role", read_only=True, destructive=False, idempotent=True)
async def get_role(ctx: Context, name: RoleName) -> RoleInfo:
    """A role's permissions."""
    answer = await client_of(ctx).request("GET", _role_path(name))
    return _role_info(name, _single(answer, name, "get_role"))


@infino_tool(Toolset.RBAC, title="Update a role", read_only=False, destructive=False, idempotent=True)
async def update_role(ctx: Context, name: RoleName, config: RoleConfig) -> Acknowledged:
    """Change a role's permissions (Permissions is replaced whole). Takes effect for every user holding the role."""
    answer = await _send(ctx, "PATCH", _role_path(name), "update_role", config)
    return Acknowledged.of(redact(answer) if isinstance(answer, dict) else answer)


@infino_tool(Toolset.RBAC, title="Delete a role", read_only=False, destructive=True, idempotent=True, confirm=True)
async def delete_role(ctx: Context, name: RoleName) -> Acknowledged:
    """Delete a role; take it off its users first (update_user), or the service may refuse. Cannot be undone."""
    answer = await client_of(ctx).request("DELETE", _role_path(name))
    return Acknowledged.of(answer)


class RoleList(BaseModel):
    roles: list[RoleInfo]
    page: Page


@infino_tool(Toolset.RBAC, title="List roles", read_only=True, destructive=False, idempotent=True)
async def list_roles(ctx: Context, limit: Limit = 100, offset: Offset = 0) -> RoleList:
    """List roles with their permissions, sorted by name."""
    kept, info = await _by_name(ctx, "roles", _role_info, limit, offset)
    return RoleList(roles=[RoleInfo(**r) for r in kept], page=info)


@infino_tool(
    Toolset.RBAC, title="Rotate a user's keys", read_only=False, destructive=True, idempotent=False, confirm=True
)
async def rotate_keys(ctx: Context, username: UserName) -> NewKeys:
    """Issue a new access/secret key pair for a user; the old pair stops working at once. Returns the new pair (shown only now)."""
    answer = await client_of(ctx).request("PATCH", f"{_user_path(username)}/keys")
    return _new_keys(answer, username, "rotate_keys")
