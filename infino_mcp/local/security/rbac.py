"""Users, roles and access keys of the local endpoint, and the permission checks.

State lives in one directory (mode 0700) as JSON files written atomically with
mode 0600: ``users.json``, ``roles.json``, ``keys.json`` (the secret keys must
be stored in clear because SigV4 verification recomputes the HMAC) and
``meta.json`` (account id, bootstrap user). Passwords are stored only as
salted PBKDF2 hashes and are never returned.

Reads (key lookups, principals, permission checks) see a snapshot of each file that
a change replaces whole once it is on disk: they take no lock and never wait for a
write, so they are safe on the event loop. Changes are serialised by one lock and
fsync their file: async code runs them on a worker thread.

On first start a bootstrap user ``admin`` is created with the built-in role
``admin`` and a fresh key pair; ``bootstrap_credentials()`` returns it so the
local client can sign its own requests.

Authorization model:

* A user holding the built-in ``admin`` role may do everything, including
  managing users and roles (``Principal.is_admin``). Managing RBAC is not
  expressible as a permission statement: only admins may do it (403 otherwise),
  except that every user may read their own user document and rotate their own
  keys.
* Otherwise a request is allowed when some statement of the user's roles with
  ``Effect: Allow`` names the resource type and action and a ``Resources`` glob
  matches the dataset, and no ``Effect: Deny`` statement (without ``Fields``)
  matches. Deny wins. A Deny statement *with* ``Fields`` only hides or masks
  those fields (see ``rbac_fields``).
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import secrets
import string
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infino_mcp.local.clock import now_iso
from infino_mcp.local.errors import ApiError
from infino_mcp.local.security.field_rules import IDENTITY, FieldRules, compile_rules
from infino_mcp.local.security.role_documents import ACTIONS, DEFAULT_VERSION, RESOURCE_TYPES

ADMIN_ROLE = "admin"
BOOTSTRAP_USER = "admin"
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_PBKDF2_ROUNDS = 200_000


@dataclass(frozen=True)
class Principal:
    """The caller of one request: the user name, their roles, and whether they are an admin."""

    user: str
    roles: tuple[str, ...] = ()
    is_admin: bool = False


def user_not_found(name: str) -> ApiError:
    """The 404 for a user that does not exist, naming the tool that lists those that do."""
    return ApiError(404, f"User {name!r} not found; list_users lists the users that exist.")


def role_not_found(name: str) -> ApiError:
    """The 404 for a role that does not exist, naming the tool that lists those that do."""
    return ApiError(404, f"Role {name!r} not found; list_roles lists the roles that exist.")


def admin_role_document() -> dict[str, Any]:
    """The built-in admin role: every action on every resource type and dataset."""
    return {
        "Version": DEFAULT_VERSION,
        "Permissions": [
            {"Effect": "Allow", "ResourceType": rt, "Actions": list(ACTIONS), "Resources": ["*"], "Fields": {}}
            for rt in RESOURCE_TYPES
        ],
    }


def _new_key_pair() -> tuple[str, str]:
    access = "IAK" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(17))
    secret = base64.b64encode(secrets.token_bytes(30)).decode()
    return access, secret


def hash_password(password: str) -> str:
    """Salted PBKDF2-SHA256 (slow on purpose: callers on an event loop run it in a thread)."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${_PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


