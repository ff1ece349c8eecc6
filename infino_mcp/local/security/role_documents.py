"""Validation of RBAC documents (roles and users), as users write them in JSON or YAML.

A role is ``{Version, Permissions: [{Effect, ResourceType, Actions, Resources,
Fields: {Allow, Deny, Mask}}]}``; a user is ``{Version, Password, Roles}``.
Key names are matched case-insensitively (``resource_type`` and
``resourcetype`` are accepted for ``ResourceType``) and stored in their
canonical spelling, so ``get_role`` returns what the service would. Anything
unknown is refused with a 400 that names the offending key and what is allowed,
because a silently ignored typo in a permission document is a security bug.
"""

from __future__ import annotations

import datetime as _dt
import re
from typing import Any

from infino_mcp.local.errors import ApiError, shown

RESOURCE_TYPES = ("metadata", "dataset", "record")
ACTIONS = ("read", "write", "create", "delete")
EFFECTS = ("Allow", "Deny")
MASK_STRATEGIES = ("redact", "remove", "hash")
DEFAULT_VERSION = "2025-01-01"

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")

_ROLE_KEYS = {"version": "Version", "permissions": "Permissions"}
_USER_KEYS = {"version": "Version", "password": "Password", "roles": "Roles"}
_PERMISSION_KEYS = {
    "effect": "Effect",
    "resourcetype": "ResourceType",
    "actions": "Actions",
    "resources": "Resources",
    "fields": "Fields",
}
_FIELDS_KEYS = {"allow": "Allow", "deny": "Deny", "mask": "Mask"}


def check_name(kind: str, name: str) -> str:
    """A user or role name: 1-64 characters, letters, digits and ``_ . @ + -``."""
    if not _NAME_RE.match(name):
        raise ApiError(
            400,
            f"Invalid {kind} name {shown(name)}: use 1-64 characters (letters, digits, '_', '.', '@', '+', '-'), "
            "starting with a letter or digit.",
        )
    return name


def _canonical_keys(doc: Any, allowed: dict[str, str], where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ApiError(400, f"{where} must be a mapping (object), not {type(doc).__name__}.")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        canonical = allowed.get(str(key).replace("_", "").lower())
        if canonical is None:
            raise ApiError(400, f"Unknown key {shown(key)} in {where}; allowed keys: {', '.join(allowed.values())}.")
        out[canonical] = value
    return out


def _version(value: Any) -> str:
    # YAML reads an unquoted 2025-01-01 as a date.
    if isinstance(value, _dt.date):
        return value.isoformat()
    if value is None:
        return DEFAULT_VERSION
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ApiError(400, f"Version must be a string such as {DEFAULT_VERSION!r}, not {type(value).__name__}.")


def _string_list(value: Any, where: str, *, allow_single: bool = True) -> list[str]:
    if isinstance(value, str) and allow_single:
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ApiError(400, f"{where} must be a list of non-empty strings.")
    return list(value)


def _fields(value: Any, where: str, effect: str) -> dict[str, Any]:
    if value is None:
        return {}
    fields = _canonical_keys(value, _FIELDS_KEYS, where)
    out: dict[str, Any] = {}
    if "Allow" in fields:
        if effect == "Deny":
            raise ApiError(400, f"{where}.Allow has no meaning in a Deny statement; list the fields under Deny.")
        out["Allow"] = _string_list(fields["Allow"], f"{where}.Allow")
    if "Deny" in fields:
        out["Deny"] = _string_list(fields["Deny"], f"{where}.Deny")
    if "Mask" in fields:
        mask = fields["Mask"]
        if isinstance(mask, dict):
            for field, strategy in mask.items():
                if not isinstance(field, str) or strategy not in MASK_STRATEGIES:
                    raise ApiError(
                        400,
                        f"{where}.Mask[{shown(field)}] is {shown(strategy)}; use one of {', '.join(MASK_STRATEGIES)}.",
                    )
            out["Mask"] = dict(mask)
        else:
            out["Mask"] = _string_list(mask, f"{where}.Mask")
    return out


def _choice(value: Any, allowed: tuple[str, ...], where: str, *, fold: bool) -> str:
    text = str(value) if isinstance(value, str) else None
    for option in allowed:
        if text is not None and (text.lower() == option.lower() if fold else text == option):
            return option
    raise ApiError(400, f"{where} is {shown(value)}; allowed values: {', '.join(allowed)}.")


def _permission(doc: Any, where: str) -> dict[str, Any]:
    perm = _canonical_keys(doc, _PERMISSION_KEYS, where)
    effect = _choice(perm.get("Effect", "Allow"), EFFECTS, f"{where}.Effect", fold=True)
    if "ResourceType" not in perm:
        raise ApiError(400, f"{where} needs a ResourceType ({', '.join(RESOURCE_TYPES)}).")
    resource_type = _choice(perm["ResourceType"], RESOURCE_TYPES, f"{where}.ResourceType", fold=True)
    if "Actions" not in perm:
        raise ApiError(400, f"{where} needs Actions (a list of {', '.join(ACTIONS)}, or '*').")
    actions = []
    for i, action in enumerate(_string_list(perm["Actions"], f"{where}.Actions")):
        actions.append("*" if action == "*" else _choice(action, ACTIONS, f"{where}.Actions[{i}]", fold=True))
    resources = _string_list(perm.get("Resources", ["*"]), f"{where}.Resources")
    return {
        "Effect": effect,
        "ResourceType": resource_type,
        "Actions": actions,
        "Resources": resources,
        "Fields": _fields(perm.get("Fields"), f"{where}.Fields", effect),
    }


def validate_role(doc: Any) -> dict[str, Any]:
    """The role document in canonical form; ApiError(400) naming the first problem."""
    if doc is None:
        raise ApiError(400, "The role document is empty; send {Version, Permissions: [...]}.")
    role = _canonical_keys(doc, _ROLE_KEYS, "the role document")
    permissions = role.get("Permissions", [])
    if permissions is None:
        permissions = []
    if not isinstance(permissions, list):
        raise ApiError(400, "Permissions must be a list of permission statements.")
    return {
        "Version": _version(role.get("Version")),
        "Permissions": [_permission(p, f"Permissions[{i}]") for i, p in enumerate(permissions)],
    }


def validate_user(doc: Any, *, partial: bool) -> dict[str, Any]:
    """The user document in canonical form (only the keys given when ``partial``)."""
    if doc is None:
        raise ApiError(400, "The user document is empty; send {Version, Password, Roles: [...]}.")
    user = _canonical_keys(doc, _USER_KEYS, "the user document")
    out: dict[str, Any] = {}
    if "Version" in user or not partial:
        out["Version"] = _version(user.get("Version"))
    if "Password" in user:
        password = user["Password"]
        if not isinstance(password, str) or len(password) < 8:
            raise ApiError(400, "Password must be a string of at least 8 characters.")
        out["Password"] = password
    if "Roles" in user or not partial:
        roles = user.get("Roles") or []
        out["Roles"] = _string_list(roles, "Roles")
    return out
