"""Deterministic example instances of a JSON Schema (tool arguments, ``json_schema_instance``).

Small on purpose: it covers the schema shapes that tool ``parameters`` and structured-output
schemas use in practice (objects, arrays, enums, consts, scalars with bounds, ``anyOf``/
``oneOf``/``allOf``, local ``$ref``). Given the same schema and the same ``random.Random``
state it returns the same instance.
"""

from __future__ import annotations

import random
from typing import Any

_WORDS = ("Paris", "Tokyo", "alpha", "blue", "river", "Lima", "seven", "quiet", "delta", "Oslo")
_MAX_DEPTH = 8
_FORMATS = {
    "uuid": "123e4567-e89b-12d3-a456-426614174000",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "hostname": "example.com",
    "time": "12:00:00Z",
    "duration": "P1D",
    "uri-reference": "/example",
}


def _from_pattern(pattern: str, rng: random.Random) -> str | None:
    """A string matching ``pattern``, drawn (seeded) from hypothesis's ``from_regex``; None when
    the pattern is not one Python's ``re`` reads."""
    from hypothesis import strategies as st  # hypothesis is a dependency; imported when a pattern needs it

    from ..fuzz import draw

    try:
        drawn: str = draw(st.from_regex(pattern, fullmatch=True), rng.getrandbits(32))
        return drawn
    except Exception:  # an invalid or unsupported regex: fall back to plain words
        return None


def example(schema: Any, rng: random.Random | None = None) -> Any:
    """An instance of ``schema`` (best effort for exotic keywords; never raises)."""
    rng = rng or random.Random(0)
    root = schema if isinstance(schema, dict) else {}
    return _example(root, root, rng, 0)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    seen = 0
    while isinstance(ref, str) and ref.startswith("#/") and seen < 16:
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
        schema = target if isinstance(target, dict) else {}
        ref = schema.get("$ref")
        seen += 1
    return schema


def _example(schema: dict[str, Any], root: dict[str, Any], rng: random.Random, depth: int) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return rng.choice(schema["enum"])
    if "examples" in schema and isinstance(schema["examples"], list) and schema["examples"]:
        return schema["examples"][0]
    if "default" in schema:
        return schema["default"]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            return _example(options[0] if isinstance(options[0], dict) else {}, root, rng, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part, root) if isinstance(part, dict) else {}
            for k, v in part.items():
                if k in ("properties",) and isinstance(v, dict):
                    merged.setdefault("properties", {}).update(v)
                elif k == "required" and isinstance(v, list):
                    merged["required"] = list(merged.get("required", [])) + v
                else:
                    merged.setdefault(k, v)
        return _example(merged, root, rng, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), kind[0] if kind else None)
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if depth > _MAX_DEPTH:
        return None if kind not in ("object", "array") else ({} if kind == "object" else [])
    if kind == "object":
        properties = schema.get("properties")
        props: dict[str, Any] = properties if isinstance(properties, dict) else {}
        required = [r for r in schema.get("required", []) if isinstance(r, str)]
        names = list(props) if len(props) <= 8 else required or list(props)[:8]
        out = {}
        for name in names:
            sub = props.get(name)
            out[name] = _example(sub if isinstance(sub, dict) else {}, root, rng, depth + 1)
        for name in required:
            if name not in out:
                out[name] = _example({}, root, rng, depth + 1)
        return out
    if kind == "array":
        item_schema = schema.get("items")
        items: dict[str, Any] = item_schema if isinstance(item_schema, dict) else {}
        count = max(int(schema.get("minItems", 1) or 0), 1)
        count = min(count, int(schema.get("maxItems", count)), 8)
        return [_example(items, root, rng, depth + 1) for _ in range(count)]
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + (1 if "exclusiveMinimum" in schema else 0))
        high = schema.get("maximum", low + 100)
        return rng.randint(int(low), max(int(low), int(high)))
    if kind == "number":
        low = float(schema.get("minimum", 0))
        high = float(schema.get("maximum", low + 100))
        return round(rng.uniform(low, max(low, high)), 2)
    if kind == "boolean":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if isinstance(schema.get("pattern"), str):
        matched = _from_pattern(schema["pattern"], rng)
        if matched is not None:
            return matched
    text = rng.choice(_WORDS)
    low = int(schema.get("minLength", 0) or 0)
    while len(text) < low:
        text += " " + rng.choice(_WORDS)
    if "maxLength" in schema:
        text = text[: max(int(schema["maxLength"]), 0)]
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    if fmt == "date":
        return "2026-01-15"
    if fmt == "date-time":
        return "2026-01-15T12:00:00Z"
    if fmt == "email":
        return "user@example.com"
    if fmt in ("uri", "url"):
        return "https://example.com/"
    return text
