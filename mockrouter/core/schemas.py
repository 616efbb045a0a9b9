"""The published JSON Schemas, each compiled on first use, and validation with precise paths.

Validation runs on every request, so the hot path asks a compiled ``jsonschema-rs`` validator
a yes/no question; only a request that fails is re-validated with ``jsonschema`` to pick the
most telling error (``best_match``), the JSON path of the field it is about
(``messages[1].role``) and what is wrong with it, in JSON terms
(``expected string or array, got null``). ``jsonschema`` (~4 MB of memory) is imported only
then: a server that is never sent a bad body never loads it. A schema file is read and
compiled when first asked for, so a server keeps only those of the surfaces it answers.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema_rs
import orjson

from .resources import schemas_dir

if TYPE_CHECKING:
    import jsonschema

#: Object keys written ``.key`` in a JSON path; any other key is written ``["key"]``.
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_\-]+")
#: The longest string a message quotes whole.
_QUOTED_CHARS = 60
#: The most ``enum`` values a message lists.
_LISTED_VALUES = 12


def json_path(parts: Iterable[Any]) -> str:
    """``['messages', 1, 'role']`` → ``messages[1].role``: the notation the OpenAI API uses
    in an error's ``param``. A key that is not made of letters, digits, ``_`` and ``-`` is
    written as a JSON string in brackets (``metadata["a.b"]``), so the path stays unambiguous."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(str(part), ensure_ascii=False)}]"
    return out


def json_type(value: Any) -> str:
    """The JSON type name of a decoded JSON value: ``null``, ``boolean``, ``integer``,
    ``number``, ``string``, ``array`` or ``object``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__  # not from JSON; nothing better to say


def json_value(value: Any) -> str:
    """A scalar as JSON text (long strings cut, with ``...``); an array or object by its type."""
    if isinstance(value, str):
        if len(value) > _QUOTED_CHARS:
            value = value[: _QUOTED_CHARS - 3] + "..."
        return json.dumps(value, ensure_ascii=False)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json_type(value)


@dataclass(slots=True)
class Violation:
    """Why an instance is invalid.

    ``field`` is the JSON path of the offending field, a missing one included
    (``messages[0].role``; ``""`` for the instance itself) and ``problem`` says what is wrong
    with it in JSON terms (``required field is missing``, ``expected string, got null``):
    what a 400 names. ``path`` and ``message`` are the validator's own (the object that lacks
    a required field; jsonschema's wording), as ``check`` and ``fuzz`` print them."""

    path: str
    message: str
    field: str = ""
    problem: str = ""

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class Schema:
    """One schema file, compiled for the fast check; the precise explanation (``jsonschema``)
    is built the first time an instance fails."""

    def __init__(self, name: str, document: dict[str, Any]) -> None:
        self.name = name
        self.document = document
        self._fast = jsonschema_rs.validator_for(document)

    @cached_property
    def _precise(self) -> jsonschema.Draft202012Validator:
        import jsonschema

        return jsonschema.Draft202012Validator(document_copy(self.document))

    def is_valid(self, instance: Any) -> bool:
        return self._fast.is_valid(instance)

    def violation(self, instance: Any) -> Violation | None:
        """None when valid, else the best single explanation."""
        if self._fast.is_valid(instance):
            return None
        from jsonschema.exceptions import best_match

        error = best_match(self._precise.iter_errors(instance))
        if error is None:  # the two validators disagree; trust the fast one's verdict
            return Violation("", "invalid", "", "is invalid")
        return _violation(error)

    def violations(self, instance: Any) -> list[Violation]:
        return [_violation(e) for e in self._precise.iter_errors(instance)]

    def errors(self, instance: Any) -> list[jsonschema.ValidationError]:
        """Every error ``jsonschema`` finds in ``instance`` (a document from a file: YAML may
        hold what JSON cannot), asked only when the fast check does not say it is valid. The
        fast check is never the more lenient (it is stricter about NaN and a ``$`` before a
        final newline), so this is always what ``jsonschema`` alone would say."""
        try:
            if self._fast.is_valid(instance):
                return []
        except ValueError:  # not JSON data (a YAML date, bytes, a non-string key): ask jsonschema
            pass
        return list(self._precise.iter_errors(instance))


def document_copy(document: dict[str, Any]) -> dict[str, Any]:
    copy: dict[str, Any] = orjson.loads(orjson.dumps(document))
    return copy


def _violation(error: jsonschema.ValidationError) -> Violation:
    parts, problem = _explain(error)
    return Violation(json_path(error.absolute_path), _message(error), json_path(parts), problem)


def _explain(error: jsonschema.ValidationError) -> tuple[list[Any], str]:
    """The path of the field ``error`` is about and what is wrong with it, in JSON terms."""
    parts = list(error.absolute_path)
    rule = error.validator if isinstance(error.validator, str) else None  # Unset only on hand-made errors
    expected: Any = error.validator_value  # a schema value; never Unset on an error a validator yields
    got: Any = error.instance
    if rule == "type":
        names = expected if isinstance(expected, list) else [expected]
        return parts, f"expected {_either(names)}, got {json_type(got)}"
    if rule == "required":
        missing = [name for name in expected if isinstance(got, dict) and name not in got]
        named = [name for name in missing if error.message.startswith(repr(name))]
        return parts + (named or missing or [""])[:1], "required field is missing"
    schema = error.schema
    if (
        rule in ("additionalProperties", "unevaluatedProperties")
        and expected is False
        and isinstance(got, dict)
        and isinstance(schema, Mapping)
    ):
        allowed = list(schema.get("properties") or ())
        patterns = [re.compile(p) for p in schema.get("patternProperties") or ()]
        extra = [k for k in got if k not in allowed and not any(p.search(k) for p in patterns)]
        if extra:
            return parts + extra[:1], "unknown field" + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if rule in ("anyOf", "oneOf"):
        return _explain_alternatives(error, parts)
    return parts, _problem(rule, expected, got)


