"""Parsing uploaded files (JSON, JSONL, CSV) into documents for ``POST /import/file``.

Pure functions, no I/O: ``detect_format`` picks the format for ``auto``,
``parse_documents`` yields ``(id, document)`` pairs or per-record errors, so
one bad line never fails the whole upload. CSV values are typed (integers,
floats, booleans); empty cells are left out of the document.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from infino_mcp.local.errors import ApiError

FORMATS = ("json", "jsonl", "csv", "auto")
_EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}


@dataclass(frozen=True)
class ParseError:
    """One record that could not be turned into a document."""

    location: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "reason": self.reason}


Parsed = tuple[str | None, dict[str, Any]] | ParseError


def detect_format(filename: str, data: bytes) -> str:
    """The format of an ``auto`` upload: from the file extension, else from the content."""
    lower = filename.lower()
    for ext, fmt in _EXTENSIONS.items():
        if lower.endswith(ext):
            return fmt
    head = data.lstrip()[:1]
    if head == b"[":
        return "json"
    if head == b"{":
        try:
            json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return "jsonl"
        return "json"
    return "csv"


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"The file is not UTF-8 text (invalid byte at offset {exc.start}).") from None


def _split_id(doc: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    doc_id = doc.pop("_id", None)
    return (None if doc_id is None else str(doc_id)), doc


def parse_documents(data: bytes, fmt: str) -> Iterator[Parsed]:
    """Documents (with the ``_id`` field, if any, as the id) or ParseErrors, in file order."""
    text = _decode(data)
    if fmt == "json":
        yield from _parse_json(text)
    elif fmt == "jsonl":
        yield from _parse_jsonl(text)
    elif fmt == "csv":
        yield from _parse_csv(text)
    else:
        raise ApiError(400, f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")


def _parse_json(text: str) -> Iterator[Parsed]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"The file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}. "
            "For one document per line use format=jsonl.",
        ) from None
    items = value if isinstance(value, list) else [value]
    for index, item in enumerate(items):
        if isinstance(item, dict):
            yield _split_id(item)
        else:
            yield ParseError(f"item {index}", f"expected a JSON object, got {type(item).__name__}")


def _parse_jsonl(text: str) -> Iterator[Parsed]:
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            yield ParseError(f"line {lineno}", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        if isinstance(item, dict):
            yield _split_id(item)
        else:
            yield ParseError(f"line {lineno}", f"expected a JSON object, got {type(item).__name__}")


def csv_value(cell: str) -> Any:
    """A CSV cell as a JSON value: int, float, bool, else the text (leading-zero codes stay text)."""
    text = cell.strip()
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    digits = text.lstrip("+-")
    if digits.isdigit() and not (len(digits) > 1 and digits.startswith("0")):
        return int(text)
    if any(c.isdigit() for c in text) and "_" not in text and not (digits[:1] == "0" and digits[1:2].isdigit()):
        try:
            number = float(text)
        except ValueError:
            return cell
        if number == number and number not in (float("inf"), float("-inf")):
            return number
    return cell


def _parse_csv(text: str) -> Iterator[Parsed]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if not header or not any(h.strip() for h in header):
        raise ApiError(400, "The CSV file has no header row; the first row must name the columns.")
    names = [h.strip() for h in header]
    if len(set(names)) != len(names) or "" in names:
        raise ApiError(400, "The CSV header must name every column once (found empty or repeated names).")
    for row in reader:
        if not row or not any(cell.strip() for cell in row):
            continue
        if len(row) > len(names):
            yield ParseError(f"line {reader.line_num}", f"{len(row)} cells but the header has {len(names)} columns")
            continue
        doc = {name: csv_value(cell) for name, cell in zip(names, row, strict=False) if cell.strip() != ""}
        yield _split_id(doc)
