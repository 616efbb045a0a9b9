"""The request journal: one typed entry per request, kept in a bounded store.

A request's :class:`JournalEntry` is filled in by the HTTP layer as the answer is made
(a slotted dataclass: attribute writes, no string keys), and handed to :meth:`Journal.add`
when the request ends. The journal then *packs* it: the fields that hold containers
(``expected``, ``usage``, ``near_misses``, ``models_tried``) become JSON bytes, the request
body stays the bytes the client sent, and the headers stay ASGI's byte pairs.

Why pack: the garbage collector's full collections walk every container it tracks. A full
journal of plain entries (10,000 of them, each holding a parsed body, headers, usage...) made
every full collection stall all requests for 10-40 ms, which was the server's p99. A packed
entry holds only strings, numbers and bytes, so each is one small object for the collector.
Readers get unpacked copies, as JSON-ready dicts (:meth:`JournalEntry.public`).
"""

from __future__ import annotations

import asyncio
import itertools
import operator
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = [
    "FUZZ_HEADER",
    "LIST_BODY_CAP",
    "REDACTED",
    "SECRET_HEADERS",
    "Journal",
    "JournalEntry",
    "Page",
    "Where",
    "decode_entry",
    "encode_entry",
    "is_fuzz",
    "iso_time",
    "packed",
    "redact",
    "shown_headers",
]

#: The request header that marks fuzz traffic (``mockrouter fuzz`` sends ``X-Mockrouter-Fuzz: 1``
#: with every request); the resilience report leaves such requests out unless asked.
FUZZ_HEADER = "x-mockrouter-fuzz"
#: A request body larger than this (in bytes, as JSON text) is cut in journal listings
#: (``JournalEntry.listed``); ``GET /__mockrouter/requests/{id}`` shows it whole.
LIST_BODY_CAP = 16 * 1024
#: Headers whose values never reach the journal.
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "x-mockrouter-admin-token", "proxy-authorization"})
REDACTED = "[REDACTED]"
#: Entry fields that hold containers, stored as JSON bytes (see the module docstring).
PACKED = ("expected", "usage", "near_misses", "models_tried", "timeline")
#: Durations are written as measured and shown rounded to the microsecond.
TIMINGS = ("ttft_ms", "duration_ms", "disconnected_after_ms", "fault_at_ms")
#: Shown only when set (most requests never set them).
OPTIONAL = ("native_finish_reason", "models_tried", "api_type", "test", "timeline", "fault_at_ms", "fault_after_chunks")
#: How much of an answer's body the journal keeps (the inspector shows it; ``answer_cut`` says when cut).
ANSWER_CAP = 16 * 1024
#: The unset value of ``body``: the request had a JSON object body (kept as ``raw_body``).
_UNSET: Any = type("_Unset", (), {"__repr__": lambda self: "<unset>"})()


