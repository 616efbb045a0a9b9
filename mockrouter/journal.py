"""Journal entries: what a request looked like and what was answered, minus secrets."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import orjson

#: The request header that marks fuzz traffic (``mockrouter fuzz`` sends ``X-Mockrouter-Fuzz: 1``
#: with every request); the resilience report leaves such requests out unless asked.
FUZZ_HEADER = "x-mockrouter-fuzz"
#: A request body larger than this (in bytes, as JSON text) is cut in journal listings
#: (``listed``); ``GET /__mockrouter/requests/{id}`` shows it whole.
LIST_BODY_CAP = 16 * 1024
#: Headers whose values never reach the journal.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "x-mockrouter-admin-token", "proxy-authorization"})
REDACTED = "[REDACTED]"
#: Why entries are stored packed: the garbage collector's full collections walk every container
#: it tracks, and a dict stays tracked while any of its values is a dict or a list. A full
#: journal of plain entries (10,000 of them, each holding a parsed body, headers, usage...)
#: made every full collection stall all requests for 10-40 ms, which was the server's p99.
#: So a journaled entry holds only strings, numbers and bytes: the request body a client sent
#: as its own bytes (``RAW_BODY``), and the container fields below as JSON bytes; the collector
#: then stops tracking the entry. ``unpack`` restores them when the journal is read.
RAW_BODY = "_raw_body"
#: The request headers as the server got them (ASGI's name/value byte pairs, in a tuple); an
#: entry shows them decoded and redacted (``headers``), made when the journal is read.
RAW_HEADERS = "_raw_headers"
PACKED = ("headers", "expected", "usage", "near_misses", "models_tried")
#: Durations are written as measured and shown rounded to the microsecond (``unpack``).
TIMINGS = ("ttft_ms", "duration_ms", "disconnected_after_ms")
#: Entry fields kept for the server's own use and never shown.
PRIVATE = ("_key", RAW_BODY, RAW_HEADERS)


def redact(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with every secret value replaced."""
    out = dict(headers)
    for name in SECRET_HEADERS.intersection(out):
        out[name] = REDACTED
    return out


#: Every field an entry shows; a request sets only those that apply (cheap on the hot path).
DEFAULTS: dict[str, Any] = {
    "body": None,
    "scenario": None,
    "step": None,
    "selected_by": None,
    "status": None,
    "stream": False,
    "fault": None,
    "error": None,
    "retry_after_s": None,
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
    "model": None,
    "provider": None,
    "finish_reason": None,
    "usage": None,
    "fuzz_seed": None,
    "body_cut": None,
}


def new_entry(
    entry_id: str,
    method: str,
    path: str,
    query: str,
    raw_headers: tuple[tuple[bytes, bytes], ...],
    key: str | None,
    dialect: str,
) -> dict[str, Any]:
    """A request's entry; its headers are kept as sent and redacted when read (``unpack``)."""
    return {
        "id": entry_id,
        "ts": time.time(),
        "method": method,
        "path": path,
        "query": query,
        RAW_HEADERS: raw_headers,
        "key_hint": key[-4:] if key else None,
        "dialect": dialect,
        "_key": key,
    }


def shown_headers(raw_headers: tuple[tuple[bytes, bytes], ...]) -> dict[str, str]:
    """Request headers as an entry shows them: decoded (latin-1, as HTTP/1.1 defines them), secrets redacted."""
    return redact({k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers})


def pack(entry: dict[str, Any]) -> None:
    """Turn ``entry``'s container fields into JSON bytes, in place (see ``PACKED``)."""
    for name in PACKED:
        value = entry.get(name)
        if value is not None and type(value) is not bytes:  # bytes: packed by its writer
            # A copy of exact size: orjson's bytes keep its 4 KiB write buffer (seen with orjson
            # 3.13), which made every journaled entry cost 12 KiB more.
            entry[name] = bytes(memoryview(orjson.dumps(value)))


def unpack(entry: dict[str, Any]) -> dict[str, Any]:
    """A copy of a packed entry with its container fields back (the request body stays raw)."""
    out = dict(entry)
    for name in PACKED:
        value = out.get(name)
        if value is not None:
            out[name] = orjson.loads(value)
    raw_headers = out.pop(RAW_HEADERS, None)
    if raw_headers is not None:
        out["headers"] = shown_headers(raw_headers)
    for name in TIMINGS:
        value = out.get(name)
        if value is not None:
            out[name] = round(value, 3)
    return out


def request_body(entry: dict[str, Any]) -> Any:
    """The request body as the client sent it: parsed JSON, the text of a body that was not JSON, or None."""
    if "body" in entry:
        return entry["body"]
    raw = entry.get(RAW_BODY)
    return None if raw is None else orjson.loads(raw)


def public(entry: dict[str, Any]) -> dict[str, Any]:
    """The entry as the admin API shows it (``time``, body and defaults filled in here, off the hot path)."""
    out = {"id": entry["id"], "time": iso_time(entry["ts"])}
    out.update((k, v) for k, v in entry.items() if k not in PRIVATE)
    if RAW_BODY in entry:
        out["body"] = request_body(entry)
    for k, v in DEFAULTS.items():
        out.setdefault(k, v)
    return out


def is_fuzz(entry: dict[str, Any]) -> bool:
    """Whether an (unpacked) entry is a request of ``mockrouter fuzz`` (it sent ``FUZZ_HEADER``)."""
    return FUZZ_HEADER in entry.get("headers", ())


def listed(entry: dict[str, Any], cap: int = LIST_BODY_CAP) -> dict[str, Any]:
    """The entry as a journal listing shows it: :func:`public`, except that a body larger than
    ``cap`` bytes (as JSON text) is shown as the first ``cap`` bytes of that text (cut at a
    character boundary) with ``body_cut: {"bytes", "shown", "full"}``: its whole size, the size
    shown, and where to read it whole. The body of a packed entry is measured before it is parsed,
    so a listing never parses a large one."""
    raw = entry.get(RAW_BODY)
    if raw is None:
        body = entry.get("body")
        raw = body.encode() if isinstance(body, str) else _json_text(body)
    if raw is None or len(raw) <= cap:
        return public(entry)
    out = public({k: v for k, v in entry.items() if k != RAW_BODY})
    shown = bytes(raw[:cap]).decode("utf-8", errors="ignore")
    out["body"] = shown
    out["body_cut"] = {"bytes": len(raw), "shown": len(shown.encode()), "full": f"/__mockrouter/requests/{entry['id']}"}
    return out


def _json_text(value: Any) -> bytes | None:
    """``value`` as JSON text, or None when it is too deep for orjson to write (shown clipped elsewhere)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value)
    except TypeError:
        return None


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
