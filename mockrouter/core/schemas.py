"""The published JSON Schemas, compiled once, and request validation with precise paths.

Validation runs on every request, so the hot path asks a compiled ``jsonschema-rs`` validator
a yes/no question; only a request that fails is re-validated with ``jsonschema`` to pick the
most telling error (``best_match``) and its JSON path (``messages[1].role``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import orjson
from jsonschema.exceptions import best_match

from .resources import schemas_dir


def json_path(parts: Any) -> str:
    """``['messages', 1, 'role']`` → ``messages[1].role``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


@dataclass(slots=True)
class Violation:
    """Why an instance is invalid: the JSON path of the bad field and a message."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class Schema:
    """One schema file, compiled for both the fast check and the precise explanation."""

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        self.name = name
        self.document = document
        self._fast = jsonschema_rs.validator_for(document)

    @cached_property
    def _precise(self) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator(document_copy(self.document))

    def is_valid(self, instance: Any) -> bool:
        return self._fast.is_valid(instance)

    def violation(self, instance: Any) -> Violation | None:
        """None when valid, else the best single explanation."""
        if self._fast.is_valid(instance):
            return None
        error = best_match(self._precise.iter_errors(instance))
        if error is None:  # the two validators disagree; trust the fast one's verdict
            return Violation("", "invalid")
        path = json_path(error.absolute_path)
        return Violation(path, _message(error))

    def violations(self, instance: Any) -> list[Violation]:
        return [Violation(json_path(e.absolute_path), _message(e)) for e in self._precise.iter_errors(instance)]


def document_copy(document: dict[str, Any]) -> dict[str, Any]:
    return orjson.loads(orjson.dumps(document))


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return error.message
    message = error.message
    return message if len(message) <= 200 else message[:200] + "..."


class SchemaRegistry:
    """Every ``*.schema.json`` in ``schemas/``, by short name (``chat-request``, ...)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or schemas_dir()
        self.documents: dict[str, dict[str, Any]] = {}
        for path in sorted(self.folder.glob("*.schema.json")):
            self.documents[path.name[: -len(".schema.json")]] = orjson.loads(path.read_bytes())
        self._compiled: dict[str, Schema] = {}

    def __getitem__(self, name: str) -> Schema:
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = self._compiled[name] = Schema(name, self.documents[name])
        return compiled

    def compile_all(self) -> None:
        """Compile every schema now (server start-up), so no request pays for it."""
        for name in self.documents:
            self[name]

    def names(self) -> list[str]:
        return list(self.documents)

    def for_dialect(self, kind: str, dialect: str) -> Schema:
        return self[f"{kind}.{dialect}"]
