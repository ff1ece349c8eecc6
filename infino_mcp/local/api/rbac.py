"""RBAC routes: users, roles and key rotation.

Bodies are JSON, or YAML when the content type says so (``application/yaml``,
as the official SDK sends a YAML string). Only callers with the built-in
``admin`` role manage users and roles; any user may read their own user
document, change their own password and rotate their own keys, and read the
roles they hold. Passwords are never returned.
"""

from __future__ import annotations

import functools
from typing import Any

import anyio
import yaml
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from infino_mcp.limits import LimitError, load_yaml
from infino_mcp.local.api.http import json_response, read_json, services
from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.rbac import Principal, Rbac, hash_password, role_not_found, user_not_found
from infino_mcp.local.security.role_documents import check_name, validate_role, validate_user

_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")


async def read_document(request: Request) -> Any:
    """The body as JSON or YAML (by content type); 400 with the error position when invalid."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in _YAML_TYPES:
        return await read_json(request)
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "The request body is empty; send a YAML document.")
    try:
        return load_yaml(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "The YAML body is not valid UTF-8.") from None
    except LimitError as exc:
        raise ApiError(400, str(exc)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ApiError(400, f"The body is not valid YAML: {problem}{where}.") from None


def _rbac(request: Request) -> tuple[Rbac, Principal]:
    return services(request).rbac, request.state.principal


def _name(request: Request, kind: str) -> str:
    return check_name(kind, request.path_params["name"])


def _updated(name: str, field: str, value: Any, stored: dict[str, Any]) -> Response:
    """The answer to a user or role update: its name, the changed ``field`` and its timestamps."""
    return json_response(
        {"name": name, field: value, "created_at": stored["created_at"], "updated_at": stored["updated_at"]}
    )


def _user_view(rbac: Rbac, doc: dict[str, Any]) -> dict[str, Any]:
    return {"Version": doc["Version"], "Roles": list(doc["Roles"]), "account_id": rbac.account_id}


def _role_view(doc: dict[str, Any]) -> dict[str, Any]:
    return {"Version": doc["Version"], "Permissions": doc["Permissions"]}


def _self_or_admin(rbac: Rbac, principal: Principal, name: str, what: str) -> None:
    if principal.user != name:
        rbac.require_admin(principal, what)


async def _hash_off_loop(doc: dict[str, Any]) -> dict[str, Any]:
    """Replace ``Password`` by its slow PBKDF2 hash, computed in a worker thread."""
    password = doc.pop("Password", None)
    if password:
        doc["password_hash"] = await anyio.to_thread.run_sync(hash_password, password)
    return doc


async def create_user(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "user")
    rbac.require_admin(principal, f"create user {name!r}")
    doc = await _hash_off_loop(validate_user(await read_document(request), partial=False))
    access_key, secret_key = await anyio.to_thread.run_sync(rbac.create_user, name, doc)
    return json_response(
        {"account_id": rbac.account_id, "access_key": access_key, "secret_key": secret_key, "username": name}
    )


async def get_user(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "user")
    _self_or_admin(rbac, principal, name, f"read user {name!r}")
    doc = rbac.user(name)
    if doc is None:
        raise user_not_found(name)
    return json_response({name: _user_view(rbac, doc)})


async def update_user(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "user")
    doc = validate_user(await read_document(request), partial=True)
    if not principal.is_admin and (principal.user != name or "Roles" in doc):
        what = f"change the roles of user {name!r}" if "Roles" in doc else f"update user {name!r}"
        rbac.require_admin(principal, what)
    updated = await anyio.to_thread.run_sync(rbac.update_user, name, await _hash_off_loop(doc))
    return _updated(name, "roles", updated["Roles"], updated)


async def _delete(request: Request, kind: str) -> Response:
    """Delete the user or role (``kind``) the path names; only an admin may."""
    rbac, principal = _rbac(request)
    name = _name(request, kind)
    rbac.require_admin(principal, f"delete {kind} {name!r}")
    await anyio.to_thread.run_sync(rbac.delete_user if kind == "user" else rbac.delete_role, name)
    return json_response({"acknowledged": True})


async def delete_user(request: Request) -> Response:
    return await _delete(request, "user")


async def list_users(request: Request) -> Response:
    rbac, principal = _rbac(request)
    rbac.require_admin(principal, "list users")
    return json_response({name: _user_view(rbac, doc) for name, doc in sorted(rbac.users().items())})


async def rotate_keys(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "user")
    _self_or_admin(rbac, principal, name, f"rotate the keys of user {name!r}")
    access_key, secret_key = await anyio.to_thread.run_sync(rbac.rotate_keys, name)
    return json_response({"access_key": access_key, "secret_key": secret_key})


async def create_role(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "role")
    rbac.require_admin(principal, f"create role {name!r}")
    role = validate_role(await read_document(request))
    await anyio.to_thread.run_sync(functools.partial(rbac.put_role, name, role, create=True))
    return json_response({"acknowledged": True})


async def get_role(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "role")
    if name not in principal.roles:
        rbac.require_admin(principal, f"read role {name!r}")
    doc = rbac.role(name)
    if doc is None:
        raise role_not_found(name)
    return json_response({name: _role_view(doc)})


async def update_role(request: Request) -> Response:
    rbac, principal = _rbac(request)
    name = _name(request, "role")
    rbac.require_admin(principal, f"update role {name!r}")
    raw = await read_document(request)
    current = rbac.role(name)
    if current is None:
        raise role_not_found(name)
    doc = validate_role(raw)
    if isinstance(raw, dict) and not any(str(k).lower() == "permissions" for k in raw):
        doc["Permissions"] = current["Permissions"]
    stored = await anyio.to_thread.run_sync(functools.partial(rbac.put_role, name, doc, create=False))
    return _updated(name, "permissions", stored["Permissions"], stored)


async def delete_role(request: Request) -> Response:
    return await _delete(request, "role")


async def list_roles(request: Request) -> Response:
    rbac, principal = _rbac(request)
    rbac.require_admin(principal, "list roles")
    return json_response({name: _role_view(doc) for name, doc in sorted(rbac.roles().items())})


routes = [
    Route("/users", list_users, methods=["GET"]),
    Route("/roles", list_roles, methods=["GET"]),
    Route("/user/{name}/keys", rotate_keys, methods=["PATCH"]),
    Route("/user/{name}", create_user, methods=["PUT"]),
    Route("/user/{name}", get_user, methods=["GET"]),
    Route("/user/{name}", update_user, methods=["PATCH"]),
    Route("/user/{name}", delete_user, methods=["DELETE"]),
    Route("/role/{name}", create_role, methods=["PUT"]),
    Route("/role/{name}", get_role, methods=["GET"]),
    Route("/role/{name}", update_role, methods=["PATCH"]),
    Route("/role/{name}", delete_role, methods=["DELETE"]),
]
