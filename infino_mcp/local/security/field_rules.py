"""Field-level security: which fields of a record a caller may see, and which are masked.

``FieldRules`` is compiled from the ``Fields`` of the record-read permissions
that apply to one dataset and is applied to every row or document before it
leaves the endpoint. Field patterns are globs over dotted paths (``user.*``,
``*_token``); a pattern naming an object covers everything under it.

* Deny: the field is removed.
* Allow: only listed fields are kept (plus metadata keys such as ``_id``);
  when any applying permission has no Allow list, every field is allowed.
* Mask: the value is replaced (``redact`` -> ``"****"``, ``hash`` -> a stable
  SHA-256 prefix, ``remove`` -> the field is removed).

Rows may be flat (``{"user.name": ...}``, as SQL returns them) or nested
(``{"user": {"name": ...}}``, as documents are); ``_source`` (a dict or a JSON
string) is filtered too, so a whole get-document response can be passed in.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

MASK_TEXT = "****"
_REMOVE = object()
METADATA = frozenset({"_id", "_index", "_score", "_version", "_seq_no", "_primary_term", "_routing"})


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    """True when ``path`` or one of its parent objects matches a pattern."""
    parts = path.split(".")
    for i in range(1, len(parts) + 1):
        prefix = ".".join(parts[:i])
        if any(fnmatch.fnmatchcase(prefix, p) for p in patterns):
            return True
    return False


def _masked_value(value: Any, strategy: str) -> Any:
    if strategy == "remove":
        return _REMOVE
    if strategy == "hash":
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]
    return MASK_TEXT


@dataclass(frozen=True)
class FieldRules:
    """What one caller may see of one dataset's records (see the module docstring)."""

    allow: tuple[str, ...] | None = None
    deny: tuple[str, ...] = ()
    mask: tuple[tuple[str, str], ...] = field(default=())

    @property
    def identity(self) -> bool:
        """True when the rules change nothing (no Allow list, no Deny, no Mask)."""
        return self.allow is None and not self.deny and not self.mask

    def visible(self, path: str) -> bool:
        """Whether the field at dotted ``path`` is returned at all (masked fields are visible)."""
        return self.why_hidden(path) is None

    def why_hidden(self, path: str) -> str | None:
        """Which rule hides ``path`` (a short phrase for messages), None when it is visible."""
        if matches(path, self.deny):
            return "Deny rule"
        if path in METADATA:
            return None
        if self.allow is not None and not matches(path, self.allow) and not self._leads_to_allowed(path):
            return "not in the Allow list"
        return "Mask rule: remove" if self.mask_strategy(path) == "remove" else None

    def lowered(self) -> FieldRules:
        """The same rules with lower-cased patterns (to compare names whose case the engine may fold)."""
        return FieldRules(
            allow=None if self.allow is None else tuple(p.lower() for p in self.allow),
            deny=tuple(p.lower() for p in self.deny),
            mask=tuple((p.lower(), s) for p, s in self.mask),
        )

    def mask_strategy(self, path: str) -> str | None:
        """The mask applied to ``path`` (``redact``, ``hash``, ``remove``) or None."""
        for pattern, strategy in self.mask:
            if matches(path, (pattern,)):
                return strategy
        return None

    def readable(self, path: str) -> bool:
        """Visible and not masked: the caller may filter, sort or group by this field."""
        return self.visible(path) and self.mask_strategy(path) is None

    def _leads_to_allowed(self, path: str) -> bool:
        # An object with allowed children is kept (Allow: ["user.name"] keeps "user").
        parts = path.split(".")
        for pattern in self.allow or ():
            pattern_parts = pattern.split(".")
            if len(pattern_parts) > len(parts) and all(
                fnmatch.fnmatchcase(part, pp) for part, pp in zip(parts, pattern_parts, strict=False)
            ):
                return True
        return False

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``row`` without denied fields and with masked values replaced."""
        if self.identity:
            return row
        return self._walk(row, "")

    def _walk(self, obj: dict[str, Any], base: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in obj.items():
            path = f"{base}{key}"
            if not base and key == "_source":
                out[key] = self._source(value)
                continue
            if not base and key in METADATA and not isinstance(value, (dict, list)):
                # Metadata (_id, _index, _score...) is kept by Allow lists; Deny still applies.
                if not matches(path, self.deny):
                    out[key] = value
                continue
            result = self._value(path, value)
            if result is not _REMOVE:
                out[key] = result
        return out

    def _value(self, path: str, value: Any) -> Any:
        if matches(path, self.deny):
            return _REMOVE
        if self.allow is not None and not matches(path, self.allow):
            if not self._leads_to_allowed(path):
                return _REMOVE
            if isinstance(value, dict):
                return self._walk(value, path + ".") or _REMOVE
            if isinstance(value, list):
                kept = [self._walk(v, path + ".") for v in value if isinstance(v, dict)]
                return [v for v in kept if v] or _REMOVE
            return _REMOVE
        strategy = self.mask_strategy(path)
        if strategy is not None:
            return _masked_value(value, strategy)
        if isinstance(value, dict) and value:
            return self._walk(value, path + ".") or _REMOVE
        if isinstance(value, list):
            # An array of objects: each element's fields are "path.<field>", as in Elasticsearch.
            return [self._walk(v, path + ".") if isinstance(v, dict) else v for v in value]
        return value

    def _source(self, value: Any) -> Any:
        if isinstance(value, dict):
            return self._walk_source(value)
        if isinstance(value, str):
            try:
                parsed = json.loads(value)
            except json.JSONDecodeError:
                return value
            if isinstance(parsed, dict):
                return json.dumps(self._walk_source(parsed), ensure_ascii=False)
        return value

    def _walk_source(self, doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in doc.items():
            result = self._value(key, value)
            if result is not _REMOVE:
                out[key] = result
        return out


IDENTITY = FieldRules()


def compile_rules(statements: list[dict[str, Any]]) -> FieldRules:
    """Combine the ``Fields`` of the record-read statements that apply to one dataset.

    ``statements`` are canonical permission dicts (see ``rbac_docs``), Allow and
    Deny effects mixed; the caller has already checked that reading is allowed.
    """
    allow: set[str] = set()
    unrestricted = False
    deny: set[str] = set()
    mask: dict[str, str] = {}
    for statement in statements:
        fields = statement.get("Fields") or {}
        if statement["Effect"] == "Allow":
            if "Allow" in fields:
                allow.update(fields["Allow"])
            else:
                unrestricted = True
        deny.update(fields.get("Deny", []))
        masks = fields.get("Mask", [])
        items = masks.items() if isinstance(masks, dict) else ((name, "redact") for name in masks)
        for pattern, strategy in items:
            # When two roles mask the same field differently, the stronger one wins.
            if _strength(strategy) > _strength(mask.get(pattern)):
                mask[pattern] = strategy
    return FieldRules(
        allow=None if unrestricted else tuple(sorted(allow)),
        deny=tuple(sorted(deny)),
        mask=tuple(sorted(mask.items())),
    )


def _strength(strategy: str | None) -> int:
    return {None: 0, "hash": 1, "redact": 2, "remove": 3}[strategy]
