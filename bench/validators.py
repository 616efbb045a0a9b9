"""Request validation cost: jsonschema vs jsonschema-rs vs fastjsonschema on our request schema.

Validates a typical SDK request (valid) and an invalid one, and prints µs per call. The
chosen design (see ``mockrouter/schemas.py``): jsonschema-rs for the yes/no on every
request, jsonschema's ``best_match`` only to explain a failure with its JSON path.

    python bench/validators.py
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path

import jsonschema
import jsonschema_rs

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = json.loads((ROOT / "schemas" / "chat-request.schema.json").read_text())
VALID = {
    "model": "openai/gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What's the weather?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "22C"},
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}],
    "temperature": 0.7,
    "stream": True,
    "stream_options": {"include_usage": True},
}
INVALID = {**VALID, "messages": [*VALID["messages"][:1], {"role": "robot", "content": "x"}]}


def timed(fn, n: int = 20000) -> float:
    n = max(n, 10)
    fn()
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return best


def measure(scale: float = 1.0) -> list[tuple[str, float, float]]:
    """(validator, µs for a valid request, µs for an invalid one); ``scale`` shortens the loops."""
    rows = []
    precise = jsonschema.Draft202012Validator(SCHEMA)
    rows.append(
        (
            "jsonschema (is_valid)",
            timed(lambda: precise.is_valid(VALID), max(int(2000 * scale), 10)),
            timed(lambda: precise.is_valid(INVALID), max(int(2000 * scale), 10)),
        )
    )
    rows.append(
        (
            "jsonschema (best_match path)",
            float("nan"),
            timed(lambda: jsonschema.exceptions.best_match(precise.iter_errors(INVALID)), max(int(2000 * scale), 10)),
        )
    )
    fast = jsonschema_rs.validator_for(SCHEMA)
    rows.append(
        (
            "jsonschema-rs (is_valid)",
            timed(lambda: fast.is_valid(VALID), int(20000 * scale)),
            timed(lambda: fast.is_valid(INVALID), int(20000 * scale)),
        )
    )
    try:
        import fastjsonschema

        compiled = fastjsonschema.compile(SCHEMA)

        def fjs(instance: dict) -> None:
            with contextlib.suppress(fastjsonschema.JsonSchemaException):
                compiled(instance)

        rows.append(
            (
                "fastjsonschema",
                timed(lambda: fjs(VALID), int(20000 * scale)),
                timed(lambda: fjs(INVALID), int(20000 * scale)),
            )
        )
    except Exception as exc:
        print(f"fastjsonschema unavailable: {exc}", file=sys.stderr)
    return rows


def main() -> None:
    rows = measure()
    print(f"{'validator':32s} {'valid µs':>9s} {'invalid µs':>11s}")
    for name, ok, bad in rows:
        print(f"{name:32s} {ok:9.1f} {bad:11.1f}")


if __name__ == "__main__":
    main()