def _explain_alternatives(error: jsonschema.ValidationError, parts: list[Any]) -> tuple[list[Any], str]:
    """An ``anyOf``/``oneOf`` nothing matched: the types it accepts, when the value has none
    of them; else the best explanation among the alternatives of the value's type."""
    from jsonschema.exceptions import best_match

    if not error.context:  # oneOf: more than one alternative matched
        return parts, "matches more than one of the accepted forms"
    depth = len(error.absolute_path)
    wrong_type: set[str | int] = set()
    for sub in error.context:
        if sub.validator == "type" and len(sub.absolute_path) == depth:
            wrong_type.add(sub.relative_schema_path[0])
    near = [sub for sub in error.context if sub.relative_schema_path[0] not in wrong_type]
    if near:
        return _explain(best_match(near))
    types: list[str] = []
    alternatives: Any = error.validator_value  # the anyOf/oneOf list; never Unset here
    for branch in alternatives:
        kind = branch.get("type") if isinstance(branch, dict) else None
        for name in kind if isinstance(kind, list) else [kind] if kind else []:
            if name not in types:
                types.append(name)
    if types:
        return parts, f"expected {_either(types)}, got {json_type(error.instance)}"
    return parts, "matches none of the accepted forms"


def _either(names: Sequence[str]) -> str:
    """``["string", "array", "null"]`` → ``string, array or null``."""
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _problem(rule: str | None, expected: Any, got: Any) -> str:
    """What breaks one schema keyword, in JSON terms."""
    value = json_value(got)
    if rule == "enum":
        listed = ", ".join(json_value(v) for v in expected[:_LISTED_VALUES])
        more = ", ..." if len(expected) > _LISTED_VALUES else ""
        return f"expected one of {listed}{more}, got {value}"
    if rule == "const":
        return f"expected {json_value(expected)}, got {value}"
    limits = {
        "minimum": "at least",
        "maximum": "at most",
        "exclusiveMinimum": "greater than",
        "exclusiveMaximum": "less than",
    }
    if rule in limits:
        return f"must be {limits[rule]} {json_value(expected)}, got {value}"
    if rule == "multipleOf":
        return f"must be a multiple of {json_value(expected)}, got {value}"
    sizes = {
        "minLength": ("at least", "character", len),
        "maxLength": ("at most", "character", len),
        "minItems": ("at least", "item", len),
        "maxItems": ("at most", "item", len),
        "minProperties": ("at least", "field", len),
        "maxProperties": ("at most", "field", len),
    }
    if rule in sizes and isinstance(got, str | list | dict):
        bound, unit, size = sizes[rule]
        if rule.startswith("min") and expected == 1:
            return "must not be empty"
        return f"must have {bound} {_count(expected, unit)}, got {size(got)}"
    if rule == "pattern":
        return f"must match the pattern {expected}, got {value}"
    if rule == "uniqueItems":
        return "must not repeat an item"
    if rule == "format":
        return f"must be a valid {expected}, got {value}"
    if rule in (None, "not", "false"):
        return "is not allowed here"
    return f"breaks the schema's {rule} rule"


def _message(error: jsonschema.ValidationError) -> str:
    if error.validator == "required":
        return error.message.replace("is a required property", "is required")
    if error.validator == "additionalProperties":
        return error.message
    message = error.message
    return message if len(message) <= 200 else message[:200] + "..."


class Documents(Mapping[str, dict[str, Any]]):
    """The schema documents of a folder by short name, each file read when first asked for."""

    def __init__(self, folder: Path) -> None:
        self._paths = {p.name[: -len(".schema.json")]: p for p in sorted(folder.glob("*.schema.json"))}
        self._read: dict[str, dict[str, Any]] = {}

    def __getitem__(self, name: str) -> dict[str, Any]:
        document = self._read.get(name)
        if document is None:
            document = self._read[name] = orjson.loads(self._paths[name].read_bytes())
        return document

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)

    def __contains__(self, name: object) -> bool:
        return name in self._paths


class SchemaRegistry:
    """Every ``*.schema.json`` in ``schemas/``, by short name (``chat-request``, ...), read and
    compiled when first asked for (about 1 ms for a request schema)."""

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = folder or schemas_dir()
        self.documents = Documents(self.folder)
        self._compiled: dict[str, Schema] = {}

    def __getitem__(self, name: str) -> Schema:
        compiled = self._compiled.get(name)
        if compiled is None:
            compiled = self._compiled[name] = Schema(name, self.documents[name])
        return compiled

    def names(self) -> list[str]:
        return list(self.documents)

    def for_dialect(self, kind: str, dialect: str) -> Schema:
        """The ``kind`` schema of a dialect family (``chat-response.openrouter``), else the one
        ``kind`` schema every dialect shares (``messages-error``), else, for a surface's errors
        (``responses-error``), the dialect's own envelope (``error.anyrouter``)."""
        for name in (f"{kind}.{dialect}", kind):
            if name in self.documents:
                return self[name]
        if kind.endswith("-error"):
            return self[f"error.{dialect}"]
        raise KeyError(kind)