@dataclass(slots=True, eq=False)
class JournalEntry:
    """What one request looked like and what was answered, minus secrets."""

    id: str
    method: str
    path: str
    query: str
    #: The request headers as the server got them (ASGI's byte pairs); shown decoded and
    #: redacted (:func:`shown_headers`), made when the journal is read.
    raw_headers: Sequence[tuple[bytes, bytes]]
    #: The raw API key (never shown: ``key_hint`` is).
    key: str | None
    dialect: str
    ts: float = field(default_factory=time.time)
    #: The last 4 characters of the key (what the admin API shows of it).
    key_hint: str | None = None
    #: The request body as the client sent it, when it was a JSON object.
    raw_body: bytes | None = None
    #: A body that was not a JSON object: its text (or the parsed non-object value).
    body: Any = _UNSET
    #: Headers as shown, when the raw ones were too large to keep (a 431).
    headers: dict[str, str] | None = None
    scenario: str | None = None
    step: int | None = None
    selected_by: str | None = None
    status: int | None = None
    #: The request's ``X-Mockrouter-Test`` (tests sharing a key and a server each see their own).
    test: str | None = None
    #: The API surface an engine route answered on (``chat``, ``text``, ``messages``,
    #: ``responses``); None for other routes.
    surface: str | None = None
    stream: bool = False
    fault: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    ttft_ms: float | None = None
    duration_ms: float | None = None
    bytes_sent: int = 0
    chunks_sent: int = 0
    client_disconnected: bool = False
    disconnected_after_ms: float | None = None
    unmatched: bool = False
    near_misses: Any = None
    generation_id: str | None = None
    expected: Any = None
    model: str | None = None
    provider: str | None = None
    finish_reason: str | None = None
    native_finish_reason: str | None = None
    usage: Any = None
    fuzz_seed: int | None = None
    models_tried: Any = None
    api_type: str | None = None
    #: The response body as sent (its first ``ANSWER_CAP`` bytes), and its writes as
    #: ``[ms since the request began, bytes, chunks sent so far]`` (the inspector's timeline;
    #: kept packed and flat, three numbers per write, by the writer).
    answer: bytes | None = None
    #: Instead of ``answer``, what makes the whole body again from the request body (a paced
    #: stream's, without a fault: the same bytes each time, so the stream need not keep the
    #: parsed request while it is open); shown cut at ``bytes_sent`` and ``ANSWER_CAP``.
    answer_from: Callable[[Any], bytes] | None = None
    timeline: Any = None
    fault_at_ms: float | None = None
    fault_after_chunks: int | None = None

    def keep_answer(self, pieces: list[bytes], total: int) -> None:
        """Keep the first ``ANSWER_CAP`` bytes of what was sent (``pieces``, ``total`` bytes in all)."""
        if not pieces:
            return
        body = pieces[0] if len(pieces) == 1 else b"".join(pieces[: _enough(pieces)])
        self.answer = body if len(body) <= ANSWER_CAP else body[:ANSWER_CAP]
        if total > len(self.answer):
            self.answer_cut = True

    answer_cut: bool = False

    def sent_answer(self) -> bytes | None:
        """The first ``ANSWER_CAP`` bytes of the answer as sent: kept, or made again."""
        if self.answer is not None or self.answer_from is None:
            return self.answer
        return self.answer_from(self.request_body())[: min(self.bytes_sent, ANSWER_CAP)]

    def finish(self, started: float) -> None:
        """Record the request's duration (from ``started``, a ``time.perf_counter()`` reading)."""
        self.duration_ms = (time.perf_counter() - started) * 1000

    def request_body(self) -> Any:
        """The request body as the client sent it: parsed JSON, the text of a body that was
        not JSON, or None."""
        if self.body is not _UNSET:
            return self.body
        return None if self.raw_body is None else orjson.loads(self.raw_body)

    def public(self) -> dict[str, Any]:
        """The entry as the admin API shows it: containers unpacked, headers redacted,
        durations rounded, ``time`` in ISO 8601."""
        out: dict[str, Any] = {"id": self.id, "time": iso_time(self.ts)}
        for name in _SHOWN:
            value = getattr(self, name)
            if name in PACKED and type(value) is bytes:
                value = orjson.loads(value)
                if name == "timeline":  # kept flat (ms, bytes, chunks, ms, ...): shown as one list per write
                    flat = value
                    value = [[round(flat[i], 3), int(flat[i + 1]), int(flat[i + 2])] for i in range(0, len(flat), 3)]
            elif name in TIMINGS and value is not None:
                value = round(value, 3)
            if value is None and name in OPTIONAL:
                continue
            out[name] = value
        out["headers"] = self.headers if self.headers is not None else shown_headers(self.raw_headers)
        out["body"] = self.request_body()
        out["body_cut"] = None
        answer = self.sent_answer()
        out["answer"] = None if answer is None else answer.decode("utf-8", errors="replace")
        if self.timeline is None and self.answer is not None:  # one write: when it ended, all of it
            at = self.ttft_ms if self.ttft_ms is not None else self.duration_ms
            out["timeline"] = [[round(at or 0.0, 3), self.bytes_sent, self.chunks_sent]]
        return out

    def listed(self, cap: int = LIST_BODY_CAP) -> dict[str, Any]:
        """The entry as a journal listing shows it: :meth:`public`, except that a body larger
        than ``cap`` bytes (as JSON text) is shown as the first ``cap`` bytes of that text (cut
        at a character boundary) with ``body_cut: {"bytes", "shown", "full"}``: its whole size,
        the size shown, and where to read it whole. A body the client sent as JSON is measured
        before it is parsed, so a listing never parses a large one."""
        raw = self.raw_body
        if self.answer is not None or self.timeline is not None:  # the detail shows them
            return replace(self, answer=None, answer_from=None, timeline=None).listed(cap)
        if raw is None and self.body is not _UNSET:
            raw = self.body.encode() if isinstance(self.body, str) else _json_text(self.body)
        if raw is None or len(raw) <= cap:
            return self.public()
        out = replace(self, raw_body=None, body=None).public()
        shown = raw[:cap].decode("utf-8", errors="ignore")
        out["body"] = shown
        out["body_cut"] = {"bytes": len(raw), "shown": len(shown.encode()), "full": f"/__mockrouter/requests/{self.id}"}
        return out


