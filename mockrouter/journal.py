"""Journal entries: what a request looked like and what was answered, minus secrets."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

#: Headers whose values never reach the journal.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "x-mockrouter-admin-token", "proxy-authorization"})
REDACTED = "[REDACTED]"
#: Entry fields kept for the server's own use and never shown.
PRIVATE = ("_key",)


def redact(headers: dict[str, str]) -> dict[str, str]:
    return {k: (REDACTED if k in SECRET_HEADERS else v) for k, v in headers.items()}


def new_entry(
    entry_id: str, method: str, path: str, query: str, headers: dict[str, str], key: str | None, dialect: str
) -> dict[str, Any]:
    return {
        "id": entry_id,
        "ts": time.time(),
        "method": method,
        "path": path,
        "query": query,
        "headers": redact(headers),
        "key_hint": key[-4:] if key else None,
        "dialect": dialect,
        "body": None,
        "scenario": None,
        "step": None,
        "selected_by": None,
        "status": None,
        "stream": False,
        "fault": None,
        "error": None,
        "ttft_ms": None,
        "duration_ms": None,
        "bytes_sent": 0,
        "chunks_sent": 0,
        "client_disconnected": False,
        "disconnected_after_ms": None,
        "unmatched": False,
        "near_misses": None,
        "generation_id": None,
        "expected": None,
        "_key": key,
    }


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as the admin API shows it (``time`` is derived here, off the hot path)."""
    out = {"id": entry["id"], "time": iso_time(entry["ts"])}
    out.update((k, v) for k, v in entry.items() if k not in PRIVATE)
    return out


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