class _PrivateJson:
    """One JSON object in a file only the owner can read (0600), replaced atomically.

    ``data`` is a snapshot: never changed in place, ``replace`` swaps in the next one once it is durable."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self.data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}

    def replace(self, data: dict[str, Any]) -> None:
        tmp = self._path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, self._path)
        self.data = data

    def put(self, key: str, value: Any) -> None:
        self.replace({**self.data, key: value})


def read_bootstrap_credentials(path: Path) -> tuple[str, str]:
    """(access key, secret key) of the bootstrap admin, read from the files the owner of the data
    directory keeps under ``path`` (read only: a process that is not the owner signs with them)."""
    user = _PrivateJson(path / "meta.json").data.get("bootstrap_user", BOOTSTRAP_USER)
    for access, entry in _PrivateJson(path / "keys.json").data.items():
        if entry.get("user") == user:
            return access, entry["secret"]
    raise ApiError(401, f"No key for the bootstrap user {user!r} under {path}: restart the process serving it.")


class Rbac:
    """Users, roles, keys and permission checks for one data directory (see module docstring)."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, 0o700)
        self._lock = threading.RLock()
        self._users = _PrivateJson(path / "users.json")
        self._roles = _PrivateJson(path / "roles.json")
        self._keys = _PrivateJson(path / "keys.json")
        self._meta = _PrivateJson(path / "meta.json")
        with self._lock:
            self._bootstrap()

    def _bootstrap(self) -> None:
        if "account_id" not in self._meta.data:
            account = "".join(secrets.choice(string.digits) for _ in range(12))
            self._meta.replace({**self._meta.data, "account_id": account, "bootstrap_user": BOOTSTRAP_USER})
        if ADMIN_ROLE not in self._roles.data:
            self._roles.put(ADMIN_ROLE, {**admin_role_document(), "created_at": now_iso(), "builtin": True})
        user = self._meta.data["bootstrap_user"]
        if user not in self._users.data:
            now = now_iso()
            self._users.put(
                user,
                {
                    "Version": DEFAULT_VERSION,
                    "Roles": [ADMIN_ROLE],
                    "password_hash": None,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        if self._key_of(user) is None:
            self._issue_key(user)

    # -- keys ---------------------------------------------------------------

    @property
    def account_id(self) -> str:
        return self._meta.data["account_id"]

    @property
    def bootstrap_user(self) -> str:
        return self._meta.data["bootstrap_user"]

    def _key_of(self, user: str) -> tuple[str, str] | None:
        for access, entry in self._keys.data.items():
            if entry["user"] == user:
                return access, entry["secret"]
        return None

    def _issue_key(self, user: str) -> tuple[str, str]:
        """Replace the user's key pair with a new one (the old one stops working at once)."""
        access, secret = _new_key_pair()
        keys = {k: v for k, v in self._keys.data.items() if v["user"] != user}
        keys[access] = {"secret": secret, "user": user, "created_at": now_iso()}
        self._keys.replace(keys)
        return access, secret

    def lookup_key(self, access_key: str) -> tuple[str, str] | None:
        """(secret key, user name) for an access key, or None when it is unknown."""
        entry = self._keys.data.get(access_key)
        return None if entry is None else (entry["secret"], entry["user"])

    def bootstrap_credentials(self) -> tuple[str, str]:
        """(access key, secret key) of the bootstrap admin user."""
        found = self._key_of(self.bootstrap_user)
        if found is not None:
            return found
        with self._lock:
            return self._key_of(self.bootstrap_user) or self._issue_key(self.bootstrap_user)

    def rotate_keys(self, user: str) -> tuple[str, str]:
        with self._lock:
            if user not in self._users.data:
                raise user_not_found(user)
            return self._issue_key(user)

    # -- users and roles (documents are validated by rbac_docs) ---------------

    def user(self, name: str) -> dict[str, Any] | None:
        found = self._users.data.get(name)
        return None if found is None else dict(found)

    def users(self) -> dict[str, dict[str, Any]]:
        return {name: dict(doc) for name, doc in self._users.data.items()}

    def role(self, name: str) -> dict[str, Any] | None:
        found = self._roles.data.get(name)
        return None if found is None else json.loads(json.dumps(found))

    def roles(self) -> dict[str, dict[str, Any]]:
        return json.loads(json.dumps(self._roles.data))

    def _check_roles_exist(self, roles: list[str]) -> None:
        missing = [r for r in roles if r not in self._roles.data]
        if missing:
            raise ApiError(400, f"Unknown role(s): {', '.join(missing)}; create them with create_role first.")

    def create_user(self, name: str, doc: dict[str, Any]) -> tuple[str, str]:
        """Store a new user (canonical document) and return their new (access key, secret key)."""
        with self._lock:
            if name in self._users.data:
                raise ApiError(409, f"User {name!r} already exists; change it with update_user.")
            self._check_roles_exist(doc["Roles"])
            now = now_iso()
            self._users.put(
                name,
                {
                    "Version": doc["Version"],
                    "Roles": doc["Roles"],
                    "password_hash": _password_hash(doc),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            return self._issue_key(name)

    def update_user(self, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            stored = self._users.data.get(name)
            if stored is None:
                raise user_not_found(name)
            current = dict(stored)
            if "Roles" in doc:
                self._check_roles_exist(doc["Roles"])
                if name == self.bootstrap_user and ADMIN_ROLE not in doc["Roles"]:
                    raise ApiError(400, f"The bootstrap user {name!r} must keep the {ADMIN_ROLE!r} role.")
                current["Roles"] = doc["Roles"]
            if "Version" in doc:
                current["Version"] = doc["Version"]
            if doc.get("Password") or doc.get("password_hash"):
                current["password_hash"] = _password_hash(doc)
            current["updated_at"] = now_iso()
            self._users.put(name, current)
            return dict(current)

    def delete_user(self, name: str) -> None:
        with self._lock:
            if name not in self._users.data:
                raise user_not_found(name)
            if name == self.bootstrap_user:
                raise ApiError(
                    400, f"The bootstrap user {name!r} cannot be deleted: the local client signs its requests with it."
                )
            self._users.replace({k: v for k, v in self._users.data.items() if k != name})
            self._keys.replace({k: v for k, v in self._keys.data.items() if v["user"] != name})

    def put_role(self, name: str, doc: dict[str, Any], *, create: bool) -> dict[str, Any]:
        """Create (``create=True``, 409 if it exists) or replace a role's document."""
        with self._lock:
            current = self._roles.data.get(name)
            if create and current is not None:
                raise ApiError(409, f"Role {name!r} already exists; change it with update_role.")
            if not create and current is None:
                raise role_not_found(name)
            if current is not None and current.get("builtin"):
                raise ApiError(400, f"The built-in role {name!r} cannot be changed.")
            now = now_iso()
            stored = {**doc, "created_at": current["created_at"] if current else now, "updated_at": now}
            self._roles.put(name, stored)
            return json.loads(json.dumps(stored))

    def delete_role(self, name: str) -> None:
        with self._lock:
            current = self._roles.data.get(name)
            if current is None:
                raise role_not_found(name)
            if current.get("builtin"):
                raise ApiError(400, f"The built-in role {name!r} cannot be deleted.")
            holders = sorted(u for u, d in self._users.data.items() if name in d["Roles"])
            if holders:
                raise ApiError(
                    409, f"Role {name!r} is assigned to user(s) {', '.join(holders)}; remove it from them first."
                )
            self._roles.replace({k: v for k, v in self._roles.data.items() if k != name})

    # -- authorization ------------------------------------------------------------

    def principal(self, user: str) -> Principal:
        """The caller object stored on each request (roles as they are now)."""
        doc = self._users.data.get(user)
        roles = tuple(doc["Roles"]) if doc else ()
        return Principal(user=user, roles=roles, is_admin=ADMIN_ROLE in roles)

    def _statements(self, principal: Principal) -> list[tuple[str, dict[str, Any]]]:
        roles = self._roles.data
        return [
            (role, statement)
            for role in principal.roles
            for statement in (roles.get(role) or {}).get("Permissions", [])
        ]

    def authorize(self, principal: Principal, resource_type: str, action: str, dataset: str | None) -> None:
        """Return when allowed; raise ApiError(403) naming the user, action, resource type and dataset.

        ``dataset=None`` asks whether the action is allowed on some dataset (e.g.
        listing datasets; callers then filter per dataset).
        """
        if principal.is_admin:
            return
        allowing = None
        for role, statement in self._statements(principal):
            if statement["ResourceType"] != resource_type:
                continue
            if action not in statement["Actions"] and "*" not in statement["Actions"]:
                continue
            if statement["Effect"] == "Deny":
                if statement.get("Fields"):
                    continue
                if _covers(statement["Resources"], dataset, everything=True):
                    raise ApiError(403, _denied(principal, resource_type, action, dataset, f"role {role!r} denies it"))
            elif _covers(statement["Resources"], dataset, everything=False):
                allowing = role
        if allowing is None:
            roles = ", ".join(principal.roles) or "none"
            raise ApiError(
                403, _denied(principal, resource_type, action, dataset, f"none of the user's roles ({roles}) allows it")
            )

    def require_admin(self, principal: Principal, what: str) -> None:
        """403 unless the caller holds the built-in admin role (managing users, roles, keys)."""
        if not principal.is_admin:
            raise ApiError(
                403, f"User {principal.user!r} may not {what}: managing users and roles needs the {ADMIN_ROLE!r} role."
            )

    def field_rules(self, principal: Principal, dataset: str) -> FieldRules:
        """The field rules for reading records of ``dataset`` (identity for admins)."""
        if principal.is_admin:
            return IDENTITY
        statements = [
            statement
            for _, statement in self._statements(principal)
            if statement["ResourceType"] == "record"
            and ("read" in statement["Actions"] or "*" in statement["Actions"])
            and _covers(statement["Resources"], dataset, everything=False)
            and (statement["Effect"] == "Allow" or statement.get("Fields"))
        ]
        return compile_rules(statements)


def _password_hash(doc: dict[str, Any]) -> str | None:
    """The stored form of a document's password: precomputed (``password_hash``) or hashed now."""
    if doc.get("password_hash"):
        return doc["password_hash"]
    return hash_password(doc["Password"]) if doc.get("Password") else None


def _covers(resources: list[str], dataset: str | None, *, everything: bool) -> bool:
    """Whether the globs cover ``dataset``; for None, whether they cover all (Deny) or some (Allow) datasets."""
    if dataset is None:
        return "*" in resources if everything else bool(resources)
    return any(fnmatch.fnmatchcase(dataset, pattern) for pattern in resources)


def _denied(principal: Principal, resource_type: str, action: str, dataset: str | None, why: str) -> str:
    target = f"dataset {dataset!r}" if dataset is not None else "any dataset"
    return f"Permission denied: user {principal.user!r} may not {action} {resource_type} on {target}; {why}."