def _enough(pieces: list[bytes]) -> int:
    """How many of ``pieces`` hold the first ``ANSWER_CAP`` bytes."""
    size = 0
    for n, piece in enumerate(pieces, 1):
        size += len(piece)
        if size >= ANSWER_CAP:
            return n
    return len(pieces)


def _json_text(value: Any) -> bytes | None:
    """``value`` as JSON text, or None when it is too deep for orjson to write (shown clipped elsewhere)."""
    if value is None:
        return None
    try:
        return orjson.dumps(value)
    except TypeError:
        return None


def is_fuzz(entry: dict[str, Any]) -> bool:
    """Whether a (``public``) entry is a request of ``mockrouter fuzz`` (it sent ``FUZZ_HEADER``)."""
    return FUZZ_HEADER in entry.get("headers", ())


#: Fields ``public`` shows as they are (``headers`` and ``body`` are made from the raw ones).
_SHOWN = tuple(
    f.name
    for f in fields(JournalEntry)
    if f.name not in ("id", "raw_headers", "key", "raw_body", "body", "headers", "answer", "answer_from")
)


def _pack(entry: JournalEntry) -> None:
    """Turn ``entry``'s container fields (``PACKED``) into JSON bytes, in place; a field already
    packed by its writer (bytes) stays as it is."""
    if entry.expected is not None and type(entry.expected) is not bytes:
        entry.expected = packed(entry.expected)
    if entry.usage is not None and type(entry.usage) is not bytes:
        entry.usage = packed(entry.usage)
    if entry.near_misses is not None and type(entry.near_misses) is not bytes:
        entry.near_misses = packed(entry.near_misses)
    if entry.models_tried is not None and type(entry.models_tried) is not bytes:
        entry.models_tried = packed(entry.models_tried)
    if entry.timeline is not None and type(entry.timeline) is not bytes:
        entry.timeline = packed(entry.timeline)


def packed(value: Any) -> bytes:
    """``value`` as the journal stores a container field (for writers that pack once and reuse).

    A copy of exact size: orjson's bytes keep its 4 KiB write buffer (seen with orjson 3.13),
    which made every journaled entry cost 12 KiB more."""
    return bytes(memoryview(orjson.dumps(value)))


@dataclass(slots=True)
class Page:
    """A page of journal entries (oldest first) and the cursors around it: ``previous`` (pass it
    as ``before``) and ``next`` (pass it as ``since``), None when nothing lies that way."""

    entries: list[JournalEntry]
    previous: str | None
    next: str | None


#: A test of one stored entry (its container fields may be packed: test scalar fields).
Where = Callable[[JournalEntry], bool]


