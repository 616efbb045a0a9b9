"""Request bodies: read (bounded: ``read_body``), parsed as a JSON object, validated against a schema.

Every POST route of the router API takes its body through here, so a bad body gets the
same 400 wherever it is sent, and the journal keeps what the client sent either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from ..core.schemas import json_type
from ..errors import RequestError
from ..wire.asgi import read_body

if TYPE_CHECKING:
    from ..core.schemas import Schema
    from ..state.journal import JournalEntry

__all__ = ["parse_json", "read_body", "validate"]


def _content_type_ok(value: str | None) -> bool:
    if value == "application/json":  # what nearly every client sends
        return True
    if value is None:
        return False
    return value.split(";", 1)[0].strip().lower() == "application/json"


def parse_json(raw: bytes, headers: dict[str, str], entry: JournalEntry) -> dict[str, Any]:
    """The JSON object in the body (recorded in ``entry``), or a RequestError saying why not."""
    if _content_type_ok(headers.get("content-type")):  # fast path: a good request
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = None
        if type(body) is dict:
            entry.raw_body = raw
            return body
    return _explain_bad_body(raw, headers, entry)


def _explain_bad_body(raw: bytes, headers: dict[str, str], entry: JournalEntry) -> dict[str, Any]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        entry.body = raw.decode("utf-8", errors="replace")
        raise RequestError(400, f"Request body is not valid UTF-8 (byte {exc.start}).") from None
    problem = None
    body: Any = None
    content_type = headers.get("content-type")
    if not raw.strip():
        problem = "Request body is empty; expected a JSON object."
    elif content_type is None:
        problem = "Content-Type header is missing; send Content-Type: application/json."
    elif not _content_type_ok(content_type):
        problem = f"Content-Type must be application/json, not {orjson.dumps(content_type).decode()}."
    else:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            problem = f"Malformed JSON in request body: {exc}"
    if problem is not None:
        entry.body = text
        raise RequestError(400, problem)
    if not isinstance(body, dict):
        entry.body = body
        raise RequestError(400, f"Request body must be a JSON object, got {json_type(body)}.")
    entry.raw_body = raw
    return body


def validate(schema: Schema, body: dict[str, Any]) -> None:
    """A 400 naming the first field of ``body`` that ``schema`` refuses."""
    violation = schema.violation(body)
    if violation is not None:
        raise RequestError.invalid(violation.field, violation.problem)