class Journal:
    """The request journal: a bounded store, oldest entries dropped (and counted) first.

    Readers get JSON-ready dicts (``query``, ``get``, ``page``, ``by_key``); ``where`` tests see the
    stored entries, so a reader filters before it pays for unpacking."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._entries: deque[JournalEntry] = deque(maxlen=size)
        self._by_id: dict[str, JournalEntry] = {}
        self._ids = itertools.count(1)
        self.dropped = 0
        self._changed = asyncio.Event()
        self.watchers = 0

    def next_id(self) -> str:
        return "req_" + str(next(self._ids)).zfill(8)  # f"{n:08d}" parses its format spec each time

    def add(self, entry: JournalEntry) -> None:
        """Keep ``entry`` (packed in place: the caller must not use it afterwards)."""
        _pack(entry)
        if len(self._entries) == self.size:
            old = self._entries[0]
            self._by_id.pop(old.id, None)
            self.dropped += 1
        self._entries.append(entry)
        self._by_id[entry.id] = entry
        if self.watchers:  # only a waiting admin call pays for the event
            self._wake()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def changed(self) -> asyncio.Event:
        """An event set at the next ``add``; count yourself in ``watchers`` while waiting on it."""
        return self._changed

    def _matching(self, key: str | None, where: Where | None, test: str | None = None) -> Iterator[JournalEntry]:
        """Stored entries of ``key`` (and ``test``) for which ``where`` holds, oldest first."""
        return (
            e
            for e in self._entries
            if (key is None or e.key == key) and (test is None or e.test == test) and (where is None or where(e))
        )

    def count(self, key: str | None = None, where: Where | None = None, test: str | None = None) -> int:
        """Entries (of ``key``, of ``test``); with ``where``, those it holds for."""
        if key is None and where is None and test is None:
            return len(self._entries)
        return sum(1 for _ in self._matching(key, where, test))

    def last_time(self, key: str, where: Where | None = None) -> float | None:
        """When the newest entry of ``key`` (that ``where`` holds for) started: its ``ts``, or None."""
        return max((e.ts for e in self._matching(key, where)), default=None)

    def get(self, entry_id: str) -> dict[str, Any] | None:
        entry = self._by_id.get(entry_id)
        return None if entry is None else entry.public()

    def __len__(self) -> int:
        return len(self._entries)

    def newest_id(self) -> str | None:
        """The newest entry's id, or None for an empty journal."""
        return self._entries[-1].id if self._entries else None

    def newest(self) -> float | None:
        """When the newest entry's request started (its ``ts``), or None for an empty journal."""
        return self._entries[-1].ts if self._entries else None

    def __contains__(self, entry_id: object) -> bool:
        return entry_id in self._by_id

    def query(
        self,
        *,
        key: str | None = None,
        scenario: str | None = None,
        unmatched: bool = False,
        where: Where | None = None,
        limit: int | None = None,
    ) -> list[dict[str, Any]]:
        """Entries (as ``public`` dicts) oldest first; with ``limit``, the newest ``limit`` of them."""
        found = [
            e
            for e in self._matching(key, where)
            if (scenario is None or e.scenario == scenario) and (not unmatched or e.unmatched)
        ]
        if limit is not None:
            found = found[-limit:] if limit > 0 else []
        return [e.public() for e in found]

    def page(
        self,
        *,
        key: str | None = None,
        scenario: str | None = None,
        unmatched: bool = False,
        since: str | None = None,
        before: str | None = None,
        limit: int,
        surface: str | None = None,
        test: str | None = None,
        status: tuple[int, int] | None = None,
    ) -> Page:
        """One page of the entries that ``query`` would list, oldest first.

        ``since=ID``: the oldest ``limit`` entries journaled after entry ID (``"0"``: from the
        oldest); ``before=ID``: the newest ``limit`` journaled before it; neither: the newest
        ``limit``; ``surface`` keeps one API surface's answers, ``test`` one test's requests,
        ``status`` the answers with a status in that range (both ends included). The journal's order is the
        order requests ended in, so the cursor is the entry's place in it, not the number in
        its id. An id no longer in the journal (dropped
        or reset) counts as older than every entry kept."""
        cursor = since if since is not None else before
        target = None if cursor is None else self._by_id.get(cursor)
        found: list[JournalEntry] = []
        split = 0  # matching entries journaled before the cursor's entry
        for e in self._entries:
            if e is target:
                split = len(found)
            if (
                (key is None or e.key == key)
                and (scenario is None or e.scenario == scenario)
                and (not unmatched or e.unmatched)
                and (surface is None or e.surface == surface)
                and (test is None or e.test == test)
                and (status is None or (e.status is not None and status[0] <= e.status <= status[1]))
            ):
                found.append(e)
        if since is not None:
            begin = split + (target is not None and split < len(found) and found[split] is target)
            end = min(begin + limit, len(found))
        else:
            end = len(found) if before is None else split
            begin = max(end - limit, 0)
        entries = found[begin:end]
        return Page(
            entries,
            previous=entries[0].id if entries and begin > 0 else None,
            next=entries[-1].id if entries and end < len(found) else None,
        )

    def by_key(self, key: str | None = None, test: str | None = None) -> dict[str, list[dict[str, Any]]]:
        """Entries (as ``public`` dicts) per raw API key, keys in order of first request (only
        ``key``'s, or ``test``'s, if given); requests without a key are left out."""
        out: dict[str, list[dict[str, Any]]] = {}
        for e in self._matching(key, None, test):
            if e.key is not None:
                out.setdefault(e.key, []).append(e.public())
        return out

    def clear(self, key: str | None = None, test: str | None = None) -> None:
        """Forget every entry, or those of ``key``, or those of ``test``."""
        self._wake()  # readers waiting for news see the entries go
        if key is None and test is None:
            self._entries.clear()
            self._by_id.clear()
            return
        if test is None:
            kept = [e for e in self._entries if e.key != key]
        else:
            kept = [e for e in self._entries if e.test != test]
        self._entries = deque(kept, maxlen=self.size)
        self._by_id = {e.id: e for e in kept}


def redact(headers: dict[str, str]) -> dict[str, str]:
    """A copy of ``headers`` with every secret value replaced."""
    out = dict(headers)
    for name in SECRET_HEADERS.intersection(out):
        out[name] = REDACTED
    return out


def shown_headers(raw_headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    """Request headers as an entry shows them: decoded (latin-1, as HTTP/1.1 defines them), secrets redacted."""
    return redact({k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers})


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- entries as bytes (a shared store's journal) ---------------------------------------------

#: Fields written as they are (strings, numbers, booleans, None), in this order.
_PLAIN = tuple(
    f.name
    for f in fields(JournalEntry)
    if f.name not in (*PACKED, "raw_headers", "raw_body", "body", "answer", "answer_from")
)
_plain_values = operator.attrgetter(*_PLAIN)
_packed_values = operator.attrgetter(*PACKED)
_NO_BODY = object()


def encode_entry(entry: JournalEntry) -> bytes:
    """``entry`` as JSON bytes (its container fields packed first, as :meth:`Journal.add` keeps
    them): a list, not an object, read back by position (every process sharing a store runs the
    same version). Headers are one Latin-1 text (``name:value`` lines: HTTP allows no newline in
    a value), packed fields and the client's body go in as the JSON they already are."""
    _pack(entry)
    packed_fields = [None if v is None else orjson.Fragment(v) for v in _packed_values(entry)]
    headers = b"\n".join(k + b":" + v for k, v in entry.raw_headers).decode("latin-1")
    raw_body = None if entry.raw_body is None else entry.raw_body.decode("utf-8")  # it parsed as JSON
    body = entry.body if entry.body is not _UNSET else _NO_BODY
    sent = entry.sent_answer()
    answer = None if sent is None else sent.decode("latin-1")  # any bytes, exactly
    return orjson.dumps(
        (
            _plain_values(entry),
            packed_fields,
            headers,
            raw_body,
            body is not _NO_BODY,
            None if body is _NO_BODY else body,
            answer,
        )
    )


def decode_entry(data: bytes) -> JournalEntry:
    """The entry :func:`encode_entry` wrote (packed, as a journal keeps it)."""
    plain, packed_fields, headers, raw_body, has_body, body, answer = orjson.loads(data)
    entry = JournalEntry("", "", "", "", (), None, "")
    for name, value in zip(_PLAIN, plain, strict=True):
        setattr(entry, name, value)
    for name, value in zip(PACKED, packed_fields, strict=True):
        if value is not None:
            setattr(entry, name, packed(value))
    if headers:
        entry.raw_headers = tuple(tuple(line.encode("latin-1").split(b":", 1)) for line in headers.split("\n"))
    if raw_body is not None:
        entry.raw_body = raw_body.encode()
    if has_body:
        entry.body = body
    if answer is not None:
        entry.answer = answer.encode("latin-1")
    return entry
